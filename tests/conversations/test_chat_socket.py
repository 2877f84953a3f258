import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from prometheus_client import REGISTRY

from conversations.models import Conversation, Message
from deskapp.asgi import application
from orchestration.tokens import issue_chat_token
from tests.builders import connect_chat, receive_until, say, start_chat
from tests.fakes.openai_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


async def test_reply_streams_as_tokens_then_arrives_whole_once(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    frames = await say(chat, "When is your support team available?", "c-1")
    assert frames[0]["type"] == "ack" and frames[0]["client_id"] == "c-1"
    tokens = [f for f in frames if f["type"] == "token"]
    final = frames[-1]
    # The offline engine's words are all ready at once: they travel as one token frame.
    assert len(tokens) == 1
    assert {t["message_id"] for t in tokens} == {final["message_id"]}
    assert final["role"] == "ai"
    assert "".join(t["text"] for t in tokens).strip() == final["text"]
    assert "8am to 8pm" in final["text"]
    assert await chat.receive_nothing(timeout=0.3)
    stored = await database_sync_to_async(
        lambda: list(Message.objects.order_by("created_at").values_list("role", "text"))
    )()
    assert stored == [("customer", "When is your support team available?"), ("ai", final["text"])]
    await chat.disconnect()


async def test_repeated_client_id_is_acknowledged_not_stored_twice(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    first = await say(chat, "Is shipping free?", "same-id")
    await chat.send_json_to({"type": "message", "text": "Is shipping free?", "client_id": "same-id"})
    ack = await chat.receive_json_from()
    assert ack == {"type": "ack", "client_id": "same-id", "message_id": first[0]["message_id"]}
    assert await chat.receive_nothing(timeout=0.5), "a retry must not trigger another AI turn"
    count = await database_sync_to_async(Message.objects.filter(role="customer").count)()
    assert count == 1
    await chat.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "typing"}, "unknown_type"),
        ({"type": "message", "text": "   ", "client_id": "x"}, "empty_text"),
        ({"type": "message", "text": "hi"}, "invalid_client_id"),
        ({"type": "message", "text": "x" * 4001, "client_id": "x"}, "text_too_long"),
    ],
)
async def test_invalid_frames_get_an_error_and_store_nothing(offline_use_case, frame, code):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    await chat.send_json_to(frame)
    error = await chat.receive_json_from()
    assert error["type"] == "error" and error["code"] == code and error["detail"]
    assert await database_sync_to_async(Message.objects.count)() == 0
    await chat.disconnect()


