"""SMS through Twilio: signed webhooks, idempotency per MessageSid, replies through the REST API, status callbacks."""

import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from conversations import delivery
from conversations.models import Conversation, Customer, Delivery, Identity, Message, TwilioMessage
from conversations.services import record_reply
from handoff.defaults import seed_handoff_defaults
from handoff.models import Handoff, Signal
from handoff.services import accept_handoff, hand_back_to_ai, record_agent_reply
from handoff.wording import BACK_WITH_AI, agent_joined, person_coming
from orchestration.channels import sms
from tests.builders import start_chat
from tests.fakes.openai_server import Reply
from tests.fakes.twilio_server import Failure, FakeTwilio
from tests.twilio.helpers import sign, sms_params, twilio_post

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_twilio(settings):
    with FakeTwilio(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) as server:
        settings.TWILIO_API_BASE_URL = server.base_url
        yield server


def test_inbound_sms_is_answered_through_the_rest_api(offline_use_case, fake_twilio):
    response = twilio_post("/twilio/sms/incoming", sms_params("SM" + "1" * 32, "Is shipping free?"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response />")
    stored = list(Message.objects.order_by("created_at").values_list("role", "text", "external_id"))
    assert stored[0] == ("customer", "Is shipping free?", "SM" + "1" * 32)
    assert stored[1][0] == "ai" and "free" in stored[1][1].lower()
    assert len(fake_twilio.sent) >= 1
    first = fake_twilio.sent[0]
    assert (first["To"], first["From"]) == ("+14155550100", "+18885550123")
    assert first["StatusCallback"] == settings.BATON_PUBLIC_URL + "/twilio/sms/status"
    # The text names the article it answered from, with no link to tap.
    shipping = Message.objects.get(role="ai").citations[0]["title"]
    assert " ".join(s["Body"] for s in fake_twilio.sent) == f"{stored[1][1]}\n\nSource: {shipping}"
    outbound = TwilioMessage.objects.filter(direction="outbound").order_by("part")
    assert [o.sid for o in outbound] == [s["Sid"] for s in fake_twilio.sent]
    assert {o.status for o in outbound} == {"queued"}
    conversation = Conversation.objects.get()
    assert conversation.channel == "sms"
    assert Identity.objects.get(customer=conversation.customer).address == "+14155550100"


def test_replayed_message_sid_is_stored_once_and_answered_once(offline_use_case, fake_twilio):
    params = sms_params("SM" + "2" * 32, "When is your support team available?")
    assert twilio_post("/twilio/sms/incoming", params).status_code == 200
    sent_after_first = len(fake_twilio.sent)
    assert twilio_post("/twilio/sms/incoming", params).status_code == 200
    assert Message.objects.filter(role="customer").count() == 1
    assert Message.objects.filter(role="ai").count() == 1
    assert len(fake_twilio.sent) == sent_after_first, "a Twilio retry must not text the customer again"


@pytest.mark.parametrize(
    "signature",
    ["", "forged", sign("https://baton.example.test/twilio/sms/incoming", {"Body": "other"})],
    ids=["missing", "garbage", "signed-for-other-params"],
)
def test_bad_signature_gets_403_and_stores_nothing(offline_use_case, fake_twilio, signature):
    response = twilio_post("/twilio/sms/incoming", sms_params("SM" + "3" * 32, "hi"), signature=signature)
    assert response.status_code == 403
    assert Message.objects.count() == 0 and Customer.objects.count() == 0
    assert fake_twilio.sent == []


def test_signature_made_with_another_auth_token_is_refused(offline_use_case, fake_twilio):
    params = sms_params("SM" + "4" * 32, "hi")
    forged = sign(settings.BATON_PUBLIC_URL + "/twilio/sms/incoming", params, token="not-our-token")
    assert twilio_post("/twilio/sms/incoming", params, signature=forged).status_code == 403
    assert Message.objects.count() == 0


def test_signature_is_checked_against_the_public_url_not_the_proxy_host(offline_use_case, fake_twilio):
    params = sms_params("SM" + "5" * 32, "hi")
    # What a client would compute from the request it sees behind the proxy (testserver, http).
    internal = sign("http://testserver/twilio/sms/incoming", params)
    assert twilio_post("/twilio/sms/incoming", params, signature=internal).status_code == 403
    assert twilio_post("/twilio/sms/incoming", params).status_code == 200


def test_text_and_web_chat_with_the_same_phone_are_one_customer(offline_use_case, fake_twilio):
    session = start_chat(name="Ada", phone="(415) 555-0100")
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "6" * 32, "hello again"))
    sms_conversation = Conversation.objects.get(channel="sms")
    assert str(sms_conversation.customer_id) == session["customer_id"]


