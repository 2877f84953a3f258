"""Voice through Twilio ConversationRelay, against a live Daphne over real websockets."""

import asyncio
import json
import re
import urllib.request
import xml.etree.ElementTree as ET

import pytest
import websockets
import websockets.exceptions
from channels.db import database_sync_to_async
from django.conf import settings

from conversations.models import Conversation, Customer, Message
from handoff.defaults import seed_handoff_defaults
from handoff.models import Handoff
from orchestration.channels.voice import call_sid_from_token
from tests.builders import start_chat
from tests.fakes.openai_server import Reply
from tests.twilio.helpers import twilio_post
from tests.twilio.relay_client import RelayClient, relay_signature, spoken

pytestmark = pytest.mark.django_db(transaction=True)

CALL = "CA" + "0" * 31 + "1"


def call_params(call_sid: str = CALL, caller: str = "+14155550100") -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": settings.TWILIO_ACCOUNT_SID,
        "From": caller,
        "To": "+18885550123",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


def db(fn, *args, **kwargs):
    return database_sync_to_async(fn)(*args, **kwargs)


# The TwiML webhooks.


def test_incoming_call_connects_to_the_relay_with_the_configured_options(offline_use_case):
    offline_use_case.greeting = "Thanks for calling the store!"
    offline_use_case.save()
    response = twilio_post("/twilio/voice/incoming", call_params())
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    connect = root.find("Connect")
    assert connect.get("action") == "https://baton.example.test/twilio/voice/handoff"
    relay = connect.find("ConversationRelay")
    assert relay.get("url") == "wss://baton.example.test/ws/voice/relay"
    assert relay.get("welcomeGreeting") == "Thanks for calling the store!"
    assert relay.get("interruptible") == "any" and relay.get("dtmfDetection") == "true"
    assert relay.get("language") == settings.BATON_VOICE["language"]
    assert relay.get("ttsProvider") == settings.BATON_VOICE["tts_provider"]
    token = relay.find("Parameter[@name='call_token']").get("value")
    assert call_sid_from_token(token) == CALL
    conversation = Conversation.objects.get()
    assert (conversation.channel, conversation.external_id) == ("voice", CALL)
    twilio_post("/twilio/voice/incoming", call_params())  # Twilio's retry
    assert Conversation.objects.count() == 1


def test_incoming_call_without_a_use_case_greeting_uses_the_setting(offline_use_case):
    root = ET.fromstring(twilio_post("/twilio/voice/incoming", call_params()).content)
    relay = root.find("Connect/ConversationRelay")
    assert relay.get("welcomeGreeting") == settings.BATON_VOICE["welcome_greeting"]


def test_forged_incoming_call_gets_403_and_stores_nothing(offline_use_case):
    response = twilio_post("/twilio/voice/incoming", call_params(), signature="forged")
    assert response.status_code == 403
    assert Conversation.objects.count() == 0 and Customer.objects.count() == 0


def test_handoff_action_enqueues_the_caller_after_telling_them(offline_use_case, settings):
    twilio_post("/twilio/voice/incoming", call_params())
    conversation = Conversation.objects.get()
    from handoff.services import start_handoff

    handoff = start_handoff(conversation_id=conversation.id, reason="customer_request")
    data = json.dumps({"handoff_id": handoff.pk, "reason": "customer_request"})
    response = twilio_post(
        "/twilio/voice/handoff", {**call_params(), "HandoffData": data, "SessionStatus": "ended"}
    )
    root = ET.fromstring(response.content)
    assert root.find("Say").text.startswith("Please hold while I connect you")
    assert root.find("Enqueue").text == "baton-agents"
    assert Handoff.objects.count() == 1, "the relay's handoff is reused, not duplicated"
    settings.BATON_VOICE = {**settings.BATON_VOICE, "handoff_target": "dial:+15005550006"}
    root = ET.fromstring(twilio_post("/twilio/voice/handoff", {**call_params(), "HandoffData": data}).content)
    assert root.find("Dial/Number").text == "+15005550006"
    settings.BATON_VOICE = {**settings.BATON_VOICE, "handoff_target": "client:agent-desk"}
    root = ET.fromstring(twilio_post("/twilio/voice/handoff", {**call_params(), "HandoffData": data}).content)
    assert root.find("Dial/Client").text == "agent-desk"