async def test_non_json_frame_gets_an_error_and_socket_stays_open(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    await chat.send_to(text_data="{nope")
    assert (await chat.receive_json_from())["code"] == "invalid_json"
    frames = await say(chat, "hello", "c-2")
    assert frames[-1]["role"] == "ai"
    await chat.disconnect()


@pytest.mark.parametrize("token", ["", "garbage", "eyJjIjoiMSJ9:forged:signature"])
async def test_bad_token_is_refused(offline_use_case, token):
    communicator = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_token_opens_only_its_own_conversation(offline_use_case):
    mine = await database_sync_to_async(start_chat)()
    theirs = await database_sync_to_async(start_chat)()
    # A token signed for my customer but naming their conversation opens nothing.
    crossed = issue_chat_token(
        conversation_id=uuid.UUID(theirs["conversation_id"]),
        customer_id=uuid.UUID(mine["customer_id"]),
        visitor_id="mine",
    )
    connected, code = await WebsocketCommunicator(application, f"/ws/chat/?token={crossed}").connect()
    assert not connected and code == 4404
    # Their claims signed with any key but the server's open nothing either.
    forged = signing.dumps(
        {"c": theirs["conversation_id"], "u": theirs["customer_id"], "v": "guess"},
        key="not-the-server-secret",
        salt="baton.chat.token",
        compress=True,
    )
    connected, code = await WebsocketCommunicator(application, f"/ws/chat/?token={forged}").connect()
    assert not connected and code == 4401
    chat, other = await connect_chat(mine["token"]), await connect_chat(theirs["token"])
    await say(chat, "hello", "mine-1")
    assert await other.receive_nothing(timeout=0.3), "their socket hears nothing of my conversation"
    stored = await database_sync_to_async(
        lambda: set(Message.objects.filter(role="customer").values_list("conversation_id", flat=True))
    )()
    assert {str(c) for c in stored} == {mine["conversation_id"]}
    await chat.disconnect()
    await other.disconnect()


async def test_asking_for_a_person_hands_off_and_the_ai_stops(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    await chat.send_json_to(
        {"type": "message", "text": "I want to talk to a real person", "client_id": "h-1"}
    )
    frames = await receive_until(chat, "handoff")
    assert frames[-1] == {"type": "handoff", "status": "queued"}
    system = [f for f in frames if f["type"] == "message"]
    assert system and system[0]["role"] == "system" and "team" in system[0]["text"]
    conversation = await database_sync_to_async(Conversation.objects.get)(id=session["conversation_id"])
    assert (conversation.status, conversation.handler, conversation.escalation_reason) == (
        "waiting",
        "human",
        "customer_request",
    )
    await chat.send_json_to({"type": "message", "text": "hello?", "client_id": "h-2"})
    assert (await chat.receive_json_from())["type"] == "ack"
    assert await chat.receive_nothing(timeout=0.5), "the AI must not answer once a person is coming"
    await chat.disconnect()


async def test_declining_a_person_is_not_a_handoff(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    frames = await say(chat, "I don't need a human, just tell me if shipping is free", "n-1")
    assert frames[-1]["role"] == "ai" and "free" in frames[-1]["text"]
    conversation = await database_sync_to_async(Conversation.objects.get)(id=session["conversation_id"])
    assert conversation.handler == "ai"
    await chat.disconnect()


async def test_openai_provider_streams_through_the_socket(openai_use_case, fake_openai):
    fake_openai.script(
        # Chunks that arrive apart stream as several token frames (ready together, they share one).
        Reply(
            text="Your order #W2611340 is on its way.",
            prompt_tokens=42,
            completion_tokens=9,
            chunk_delay=0.02,
        )
    )
    session = await database_sync_to_async(start_chat)(name="Ada")
    chat = await connect_chat(session["token"])
    frames = await say(chat, "where is my order?", "o-1")
    assert frames[-1]["text"] == "Your order #W2611340 is on its way."
    assert len([f for f in frames if f["type"] == "token"]) > 1
    message = await database_sync_to_async(Message.objects.get)(id=frames[-1]["message_id"])
    assert (message.model, message.prompt_tokens, message.completion_tokens) == ("gpt-fake", 42, 9)
    assert message.latency_ms is not None and message.first_token_ms is not None
    sent = fake_openai.requests[0]["messages"]
    assert sent[0]["role"] == "system" and sent[-1] == {"role": "user", "content": "where is my order?"}
    await chat.disconnect()


async def test_llm_failure_gives_a_holding_reply_and_escalates(openai_use_case, fake_openai):
    fake_openai.script(Reply(status=500))
    before = REGISTRY.get_sample_value("baton_llm_errors_total", {"provider": "fake-openai"}) or 0
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    await chat.send_json_to({"type": "message", "text": "cancel my order please", "client_id": "f-1"})
    frames = await receive_until(chat, "handoff")
    messages = [f for f in frames if f["type"] == "message"]
    assert messages[0]["role"] == "system" and "trouble" in messages[0]["text"]
    assert frames[-1]["status"] == "queued"
    conversation = await database_sync_to_async(Conversation.objects.get)(id=session["conversation_id"])
    assert conversation.escalation_reason == "llm_failure" and conversation.handler == "human"
    customer_message = await database_sync_to_async(Message.objects.get)(role="customer")
    assert customer_message.text == "cancel my order please", "the customer's message is never lost"
    after = REGISTRY.get_sample_value("baton_llm_errors_total", {"provider": "fake-openai"})
    assert after == before + 1
    await chat.disconnect()


async def test_an_idle_socket_stays_open_and_answers_after_a_pause(offline_use_case):
    # The channel layer blocks 5 s per receive; a client-side read deadline at 5 s used to drop idle sockets.
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    assert await chat.receive_nothing(timeout=7)
    frames = await say(chat, "Is shipping free?", "idle-1")
    assert frames[-1]["role"] == "ai" and "free" in frames[-1]["text"]
    await chat.disconnect()