def test_a_reply_up_to_1600_characters_goes_as_one_sms(openai_use_case, fake_openai, fake_twilio):
    long_text = " ".join(
        f"Sentence number {i} explains one more detail about your order, first name, last name and zip code."
        for i in range(12)
    )
    assert 160 < len(long_text) <= 1600
    fake_openai.script(Reply(text=long_text))
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "7" * 32, "tell me everything"))
    assert [s["Body"] for s in fake_twilio.sent] == [long_text], "Twilio joins the segments itself"


def test_a_longer_reply_is_split_at_sentence_ends_and_numbered(openai_use_case, fake_openai, fake_twilio):
    sentences = [
        f"Sentence number {i} explains one more detail about your order and its delivery." for i in range(30)
    ]
    fake_openai.script(Reply(text=" ".join(sentences)))
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "7a" * 16, "tell me everything"))
    bodies = [s["Body"] for s in fake_twilio.sent]
    assert len(bodies) == 2 and all(len(b) <= 1600 for b in bodies)
    assert bodies[0].endswith(". (1/2)") and bodies[1].endswith(". (2/2)")
    assert " ".join(b.rsplit(" (", 1)[0] for b in bodies) == " ".join(sentences)
    assert list(
        TwilioMessage.objects.filter(direction="outbound").order_by("part").values_list("part", flat=True)
    ) == [0, 1]


def test_sms_bodies_cut_a_sentence_longer_than_a_part_at_a_word():
    bodies = sms.sms_bodies("word " * 700)
    assert len(bodies) == 3 and all(len(b) <= 1600 for b in bodies)
    assert [b.rsplit(" ", 1)[1] for b in bodies] == ["(1/3)", "(2/3)", "(3/3)"]
    assert all(b.rsplit(" ", 1)[0].split() == ["word"] * len(b.rsplit(" ", 1)[0].split()) for b in bodies)
    assert sms.sms_bodies("short") == ["short"] and sms.sms_bodies("  ") == []


def test_handoff_by_sms_texts_the_person_coming_notice(offline_use_case, fake_twilio):
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "8" * 32, "I want to talk to a real person"))
    conversation = Conversation.objects.get()
    assert conversation.handler == "human"
    assert any("team will reply here" in s["Body"] for s in fake_twilio.sent)
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "9" * 32, "hello?"))
    assert len(fake_twilio.sent) == 1, "the AI stays quiet once a person is coming"


def test_a_handoff_by_an_escalation_rule_texts_the_person_coming_notice(offline_use_case, fake_twilio):
    # Before the outbox only handoffs inside an AI turn reached SMS: a rule's handoff was silent.
    seed_handoff_defaults()
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "8b" * 16, "I want to talk to a real person"))
    handoff = Handoff.objects.get()
    assert handoff.rule is not None and handoff.rule.name == "Customer asks for a person"
    assert [s["Body"] for s in fake_twilio.sent] == [person_coming("sms")]


def test_the_texter_hears_when_an_agent_joins_replies_and_hands_back(offline_use_case, fake_twilio):
    from tests.staff import make_staff

    agent = make_staff("sam", first_name="Sam")
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "8c" * 16, "I want to talk to a real person"))
    handoff = Handoff.objects.get()
    accept_handoff(handoff_id=handoff.pk, agent=agent)
    record_agent_reply(handoff_id=handoff.pk, agent=agent, text="Hi, Sam here. All sorted.")
    hand_back_to_ai(handoff_id=handoff.pk, agent=agent)
    assert [s["Body"] for s in fake_twilio.sent] == [
        person_coming("sms"),
        agent_joined("Sam"),
        "Hi, Sam here. All sorted.",
        BACK_WITH_AI,
    ]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_agent_reply_from_the_desk_goes_out_by_sms(offline_use_case, fake_twilio, django_user_model):
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "a" * 32, "I want to talk to a real person"))
    from tests.staff import make_staff

    handoff = Handoff.objects.get(conversation=Conversation.objects.get())
    agent = make_staff("sam", first_name="Sam")
    accept_handoff(handoff_id=handoff.pk, agent=agent)
    record_agent_reply(handoff_id=handoff.pk, agent=agent, text="Hi, Sam here.")
    assert fake_twilio.sent[-1]["Body"] == "Hi, Sam here."
    assert fake_twilio.sent[-1]["To"] == "+14155550100"