def test_session_that_ended_normally_hangs_up(offline_use_case):
    twilio_post("/twilio/voice/incoming", call_params())
    response = twilio_post("/twilio/voice/handoff", {**call_params(), "SessionStatus": "completed"})
    assert ET.fromstring(response.content).find("Hangup") is not None
    assert Handoff.objects.count() == 0


def test_failed_relay_session_routes_the_caller_to_a_person(offline_use_case):
    twilio_post("/twilio/voice/incoming", call_params())
    response = twilio_post(
        "/twilio/voice/handoff", {**call_params(), "SessionStatus": "failed", "ErrorCode": "64101"}
    )
    assert ET.fromstring(response.content).find("Enqueue") is not None
    handoff = Handoff.objects.get()
    assert handoff.reason == "llm_failure" and "64101" in handoff.detail


def test_forged_handoff_action_is_refused(offline_use_case):
    twilio_post("/twilio/voice/incoming", call_params())
    response = twilio_post(
        "/twilio/voice/handoff", {**call_params(), "HandoffData": '{"reason":"x"}'}, signature="nope"
    )
    assert response.status_code == 403
    assert Handoff.objects.count() == 0


# The relay websocket, live.


@pytest.mark.parametrize("signature", ["", "forged", "other-token"])
async def test_relay_handshake_without_a_valid_signature_is_refused(offline_use_case, live_daphne, signature):
    if signature == "other-token":
        signature = relay_signature(token="someone-elses-token")
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await RelayClient.connect(live_daphne, signature=signature)
    assert refused.value.response.status_code == 403


def answer_call(call_sid: str = CALL) -> str:
    """Twilio's first step: the incoming-call webhook; returns the call token its TwiML hands the relay."""
    root = ET.fromstring(twilio_post("/twilio/voice/incoming", call_params(call_sid)).content)
    return root.find("Connect/ConversationRelay/Parameter[@name='call_token']").get("value")


async def test_prompt_streams_speakable_tokens_and_stores_the_reply(offline_use_case, live_daphne):
    session = await db(start_chat, name="Ada", phone="+1 415 555 0100")
    token = await db(answer_call)
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL, call_token=token)
    await relay.prompt("When is your support team available?")
    frames = await relay.reply()
    assert all(f["type"] == "text" for f in frames)
    assert len(frames) > 2 and frames[-1]["last"] is True
    assert all(f["last"] is False for f in frames[:-1])
    assert all(f["token"].endswith(" ") for f in frames[:-1]), "whole words only, never half a word"
    said = spoken(frames)
    assert "8am to 8pm" in said
    conversation = await db(Conversation.objects.select_related("customer").get, channel="voice")
    assert conversation.external_id == CALL
    assert str(conversation.customer_id) == session["customer_id"], "same phone, same customer as web chat"
    stored = await db(
        lambda: list(Message.objects.filter(conversation=conversation).values_list("role", "text"))
    )
    assert stored == [("customer", "When is your support team available?"), ("ai", said.strip())]
    await relay.close()


async def test_partial_prompts_are_not_answered(offline_use_case, live_daphne):
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.prompt("When is your", last=False)
    assert await relay.nothing_within(0.5)
    assert await db(Message.objects.count) == 0
    await relay.close()


async def test_interrupt_stops_the_stream_at_once_and_stores_what_was_heard(
    openai_use_case, fake_openai, live_daphne
):
    words = " ".join(f"word{i}" for i in range(60))
    fake_openai.script(Reply(text=words, chunk_delay=0.05), Reply(text="Sure, go ahead."))
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.prompt("Tell me a long story")
    first = [await relay.receive() for _ in range(3)]
    assert [f["token"] for f in first] == ["word0 ", "word1 ", "word2 "]
    await relay.interrupt("word0 word1")
    assert await relay.nothing_within(0.6), "nothing more may be sent for an interrupted turn"
    message = await db(Message.objects.get, role="ai")
    assert (message.text, message.interrupted) == ("word0 word1", True)
    await relay.prompt("Wait, one question")
    frames = await relay.reply()
    assert spoken(frames) == "Sure, go ahead."
    history = fake_openai.requests[-1]["messages"]
    assert {"role": "assistant", "content": "word0 word1"} in history, "the LLM remembers what was heard"
    await relay.close()


