"""The outbox: every message a customer should see is delivered on their channel, retried, or fails loudly."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone

from conversations import delivery
from conversations.models import Delivery, Message
from conversations.services import record_reply
from handoff.models import Signal
from tests.builders import connect_chat, eventually, receive_until, say, start_chat
from tests.fakes.twilio_server import Failure, FakeTwilio
from tests.staff import make_staff
from tests.twilio.helpers import sms_params, twilio_post

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_ai_reply_reaches_the_socket_through_its_delivery(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    frames = await say(chat, "Is shipping free?", "c-1")
    reply = frames[-1]
    assert reply["role"] == "ai"
    assert await chat.receive_nothing(timeout=0.3), "the message frame comes once"
    sent = await database_sync_to_async(lambda: list(Delivery.objects.values_list("message_id", "channel")))()
    assert [(str(m), c) for m, c in sent] == [(reply["message_id"], "webchat")]
    assert await delivery_status((await database_sync_to_async(Delivery.objects.get)()).pk) == "sent"
    await chat.disconnect()


async def test_a_reply_published_while_redis_fails_arrives_when_the_outbox_retries(
    offline_use_case, monkeypatch
):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    layer = get_channel_layer()
    real_group_send = layer.group_send
    failing = {"on": True}

    async def flaky_group_send(group, message):
        if (
            failing["on"]
            and message["type"] == "conversation.message_created"
            and group.startswith("conversation.")
        ):
            raise ConnectionError("Redis is restarting")
        return await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", flaky_group_send)
    message = await database_sync_to_async(record_reply)(
        conversation_id=session["conversation_id"], role="agent", text="Your parcel left today."
    )
    assert await chat.receive_nothing(timeout=0.5)
    pending = await database_sync_to_async(Delivery.objects.get)(message=message)
    assert pending.status == "pending" and "channel layer" in pending.last_error

    failing["on"] = False
    later = timezone.now() + timedelta(seconds=delivery.FIRST_RETRY_SECONDS + 1)
    assert await database_sync_to_async(delivery.retry_due_deliveries)(now=later) == 1
    frames = await receive_until(chat, "message")
    assert (frames[-1]["message_id"], frames[-1]["text"]) == (str(message.id), "Your parcel left today.")
    assert await delivery_status(pending.pk) == "sent"
    await chat.disconnect()


async def delivery_status(delivery_id: int) -> str:
    # The socket records the delivery right after it sent the frame on.
    return await eventually(
        lambda: Delivery.objects.get(pk=delivery_id).status, until=lambda status: status != "pending"
    )


async def test_a_customer_reconnecting_gets_what_was_sent_while_they_were_away(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    message = await database_sync_to_async(record_reply)(
        conversation_id=session["conversation_id"], role="agent", text="Your refund went out today."
    )  # published to a group no socket listens on
    pending = await database_sync_to_async(Delivery.objects.get)(message=message)
    assert pending.status == "pending", "nobody received it yet"
    chat = await connect_chat(session["token"])
    frame = await chat.receive_json_from(timeout=5)
    assert (frame["type"], frame["message_id"], frame["text"]) == (
        "message",
        str(message.id),
        "Your refund went out today.",
    )
    assert await delivery_status(pending.pk) == "sent"
    assert await chat.receive_nothing(timeout=0.3)
    await chat.disconnect()
    again = await connect_chat(session["token"])
    assert await again.receive_nothing(timeout=0.5), "a message that reached the customer is not sent again"
    await again.disconnect()


def test_a_delivery_that_keeps_failing_is_given_up_loudly(offline_use_case, settings):
    with FakeTwilio(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) as twilio:
        settings.TWILIO_API_BASE_URL = twilio.base_url
        twilio.fail_next(*[Failure(503, 20500, "Service unavailable")] * delivery.MAX_ATTEMPTS)
        twilio_post("/twilio/sms/incoming", sms_params("SM" + "d1" * 16, "Is shipping free?"))
        reply = Message.objects.get(role="ai")
        now = timezone.now()
        for _ in range(delivery.MAX_ATTEMPTS + 1):
            now += timedelta(minutes=10)
            delivery.retry_due_deliveries(now=now)
        assert twilio.sent == []
    failed = Delivery.objects.get(message=reply)
    assert failed.status == "failed" and failed.attempts == delivery.MAX_ATTEMPTS
    assert failed.last_error.startswith(f"gave up after {delivery.MAX_ATTEMPTS} attempts")
    signal = Signal.objects.get(label="delivery_failed")
    assert (signal.message_id, signal.severity) == (reply.id, "critical")

    make_staff("sue", supervisor=True)
    staff = Client()
    staff.login(username="sue", password="pw-sue")
    page = staff.get(f"/supervisor/conversations/{reply.conversation_id}").content.decode()
    assert "Not delivered to the customer: gave up after" in page
    metrics = staff.get("/metrics").content.decode()
    assert 'baton_deliveries{channel="sms",status="failed"} 1.0' in metrics