def test_twilio_5xx_is_retried_by_the_outbox_and_the_reply_sent_once(offline_use_case, fake_twilio):
    fake_twilio.fail_next(Failure(503, 20500, "Service unavailable"))
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "b" * 32, "Is shipping free?"))
    assert fake_twilio.sent == []
    pending = Delivery.objects.get(channel="sms")
    assert pending.status == "pending" and "503" in pending.last_error
    assert delivery.retry_due_deliveries(now=timezone.now()) == 0, "not before its retry time"
    assert delivery.retry_due_deliveries(now=timezone.now() + timedelta(seconds=11)) == 1
    assert len(fake_twilio.sent) == 1
    row = TwilioMessage.objects.get(direction="outbound")
    assert row.sid == fake_twilio.sent[0]["Sid"] and row.status == "queued"
    assert Delivery.objects.get(pk=pending.pk).status == "sent"
    delivery.retry_due_deliveries(now=timezone.now() + timedelta(hours=1))
    assert len(fake_twilio.sent) == 1, "a sent delivery is never sent again"


def test_refused_number_is_recorded_as_failed_not_retried(offline_use_case, fake_twilio):
    fake_twilio.fail_next(Failure(400, 21610, "Attempt to send to unsubscribed recipient"))
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "c" * 32, "Is shipping free?"))
    row = TwilioMessage.objects.get(direction="outbound")
    assert (row.status, row.error_code, row.sid) == ("failed", "21610", None)
    assert fake_twilio.sent == []
    failed = Delivery.objects.get(channel="sms")
    assert failed.status == "failed" and "21610" in failed.last_error
    signal = Signal.objects.get(label="delivery_failed")
    assert signal.message_id == failed.message_id and signal.severity == "critical"
    delivery.retry_due_deliveries(now=timezone.now() + timedelta(hours=1))
    assert fake_twilio.sent == []


def test_delivery_status_callbacks_are_recorded_and_never_go_backwards(offline_use_case, fake_twilio):
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "d" * 32, "Is shipping free?"))
    sid = fake_twilio.sent[0]["Sid"]
    status = {"MessageSid": sid, "AccountSid": settings.TWILIO_ACCOUNT_SID, "From": "+18885550123"}
    assert twilio_post("/twilio/sms/status", {**status, "MessageStatus": "sent"}).status_code == 204
    assert twilio_post("/twilio/sms/status", {**status, "MessageStatus": "delivered"}).status_code == 204
    twilio_post("/twilio/sms/status", {**status, "MessageStatus": "sent"})  # late and out of order
    row = TwilioMessage.objects.get(sid=sid)
    assert row.status == "delivered"
    assert [h["status"] for h in row.status_history] == ["sent", "delivered"]


def test_undelivered_status_keeps_the_error_code_and_fails_the_delivery_loudly(offline_use_case, fake_twilio):
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "e" * 32, "Is shipping free?"))
    sid = fake_twilio.sent[0]["Sid"]
    callback = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    twilio_post("/twilio/sms/status", callback)
    twilio_post("/twilio/sms/status", callback)  # Twilio may call twice
    row = TwilioMessage.objects.get(sid=sid)
    assert (row.status, row.error_code) == ("undelivered", "30003")
    failed = Delivery.objects.get(message=row.message, channel="sms")
    assert failed.status == "failed" and "30003" in failed.last_error
    assert Signal.objects.filter(label="delivery_failed", message=row.message).count() == 1


def test_forged_status_callback_changes_nothing(offline_use_case, fake_twilio):
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "f" * 32, "Is shipping free?"))
    sid = fake_twilio.sent[0]["Sid"]
    response = twilio_post(
        "/twilio/sms/status", {"MessageSid": sid, "MessageStatus": "failed"}, signature="x"
    )
    assert response.status_code == 403
    assert TwilioMessage.objects.get(sid=sid).status == "queued"