async def test_interrupt_while_speech_plays_a_finished_reply_corrects_the_stored_text(
    openai_use_case, fake_openai, live_daphne
):
    fake_openai.script(Reply(text="Your order shipped yesterday and arrives on Friday."))
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.prompt("Where is my order?")
    frames = await relay.reply()
    assert spoken(frames) == "Your order shipped yesterday and arrives on Friday."
    await asyncio.sleep(0.2)  # the runtime has stored the whole reply by now
    await relay.interrupt("Your order shipped")
    await asyncio.sleep(0.3)
    message = await db(Message.objects.get, role="ai")
    assert (message.text, message.interrupted) == ("Your order shipped", True)
    await relay.close()


async def test_a_caller_who_speaks_as_soon_as_a_reply_ends_does_not_cut_it_short(
    openai_use_case, fake_openai, live_daphne
):
    # The reply is all sent; what its turn still does (the operators on it) is no interruption.
    fake_openai.script(Reply(text="Your order shipped yesterday."), Reply(text="It arrives on Friday."))
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    for _ in range(3):
        await relay.prompt("Where is my order?")
        assert spoken(await relay.reply()) == "Your order shipped yesterday."
        await relay.prompt("When will it arrive?")  # at once, as the last word arrives
        assert spoken(await relay.reply()) == "It arrives on Friday."
        fake_openai.script(Reply(text="Your order shipped yesterday."), Reply(text="It arrives on Friday."))
    await asyncio.sleep(0.3)
    stored = await db(
        lambda: list(Message.objects.order_by("created_at").values_list("role", "text", "interrupted"))
    )
    assert stored == 3 * [
        ("customer", "Where is my order?", False),
        ("ai", "Your order shipped yesterday.", False),
        ("customer", "When will it arrive?", False),
        ("ai", "It arrives on Friday.", False),
    ]
    await relay.close()


async def test_keypad_digits_become_the_callers_input(openai_use_case, fake_openai, live_daphne):
    fake_openai.script(Reply(text="Thanks, looking up order 2611340."))
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    for digit in "2611340#":
        await relay.dtmf(digit)
    frames = await relay.reply()
    assert spoken(frames) == "Thanks, looking up order 2611340."
    customer = await db(Message.objects.get, role="customer")
    assert customer.text == "Keypad entry: 2611340"
    assert fake_openai.requests[-1]["messages"][-1] == {"role": "user", "content": "Keypad entry: 2611340"}
    await relay.close()


async def test_keypad_digits_are_submitted_after_a_pause_without_hash(
    offline_use_case, live_daphne, settings
):
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.dtmf("4")
    await relay.dtmf("2")
    await relay.reply(timeout=settings.BATON_VOICE["dtmf_timeout_seconds"] + 10)
    customer = await db(Message.objects.get, role="customer")
    assert customer.text == "Keypad entry: 42"
    await relay.close()


async def test_asking_for_a_person_ends_the_relay_with_handoff_data(offline_use_case, live_daphne):
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.prompt("I want to talk to a real person")
    frames = await relay.reply()
    end = frames[-1]
    assert end["type"] == "end"
    data = json.loads(end["handoffData"])
    handoff = await db(Handoff.objects.select_related("conversation").get)
    assert data["handoff_id"] == handoff.pk and data["reason"] == "customer_request"
    assert handoff.conversation.external_id == CALL and handoff.conversation.handler == "human"
    # Twilio then posts the Connect action with that HandoffData.
    response = await db(
        twilio_post, "/twilio/voice/handoff", {**call_params(), "HandoffData": end["handoffData"]}
    )
    assert ET.fromstring(response.content).find("Enqueue") is not None
    await relay.close()


async def test_an_operator_escalation_stops_the_ai_turn_before_its_first_word(
    openai_use_case, fake_openai, live_daphne
):
    # The AI turn starts beside the operators; an LLM that answers at once must still not be heard.
    await db(seed_handoff_defaults)
    fake_openai.script(Reply(text="I can certainly help you with that right away."))
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.prompt("This is a joke, my lawyer will hear about this")
    frames = await relay.reply()
    assert [f["type"] for f in frames] == ["end"]
    assert json.loads(frames[0]["handoffData"])["reason"] == "rule"
    conversation = await db(Conversation.objects.get, external_id=CALL)
    roles = await db(lambda: list(conversation.messages.values_list("role", flat=True)))
    assert Message.Role.AI not in roles  # no AI reply stored that the caller never heard
    assert await db(lambda: Handoff.objects.get(conversation=conversation).rule.name) == "Legal threat"
    await relay.close()


