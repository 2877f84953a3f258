"""The handoff packet after real conversations over the chat websocket, with the offline and a remote LLM."""

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from conversations.models import Conversation, Message
from handoff.defaults import seed_handoff_defaults
from handoff.models import Handoff
from infra import event_types
from infra.groups import supervisors_group
from tests.builders import connect_chat, receive_until, say, start_chat
from tests.fakes.openai_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


async def listen_to_supervisors() -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(supervisors_group(), channel)
    return channel


async def next_event(channel: str, event_type: str, timeout: float = 10) -> dict:
    layer = get_channel_layer()
    async with asyncio.timeout(timeout):
        while True:
            event = await layer.receive(channel)
            if event["type"] == event_type:
                return event


async def test_packet_carries_the_whole_conversation_after_a_multi_turn_chat(offline_use_case):
    await database_sync_to_async(seed_handoff_defaults)()
    board = await listen_to_supervisors()
    session = await database_sync_to_async(start_chat)(name="Ada Lovelace", email="ada@example.com")
    chat = await connect_chat(session["token"])
    first = await say(chat, "Is shipping free on my order #W2611340?", "p-1")
    second = await say(chat, "When is your support team available?", "p-2")
    await chat.send_json_to(
        {"type": "message", "text": "I want to talk to a real person", "client_id": "p-3"}
    )
    frames = await receive_until(chat, "handoff")
    assert frames[-1] == {"type": "handoff", "status": "queued"}
    assert [f["role"] for f in frames if f["type"] == "message"] == ["system"], "the AI did not answer"
    assert await chat.receive_nothing(timeout=0.5), "signals and the packet never reach the customer"

    event = await next_event(board, event_types.PACKET_READY)
    handoff = await database_sync_to_async(Handoff.objects.get)()
    assert event["handoff_id"] == handoff.pk and event["packet"] == handoff.packet
    packet = handoff.packet
    assert [(m["role"], m["text"]) for m in packet["history"]] == [
        ("customer", "Is shipping free on my order #W2611340?"),
        ("ai", first[-1]["text"]),
        ("customer", "When is your support team available?"),
        ("ai", second[-1]["text"]),
        ("customer", "I want to talk to a real person"),
        ("system", frames[-2]["text"]),
    ]
    assert packet["customer"]["display_name"] == "Ada Lovelace"
    assert {"channel": "email", "address": "ada@example.com", "verified": False} in packet["customer"][
        "identities"
    ]
    # Memory extracted from this very conversation is already in the packet.
    assert packet["profile"]["traits"]["last_order"] == "#W2611340"
    assert "Ada Lovelace" in packet["profile"]["summary"]
    assert any("#W2611340" in o["text"] for o in packet["observations"])
    assert packet["summary"]["status"] == "ready" and packet["summary"]["source"] == "offline-extractive"
    assert "#W2611340" in packet["summary"]["text"] and "real person" in packet["summary"]["text"]
    assert {s["label"] for s in packet["signals"]} == {"asks_for_human"}
    assert packet["actions"] == []
    assert packet["reason"] == "customer_request"
    assert packet["rule"]["name"] == "Customer asks for a person"
    assert packet["queue"]["name"] == "general"
    await chat.disconnect()


async def test_failing_llm_hands_off_with_a_packet_and_the_summary_follows(openai_use_case, fake_openai):
    await database_sync_to_async(seed_handoff_defaults)()
    board = await listen_to_supervisors()
    fake_openai.script(Reply(status=500), Reply(status=500))  # the turn, then the summary
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    await chat.send_json_to({"type": "message", "text": "cancel order #W2611340 please", "client_id": "f-1"})
    frames = await receive_until(chat, "handoff")
    assert frames[-1] == {"type": "handoff", "status": "queued"}
    assert [f["text"] for f in frames if f["type"] == "message"][0].startswith("Sorry")

    pending = await next_event(board, event_types.PACKET_READY)
    assert pending["packet"]["summary"] == {
        "status": "pending",
        "source": "llm",
        "text": "",
        "model": "gpt-fake",
    }
    assert pending["packet"]["reason"] == "llm_failure" and pending["packet"]["rule"] is None
    ready = await next_event(board, event_types.PACKET_READY)
    summary = ready["packet"]["summary"]
    assert summary["status"] == "ready" and summary["fallback_from"] == "llm"
    assert "#W2611340" in summary["text"]
    handoff = await database_sync_to_async(Handoff.objects.get)()
    assert handoff.reason == "llm_failure" and handoff.packet["summary"] == summary
    assert [m["role"] for m in handoff.packet["history"]] == ["customer", "system", "system"]
    conversation = await database_sync_to_async(Conversation.objects.get)(id=session["conversation_id"])
    assert conversation.escalation_reason == "llm_failure"
    await chat.disconnect()


