import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from conversations.models import Conversation, Message, UseCase
from handoff import services as handoff_services
from handoff.models import CopilotDraft, Handoff
from infra import event_types
from infra.groups import conversation_staff_group
from orchestration import copilot
from tests.builders import connect_chat, receive_until, start_chat
from tests.insights.builders import agent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shadow_use_case(offline_use_case) -> UseCase:
    offline_use_case.mode = UseCase.Mode.SHADOW
    offline_use_case.save()
    return offline_use_case


async def test_shadow_drafts_never_reach_the_customer(shadow_use_case):
    session = await database_sync_to_async(start_chat)()
    layer = get_channel_layer()
    staff = await layer.new_channel()  # the default prefix: channels-redis reads one local channel family
    await layer.group_add(conversation_staff_group(session["conversation_id"]), staff)
    chat = await connect_chat(session["token"])
    await chat.send_json_to(
        {"type": "message", "text": "Is shipping free on every order?", "client_id": "s-1"}
    )
    frames = await receive_until(chat, "handoff")
    frames += await receive_until(chat, "ack") if not any(f["type"] == "ack" for f in frames) else []
    # The customer hears only that a person is coming: no token, no AI message.
    assert {f["type"] for f in frames} == {"ack", "message", "handoff"}
    assert [f["role"] for f in frames if f["type"] == "message"] == ["system"]
    assert await chat.receive_nothing(timeout=1.0), "nothing of the draft may reach the customer"

    draft = await database_sync_to_async(CopilotDraft.objects.select_related("customer_message").get)()
    assert draft.customer_message.text == "Is shipping free on every order?"
    assert "Shipping is free on every order." in draft.text
    assert draft.status == "pending"
    roles = await database_sync_to_async(
        lambda: list(Message.objects.order_by("created_at").values_list("role", flat=True))
    )()
    assert roles == ["customer", "system"], "the would-be answer is a draft, never a sent message"
    conversation = await database_sync_to_async(Conversation.objects.get)(id=session["conversation_id"])
    assert (conversation.shadow, conversation.handler, conversation.status) == (True, "human", "waiting")
    assert await database_sync_to_async(lambda: Handoff.objects.get().reason)() == "rollout"
    # The agent's desk gets the draft on the staff group.
    drafts = []
    while not drafts:
        event = await asyncio.wait_for(layer.receive(staff), 5)
        if event["type"] == event_types.COPILOT_DRAFT:
            drafts.append(event)
    assert drafts[0]["text"] == draft.text and drafts[0]["draft_id"] == draft.pk

    # A second message: a second draft, still nothing for the customer but the ack.
    await chat.send_json_to({"type": "message", "text": "When is support available?", "client_id": "s-2"})
    assert (await chat.receive_json_from())["type"] == "ack"
    assert await chat.receive_nothing(timeout=1.0)
    assert await database_sync_to_async(CopilotDraft.objects.count)() == 2
    await chat.disconnect()


def _shadow_draft(text: str) -> CopilotDraft:
    session = start_chat()
    conversation = Conversation.objects.get(id=session["conversation_id"])
    message = Message.objects.create(
        conversation=conversation, role="customer", text="hi", created_at=conversation.created_at
    )
    return CopilotDraft.objects.create(conversation=conversation, customer_message=message, text=text)


def test_agent_use_of_a_draft_is_classified(shadow_use_case):
    person = agent()
    same = _shadow_draft("Shipping is free on every order.")
    edited = _shadow_draft("Shipping is free on every order.")
    ignored = _shadow_draft("Shipping is free on every order.")
    handoff_services.record_draft_use(
        draft_id=same.pk, agent=person, sent_text="  shipping is FREE on every   order. "
    )
    handoff_services.record_draft_use(draft_id=edited.pk, agent=person, sent_text="Shipping is free, yes!")
    handoff_services.ignore_draft(draft_id=ignored.pk, agent=person)
    statuses = dict(CopilotDraft.objects.values_list("id", "status"))
    assert statuses == {same.pk: "sent_as_is", edited.pk: "edited", ignored.pk: "ignored"}
    assert CopilotDraft.objects.get(pk=edited.pk).sent_text == "Shipping is free, yes!"


def test_a_draft_is_recorded_once_per_customer_message(shadow_use_case):
    session = start_chat()
    conversation = Conversation.objects.get(id=session["conversation_id"])
    message = Message.objects.create(
        conversation=conversation,
        role="customer",
        text="Is shipping free?",
        created_at=conversation.created_at,
    )
    first = copilot.record_ai_draft(conversation_id=conversation.id, customer_message_id=message.id)
    again = copilot.record_ai_draft(conversation_id=conversation.id, customer_message_id=message.id)
    assert first.pk == again.pk and CopilotDraft.objects.count() == 1
    assert copilot.record_ai_draft(conversation_id=conversation.id, customer_message_id=first.pk) is None


def test_a_draft_that_would_hand_off_says_so_and_acts_on_nothing(shadow_use_case):
    session = start_chat()
    conversation = Conversation.objects.get(id=session["conversation_id"])
    message = Message.objects.create(
        conversation=conversation,
        role="customer",
        text="I want to talk to a real person",
        created_at=conversation.created_at,
    )
    draft = copilot.record_ai_draft(conversation_id=conversation.id, customer_message_id=message.id)
    assert draft.text == copilot.HANDOFF_DRAFT
    assert not Handoff.objects.exists(), "a shadow draft never starts a handoff itself"
