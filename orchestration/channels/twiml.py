"""TwiML documents for voice calls, built with the `twilio` library."""

import logging

from django.conf import settings
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from .twilio_security import public_url

logger = logging.getLogger(__name__)

RELAY_PATH = "/ws/voice/relay"
HANDOFF_PATH = "/twilio/voice/handoff"
DEFAULT_HANDOFF_TARGET = "enqueue:baton-agents"


def connect_to_relay(*, greeting: str, call_token: str) -> str:
    """Connect the call to Baton's ConversationRelay socket; when the session ends Twilio posts to the handoff URL."""
    voice = settings.BATON_VOICE
    response = VoiceResponse()
    connect = Connect(action=public_url(HANDOFF_PATH), method="POST")
    options = {
        "url": public_url(RELAY_PATH, websocket=True),
        "welcome_greeting": greeting or voice["welcome_greeting"],
        "welcome_greeting_interruptible": voice["interruptible"],
        "interruptible": voice["interruptible"],
        "dtmf_detection": "true",
        "language": voice["language"],
        "tts_provider": voice["tts_provider"],
        "transcription_provider": voice["transcription_provider"],
    }
    if voice["voice"]:
        options["voice"] = voice["voice"]
    relay = connect.conversation_relay(**{k: v for k, v in options.items() if v})
    relay.parameter(name="call_token", value=call_token)
    response.append(connect)
    return str(response)


def _target() -> tuple[str, str]:
    kind, _, value = settings.BATON_VOICE["handoff_target"].partition(":")
    if kind in ("enqueue", "dial", "client") and value.strip():
        return kind, value.strip()
    logger.error(
        "BATON_VOICE_HANDOFF_TARGET=%r is not enqueue:<queue>, dial:<number> or client:<identity>; using %s",
        settings.BATON_VOICE["handoff_target"],
        DEFAULT_HANDOFF_TARGET,
    )
    kind, _, value = DEFAULT_HANDOFF_TARGET.partition(":")
    return kind, value


def route_to_human(*, say: str) -> str:
    """Tell the caller a person is coming, then put them in the agents' queue or dial the configured person."""
    response = VoiceResponse()
    if say:
        response.say(say, language=settings.BATON_VOICE["language"])
    kind, value = _target()
    if kind == "enqueue":
        response.enqueue(value)
    else:
        dial = Dial()
        dial.number(value) if kind == "dial" else dial.client(value)
        response.append(dial)
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def no_sms_reply() -> str:
    """An empty `<Response/>`: the SMS webhook's answer, since replies go out through the REST API."""
    return str(MessagingResponse())