async def test_remote_llm_writes_the_summary_after_the_packet_is_published(openai_use_case, fake_openai):
    await database_sync_to_async(seed_handoff_defaults)()
    board = await listen_to_supervisors()
    fake_openai.script(
        Reply(text="Your order #W2611340 ships tomorrow."),
        Reply(text="Customer wants order #W2611340's status; asked for a person."),
    )
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    await say(chat, "where is order #W2611340?", "s-1")
    await chat.send_json_to({"type": "message", "text": "let me speak to a real person", "client_id": "s-2"})
    await receive_until(chat, "handoff")
    assert (await next_event(board, event_types.PACKET_READY))["packet"]["summary"]["status"] == "pending"
    ready = (await next_event(board, event_types.PACKET_READY))["packet"]["summary"]
    assert ready == {
        "status": "ready",
        "source": "llm",
        "model": "gpt-fake",
        "text": "Customer wants order #W2611340's status; asked for a person.",
    }
    prompt = fake_openai.requests[-1]["messages"]
    assert "handoff notes" in prompt[0]["content"] and "where is order #W2611340?" in prompt[1]["content"]
    await chat.disconnect()


async def test_ai_claiming_an_action_it_did_not_take_is_flagged(openai_use_case, fake_openai):
    await database_sync_to_async(seed_handoff_defaults)()
    board = await listen_to_supervisors()
    fake_openai.script(Reply(text="Done! I've cancelled your order #W2611340."))
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    frames = await say(chat, "cancel order #W2611340", "c-1")
    signal = await next_event(board, event_types.SIGNAL_RAISED)
    assert (signal["operator"], signal["label"], signal["message_id"]) == (
        "action-claimed-not-logged",
        "policy_breach",
        frames[-1]["message_id"],
    )
    flag = await next_event(board, event_types.FLAG_RAISED)
    assert flag["rule"] == "AI broke policy"
    assert await chat.receive_nothing(timeout=0.3)
    message = await database_sync_to_async(Message.objects.get)(id=uuid.UUID(frames[-1]["message_id"]))
    # Nothing was attempted: the claim is set right in the same reply, stored as the customer saw it.
    assert (
        message.text
        == frames[-1]["text"]
        == (
            "Done! I've cancelled your order #W2611340. Correction: that change was not made — nothing was changed."
        )
    )
    await chat.disconnect()


def test_packet_holds_the_profile_and_top_observations_memory_returns(offline_use_case, monkeypatch):
    """The memory read contract: profile_for(customer_id=) and recall(customer_id=, query=, k=)."""
    from datetime import UTC, datetime

    from handoff import services
    from memory import selectors as memory_selectors

    asked = {}

    def recall(*, customer_id, query, k):
        asked.update(customer_id=customer_id, query=query, k=k)
        return [
            memory_selectors.RecalledObservation(
                id=7,
                text="Prefers refunds to a gift card",
                kind="preference",
                score=0.91234,
                created_at=datetime(2026, 1, 2, tzinfo=UTC),
                conversation_id=None,
            )
        ]

    monkeypatch.setattr(memory_selectors, "recall", recall)
    monkeypatch.setattr(
        memory_selectors,
        "profile_for",
        lambda *, customer_id: {"traits": {"tier": "gold"}, "summary": "Loyal."},
    )
    session = start_chat(name="Ada")
    services.start_handoff(conversation_id=session["conversation_id"], reason="supervisor")
    packet = Handoff.objects.get().packet
    assert packet["profile"] == {"traits": {"tier": "gold"}, "summary": "Loyal."}
    assert packet["observations"] == [
        {
            "id": 7,
            "text": "Prefers refunds to a gift card",
            "kind": "preference",
            "score": 0.9123,
            "created_at": "2026-01-02T00:00:00Z",
            "conversation_id": None,
        }
    ]
    assert str(asked["customer_id"]) == session["customer_id"] and asked["k"] == 5


def test_packet_is_built_even_when_memory_fails(offline_use_case, monkeypatch):
    from handoff import services
    from memory import selectors as memory_selectors

    def broken(**kwargs):
        raise RuntimeError("pgvector down")

    monkeypatch.setattr(memory_selectors, "profile_for", broken)
    session = start_chat()
    handoff = services.start_handoff(conversation_id=session["conversation_id"], reason="supervisor")
    assert handoff.packet["profile"] == {"error": "memory unavailable"}
    assert handoff.packet["history"][-1]["role"] == "system"