def test_missing_fields_get_a_clear_400(offline_use_case, fake_twilio):
    response = twilio_post("/twilio/sms/incoming", {"Body": "hi"})
    assert response.status_code == 400 and b"MessageSid" in response.content
    assert Message.objects.count() == 0


def test_a_redelivered_turn_task_does_not_answer_twice(offline_use_case, fake_twilio):
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "0" * 32, "Is shipping free?"))
    conversation = Conversation.objects.get()
    sent = len(fake_twilio.sent)
    assert sms.answer_sms(conversation_id=conversation.id) == []
    assert len(fake_twilio.sent) == sent and Message.objects.filter(role="ai").count() == 1


def test_web_chat_replies_are_not_texted(offline_use_case, fake_twilio):
    session = start_chat(phone="+14155550100")
    record_reply(conversation_id=session["conversation_id"], role="agent", text="Hello")
    assert fake_twilio.sent == []
    assert list(Delivery.objects.values_list("channel", flat=True)) == ["webchat"]


def test_picture_message_without_text_is_stored_with_a_note(offline_use_case, fake_twilio):
    params = {**sms_params("SM" + "ab" * 16, ""), "NumMedia": "2", "MediaUrl0": "https://api.twilio.com/m0"}
    assert twilio_post("/twilio/sms/incoming", params).status_code == 200
    assert Message.objects.get(role="customer").text == "[2 attachments not shown]"


def test_reply_goes_from_the_configured_number_when_the_webhook_names_none(
    offline_use_case, fake_twilio, settings
):
    settings.TWILIO_SMS_FROM = "+18885550999"
    params = {k: v for k, v in sms_params("SM" + "cd" * 16, "Is shipping free?").items() if k != "To"}
    assert twilio_post("/twilio/sms/incoming", params).status_code == 200
    assert fake_twilio.sent[0]["From"] == "+18885550999"


def test_a_text_whose_turn_was_lost_is_answered_by_the_sweep(offline_use_case, fake_twilio, monkeypatch):
    from orchestration import tasks

    monkeypatch.setattr(tasks.answer_sms, "delay", lambda *args: None)  # a worker killed mid-turn
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "ef" * 16, "Is shipping free?"))
    assert fake_twilio.sent == []
    monkeypatch.undo()
    assert sms.answer_waiting_texts(now=timezone.now()) == 0, "a turn may still be running"
    later = timezone.now() + timedelta(seconds=sms.UNANSWERED_AFTER_SECONDS + 1)
    assert sms.answer_waiting_texts(now=later) == 1
    assert len(fake_twilio.sent) == 1 and "free" in fake_twilio.sent[0]["Body"].lower()
    assert sms.answer_waiting_texts(now=later) == 0, "an answered text is not answered again"


def test_a_turn_lock_left_by_a_killed_worker_frees_itself(offline_use_case, fake_twilio, monkeypatch):
    import redis

    from orchestration import tasks

    monkeypatch.setattr(sms, "TURN_LEASE_SECONDS", 1)
    monkeypatch.setattr(tasks.answer_sms, "delay", lambda *args, **kwargs: None)
    twilio_post("/twilio/sms/incoming", sms_params("SM" + "fa" * 16, "Is shipping free?"))
    conversation = Conversation.objects.get()
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.lock(f"baton:sms-turn:{conversation.id}", timeout=1).acquire()  # its worker died here
    assert sms.answer_sms(conversation_id=conversation.id, wait=False) == [], "the turn looks busy"
    time.sleep(1.2)
    assert len(sms.answer_sms(conversation_id=conversation.id, wait=False)) == 1
    assert "free" in fake_twilio.sent[0]["Body"].lower()
    client.close()


def test_a_running_turn_keeps_its_lock_past_the_lease(offline_use_case, monkeypatch):
    import redis

    monkeypatch.setattr(sms, "TURN_LEASE_SECONDS", 0.6)
    conversation_id = uuid.uuid4()
    client = redis.Redis.from_url(settings.REDIS_URL)
    with sms._one_turn_at_a_time(conversation_id):
        time.sleep(1.5)
        assert not client.lock(f"baton:sms-turn:{conversation_id}", timeout=1).acquire(blocking=False)
    assert client.lock(f"baton:sms-turn:{conversation_id}", timeout=1).acquire(blocking=False)
    client.close()
