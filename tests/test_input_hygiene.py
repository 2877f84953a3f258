"""Input hygiene at every entry point (issue 15): text PostgreSQL would refuse never loses a message.

Whatever text arrives — NUL, other control characters, lone surrogates, CR line ends, far too much —
the customer's message is stored cleaned (control characters but newline and tab removed) or the
sender gets a clear error: never a 5xx, never a socket closed with 1011.
"""

import json
import operator
import uuid
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conversations.api_tokens import create_api_token
from conversations.models import Conversation, Customer, Message
from deskapp.asgi import application
from infra.text import MESSAGE_MAX_CHARS, SMS_MAX_CHARS, clean_text, cut_text
from memory.models import Observation
from orchestration.channels.twilio_voice import KEYPAD_DIGITS, MAX_KEYPAD_DIGITS
from orchestration.channels.voice import issue_call_token
from tests.builders import connect_chat, say, start_chat
from tests.fakes.twilio_server import FakeTwilio
from tests.handoff.test_desk import client_for, escalated_conversation
from tests.staff import make_staff
from tests.twilio.helpers import sms_params, twilio_post
from tests.twilio.relay_client import RELAY_PATH, relay_signature

pytestmark = pytest.mark.django_db(transaction=True)

PROPERTY = hypothesis_settings(
    max_examples=30,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What tends to break storage or parsing, mixed into arbitrary text.
_AWKWARD = st.sampled_from(["\x00", "\r", "\n", "\t", "\x07", "\x1b", "\x7f", "\x85", "\u2028", " "])
_SURROGATES = st.sampled_from(["\ud800", "\udfff", "\udc00"])
# Form posts (SMS, the desk) carry UTF-8, which cannot hold a lone surrogate; JSON can ("\ud800").
_FORM_CHARACTERS = st.one_of(st.characters(codec="utf-8"), _AWKWARD)
_JSON_CHARACTERS = st.one_of(st.characters(exclude_categories=()), _AWKWARD, _SURROGATES)


def texts(characters, *, repeat_to: int) -> st.SearchStrategy[str]:
    """Arbitrary short text, and now and then one repeated past `repeat_to` characters."""
    short = st.text(characters, max_size=60)
    long = st.builds(
        operator.mul, st.text(characters, min_size=1, max_size=4), st.integers(repeat_to // 4, repeat_to)
    )
    return st.one_of(short, short, short, long)


@pytest.fixture
def fake_twilio(settings):
    with FakeTwilio(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) as server:
        settings.TWILIO_API_BASE_URL = server.base_url
        yield server


async def next_frame(communicator: WebsocketCommunicator, timeout: float = 20) -> dict:
    """The next frame sent; fails when the server closed the socket (an exception closes it with 1011)."""
    output = await communicator.receive_output(timeout)
    assert output["type"] == "websocket.send", f"the server closed the socket: {output}"
    return json.loads(output["text"])


async def frames_until(communicator: WebsocketCommunicator, done) -> list[dict]:
    frames = []
    while not frames or not done(frames[-1]):
        frames.append(await next_frame(communicator))
    return frames


# --- what was seen (issue 15) -------------------------------------------------------------------------


async def test_web_chat_message_with_a_nul_is_stored_without_it_and_answered(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    frames = await say(chat, "Is shipping\u0000 free?", "c-nul")
    assert frames[0]["type"] == "ack"
    assert frames[-1]["role"] == "ai"
    stored = await database_sync_to_async(Message.objects.get)(role="customer")
    assert stored.text == "Is shipping free?"
    frames = await say(chat, "Thanks", "c-after")  # the socket is still open
    assert frames[-1]["role"] == "ai"
    await chat.disconnect()


def test_sms_with_a_nul_answers_twiml_and_stores_the_message(offline_use_case, fake_twilio):
    response = twilio_post("/twilio/sms/incoming", sms_params("SM" + "7" * 32, "Is shipping\u0000 free?"))
    assert response.status_code == 200
    assert response.content.decode().endswith("<Response />")
    assert Message.objects.get(role="customer").text == "Is shipping free?"


# --- other ways the same failure was reachable ---------------------------------------------------------


async def test_web_chat_message_that_is_only_control_characters_gets_an_error_frame(offline_use_case):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    await chat.send_json_to({"type": "message", "text": "\x00\x07\ud800", "client_id": "c-1"})
    assert (await next_frame(chat))["code"] == "empty_text"
    await chat.send_json_to({"type": "message", "text": "hi", "client_id": "c\x00"})
    assert (await next_frame(chat))["code"] == "invalid_client_id"
    await chat.send_to(text_data="[" * 100_000)  # too deeply nested for the JSON parser
    assert (await next_frame(chat))["code"] == "invalid_json"
    assert await database_sync_to_async(Message.objects.count)() == 0
    frames = await say(chat, "hello", "c-2")
    assert frames[-1]["role"] == "ai"
    await chat.disconnect()


def test_chat_session_with_a_long_name_gets_a_clear_400():
    response = Client().post(
        "/api/chat/sessions", json.dumps({"name": "N" * 250}), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["detail"].startswith("name is limited to 200 characters")


def test_chat_session_name_with_control_characters_is_stored_clean():
    session = start_chat(name="Ada\u0000 Lovelace\u0007")
    assert Customer.objects.get(id=session["customer_id"]).display_name == "Ada Lovelace"


def test_sms_longer_than_the_limit_is_stored_cut_with_a_note(offline_use_case, fake_twilio):
    body = "word " * (SMS_MAX_CHARS // 4)
    assert twilio_post("/twilio/sms/incoming", sms_params("SM" + "8" * 32, body)).status_code == 200
    stored = Message.objects.get(role="customer").text
    assert len(stored) <= SMS_MAX_CHARS and stored.startswith("word word")
    assert stored.endswith(f"[cut at {SMS_MAX_CHARS:,} characters: {len(body.strip()):,} were received]")


def test_memory_api_stores_observation_text_without_control_characters():
    token = create_api_token(name="crm").raw
    response = Client().post(
        "/api/memory/observations",
        json.dumps(
            {
                "identity": {"channel": "email", "address": "ada@example.com"},
                "observations": [{"text": "Prefers\u0000 email\r\nafter 6pm\ud800"}],
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201, response.content
    assert Observation.objects.get().text == "Prefers email\nafter 6pm"


def test_transcript_with_a_line_separator_inside_a_message_is_imported(tmp_path):
    # Exporters that write UTF-8 as is (ensure_ascii=False) leave U+2028 raw inside JSON strings.
    record = {
        "customer": {"external_id": "crm-1", "name": "Ola\u0000"},
        "messages": [{"role": "customer", "text": "First line\u2028second line\x00"}],
    }
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    call_command("import_transcripts", str(path), stdout=StringIO(), stderr=StringIO())
    assert Message.objects.get().text == "First line\u2028second line"
    assert Customer.objects.get().display_name == "Ola"


def test_desk_reply_with_a_nul_is_stored_without_it(offline_use_case):
    agent = make_staff("alex")
    _, handoff = escalated_conversation()
    client = client_for(agent)
    client.post(f"/desk/handoffs/{handoff.pk}/accept")
    assert client.post(f"/desk/handoffs/{handoff.pk}/reply", {"text": "Hello\u0000 Noah"}).status_code == 204
    assert Message.objects.get(role="agent").text == "Hello Noah"
    too_long = client.post(f"/desk/handoffs/{handoff.pk}/reply", {"text": "x" * (MESSAGE_MAX_CHARS + 1)})
    assert too_long.status_code == 400 and b"limited to 4,000 characters" in too_long.content


# --- properties: arbitrary text at each entry point ----------------------------------------------------


@PROPERTY
@given(text=texts(_JSON_CHARACTERS, repeat_to=MESSAGE_MAX_CHARS + 200))
async def test_any_web_chat_text_is_stored_clean_or_refused_with_an_error_frame(offline_use_case, text):
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    client_id = uuid.uuid4().hex
    await chat.send_json_to({"type": "message", "text": text, "client_id": client_id})
    first = await next_frame(chat)
    expected = clean_text(text).strip()
    if len(expected) > MESSAGE_MAX_CHARS:
        assert (first["type"], first["code"]) == ("error", "text_too_long") and first["detail"]
    elif not expected:
        assert (first["type"], first["code"]) == ("error", "empty_text") and first["detail"]
    else:
        assert first["type"] == "ack", first
        stored = await database_sync_to_async(Message.objects.get)(id=first["message_id"])
        assert stored.text == expected
        answer = await frames_until(chat, lambda f: f["type"] in ("message", "error"))
        assert answer[-1]["type"] == "message", answer[-1]
    await chat.disconnect()


@PROPERTY
@given(body=texts(_FORM_CHARACTERS, repeat_to=SMS_MAX_CHARS + 500))
def test_any_sms_body_is_answered_with_twiml_and_stored(offline_use_case, fake_twilio, body):
    sid = "SM" + uuid.uuid4().hex
    response = twilio_post("/twilio/sms/incoming", sms_params(sid, body))
    assert response.status_code == 200, response.content
    stored = Message.objects.get(external_id=sid)
    assert stored.text == (cut_text(body, limit=SMS_MAX_CHARS) or "(empty message)")


async def _relay(call_sid: str) -> WebsocketCommunicator:
    relay = WebsocketCommunicator(
        application, RELAY_PATH, headers=[(b"x-twilio-signature", relay_signature().encode())]
    )
    connected, _ = await relay.connect()
    assert connected
    await relay.send_json_to(
        {
            "type": "setup",
            "callSid": call_sid,
            "from": "+14155550100",
            "customParameters": {"call_token": issue_call_token(call_sid=call_sid)},
        }
    )
    return relay


def _reply_ended(frame: dict) -> bool:
    return frame["type"] == "end" or (frame["type"] == "text" and frame["last"])


async def _customer_messages(call_sid: str) -> list[str]:
    return await database_sync_to_async(
        lambda: list(
            Message.objects.filter(conversation__external_id=call_sid, role="customer").values_list(
                "text", flat=True
            )
        )
    )()


@PROPERTY
@given(prompt=texts(_JSON_CHARACTERS, repeat_to=MESSAGE_MAX_CHARS + 200))
async def test_any_voice_prompt_is_stored_clean_and_answered(offline_use_case, prompt):
    call_sid = "CA" + uuid.uuid4().hex
    relay = await _relay(call_sid)
    await relay.send_json_to({"type": "prompt", "voicePrompt": prompt, "lang": "en-US", "last": True})
    expected = cut_text(prompt, limit=MESSAGE_MAX_CHARS)
    if expected:
        await frames_until(relay, _reply_ended)
        assert await _customer_messages(call_sid) == [expected]
    else:
        assert await relay.receive_nothing(timeout=0.3)
        assert await _customer_messages(call_sid) == []
    await relay.disconnect()


@PROPERTY
@given(digits=st.lists(st.text(_JSON_CHARACTERS, max_size=2).filter(lambda d: "#" not in d), max_size=40))
async def test_any_keypad_digits_become_input_of_keypad_characters_only(offline_use_case, digits):
    call_sid = "CA" + uuid.uuid4().hex
    relay = await _relay(call_sid)
    for digit in digits:
        await relay.send_json_to({"type": "dtmf", "digit": digit, "duration": 200})
    await relay.send_json_to({"type": "dtmf", "digit": "#"})
    kept = "".join(d for d in digits if len(d) == 1 and d in KEYPAD_DIGITS)[:MAX_KEYPAD_DIGITS]
    if kept:
        await frames_until(relay, _reply_ended)
        assert await _customer_messages(call_sid) == [f"Keypad entry: {kept}"]
    else:
        assert await relay.receive_nothing(timeout=0.3)
        assert await _customer_messages(call_sid) == []
    await relay.disconnect()


@PROPERTY
@given(
    name=st.one_of(st.none(), texts(_JSON_CHARACTERS, repeat_to=300)),
    email=st.one_of(st.none(), st.text(_JSON_CHARACTERS, max_size=30), st.emails()),
    phone=st.one_of(st.none(), st.text(_JSON_CHARACTERS, max_size=20)),
)
def test_any_chat_session_fields_open_a_session_or_get_a_clear_400(offline_use_case, name, email, phone):
    body = {key: value for key, value in {"name": name, "email": email, "phone": phone}.items() if value}
    response = Client().post("/api/chat/sessions", json.dumps(body), content_type="application/json")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["detail"]
    elif not email and not phone:  # a known email or phone is an existing customer, with their own name
        assert (
            Customer.objects.get(id=response.json()["customer_id"]).display_name
            == clean_text(name or "").strip()
        )


def _memory_post(path: str, body: dict, token: str):
    return Client().post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


@PROPERTY
@given(text=texts(_JSON_CHARACTERS, repeat_to=2200), query=texts(_JSON_CHARACTERS, repeat_to=2200))
def test_any_memory_api_text_is_stored_clean_or_gets_a_clear_400(text, query):
    token = create_api_token(name=uuid.uuid4().hex).raw
    identity = {"channel": "webchat", "address": f"v_{uuid.uuid4().hex}"}
    added = _memory_post(
        "/api/memory/observations", {"identity": identity, "observations": [{"text": text}]}, token
    )
    assert added.status_code in (201, 400), added.content
    if added.status_code == 201:
        [observation] = added.json()["observations"]
        assert observation["text"] == clean_text(text).strip()
    else:
        assert added.json()["detail"]
    recalled = _memory_post("/api/memory/recall", {"identity": identity, "query": query}, token)
    assert recalled.status_code in (200, 400, 404), recalled.content
    assert recalled.status_code != 404 or added.status_code == 400  # only an unknown customer is not found


@PROPERTY
@given(
    name=st.text(_JSON_CHARACTERS, max_size=30),
    lines=st.lists(texts(_JSON_CHARACTERS, repeat_to=300), min_size=1, max_size=3),
)
def test_any_transcript_text_is_imported_clean_or_its_line_rejected(tmp_path_factory, name, lines):
    external_id = uuid.uuid4().hex
    record = {
        "customer": {"external_id": external_id, "name": name},
        "messages": [{"role": "customer", "text": text} for text in lines],
    }
    path = tmp_path_factory.mktemp("import") / "t.jsonl"
    # Raw UTF-8 where JSON allows it, escapes where UTF-8 cannot hold the character (surrogates).
    path.write_text(
        json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8", errors="backslashreplace"
    )
    expected = [clean_text(text).strip() for text in lines]
    try:
        call_command("import_transcripts", str(path), stdout=StringIO(), stderr=StringIO())
    except CommandError as exc:
        assert "1 line(s) could not be imported" in str(exc)
        assert not all(expected)  # only a message left empty by cleaning is refused here
        assert not Customer.objects.filter(external_id=external_id).exists()
        return
    conversation = Conversation.objects.get(customer__external_id=external_id)
    stored = list(conversation.messages.order_by("created_at").values_list("text", flat=True))
    assert stored == expected
    assert conversation.customer.display_name == clean_text(name).strip()


@PROPERTY
@given(text=texts(_FORM_CHARACTERS, repeat_to=MESSAGE_MAX_CHARS + 200))
def test_any_desk_reply_is_stored_clean_or_refused_with_a_clear_error(offline_use_case, text):
    agent = make_staff(f"agent-{uuid.uuid4().hex[:8]}")
    _, handoff = escalated_conversation()
    client = client_for(agent)
    assert client.post(f"/desk/handoffs/{handoff.pk}/accept").status_code == 200
    response = client.post(f"/desk/handoffs/{handoff.pk}/reply", {"text": text})
    expected = clean_text(text).strip()
    if expected and len(expected) <= MESSAGE_MAX_CHARS:
        assert response.status_code == 204, response.content
        assert Message.objects.get(conversation_id=handoff.conversation_id, role="agent").text == expected
    else:
        assert response.status_code == 400 and b"Not sent:" in response.content