async def test_relay_error_messages_are_logged_and_counted(offline_use_case, live_daphne):
    def errors() -> float:
        with urllib.request.urlopen(f"http://{live_daphne}/metrics", timeout=5) as response:
            text = response.read().decode()
        match = re.search(r"^baton_voice_relay_errors_total (\S+)$", text, re.M)
        return float(match.group(1))

    before = await asyncio.to_thread(errors)
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.error('Invalid message received: { "foo" : "bar" }')
    await relay.prompt("When is your support team available?")
    await relay.reply()  # the session goes on
    assert await asyncio.to_thread(errors) == before + 1
    await relay.close()


async def test_hanging_up_closes_an_ai_call(offline_use_case, live_daphne):
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.prompt("Is shipping free?")
    await relay.reply()
    await relay.close()
    for _ in range(50):
        conversation = await db(Conversation.objects.get)
        if conversation.status == "closed":
            break
        await asyncio.sleep(0.1)
    assert conversation.status == "closed"


async def test_handoff_started_elsewhere_ends_the_relay(offline_use_case, live_daphne):
    from handoff.services import start_handoff

    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.prompt("Is shipping free?")
    await relay.reply()
    conversation = await db(Conversation.objects.get)
    handoff = await db(start_handoff, conversation_id=conversation.id, reason="supervisor")
    frame = await relay.receive()
    assert frame["type"] == "end"
    assert json.loads(frame["handoffData"])["handoff_id"] == handoff.pk
    assert json.loads(frame["handoffData"])["reason"] == "supervisor"
    await relay.prompt("hello?")
    assert await relay.nothing_within(0.5), "the AI never speaks once the call is with a person"
    await relay.close()


@pytest.mark.parametrize("token", ["forged", "other-call"])
async def test_setup_with_a_wrong_call_token_is_closed_and_stores_nothing(
    offline_use_case, live_daphne, token
):
    if token == "other-call":
        token = await db(answer_call, "CA" + "9" * 32)
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL, call_token=token)
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await relay.receive()
    assert closed.value.rcvd.code == 4403
    assert await db(Conversation.objects.filter(external_id=CALL).count) == 0


async def test_setup_without_a_call_token_follows_twilios_protocol_unless_strict(
    offline_use_case, transactional_db
):
    from tests.live_server import running_daphne

    with running_daphne() as address:
        relay = await RelayClient.connect(address)
        await relay.setup(CALL, call_token="")
        await relay.prompt("Is shipping free?")
        assert (await relay.reply())[-1]["last"] is True
        await relay.close()
    with running_daphne(extra_env={"BATON_VOICE_REQUIRE_CALL_TOKEN": "1"}) as address:
        relay = await RelayClient.connect(address)
        await relay.setup("CA" + "8" * 32, call_token="")
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await relay.receive()
        assert closed.value.rcvd.code == 4403
    assert await db(Conversation.objects.filter(external_id="CA" + "8" * 32).count) == 0


async def test_llm_failure_on_a_call_says_the_holding_reply_then_hands_off(
    openai_use_case, fake_openai, live_daphne
):
    fake_openai.script(Reply(status=500))
    relay = await RelayClient.connect(live_daphne)
    await relay.setup(CALL)
    await relay.prompt("Cancel my order")
    frames = await relay.reply()
    assert frames[0]["type"] == "text" and "trouble" in frames[0]["token"] and frames[0]["last"] is True
    end = frames[-1] if frames[-1]["type"] == "end" else await relay.receive()
    assert json.loads(end["handoffData"])["reason"] == "llm_failure"
    customer = await db(Message.objects.get, role="customer")
    assert customer.text == "Cancel my order", "the caller's words are never lost"
    await relay.close()


def test_withheld_caller_id_gets_an_anonymous_customer_of_their_own(offline_use_case):
    twilio_post("/twilio/voice/incoming", call_params(caller="anonymous"))
    twilio_post("/twilio/voice/incoming", call_params("CA" + "7" * 32, caller="anonymous"))
    conversations = list(Conversation.objects.all())
    assert len(conversations) == 2
    assert conversations[0].customer_id != conversations[1].customer_id, "anonymous callers are not merged"
