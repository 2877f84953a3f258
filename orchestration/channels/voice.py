"""Voice calls through Twilio ConversationRelay: the call's conversation, interrupted replies, routing to a person."""

import logging
import uuid
from dataclasses import dataclass

from django.core import signing
from django.db import connection, transaction

from conversations import selectors as conversation_selectors
from conversations import services
from conversations.identity import InvalidAddress, normalize_phone
from conversations.models import Conversation, Identity, Message
from handoff import services as handoff_services
from handoff.models import Handoff
from infra import event_types
from infra.events import send_event_on_commit
from infra.groups import conversation_group, conversation_staff_group, supervisors_group

from . import selectors

logger = logging.getLogger(__name__)

NOTHING_HEARD = "…"
_CALL_TOKEN_SALT = "baton.voice.call"
CALL_TOKEN_MAX_AGE_SECONDS = 4 * 3600


class BadCallToken(Exception):
    pass


def issue_call_token(*, call_sid: str) -> str:
    """A signed token naming the call Baton answered; the TwiML hands it to the relay as a custom parameter.

    The handshake signature covers only the fixed wss URL, so it alone would let a replayed
    handshake speak for any call; the token ties a relay session to one call Baton itself answered.
    """
    return signing.dumps({"c": call_sid}, salt=_CALL_TOKEN_SALT)


def call_sid_from_token(token: str) -> str:
    """The CallSid a valid, unexpired call token names; BadCallToken otherwise."""
    try:
        return str(signing.loads(token, salt=_CALL_TOKEN_SALT, max_age=CALL_TOKEN_MAX_AGE_SECONDS)["c"])
    except (signing.BadSignature, KeyError, TypeError) as exc:
        raise BadCallToken("invalid or expired call token") from exc


@dataclass(frozen=True)
class Call:
    conversation: Conversation
    identity_channel: str
    address: str


def caller_identity(*, from_number: str, call_sid: str) -> tuple[str, str]:
    """(identity channel, address) of a caller: their phone, or an anonymous id for withheld or SIP callers."""
    try:
        return Identity.Channel.PHONE, normalize_phone(from_number)
    except InvalidAddress:
        return Identity.Channel.WEBCHAT, f"call:{call_sid}"


def open_call(*, call_sid: str, from_number: str) -> Call:
    """The voice conversation of `call_sid`, opening it for the caller's customer on first sight.

    Idempotent per CallSid (the incoming webhook and the relay setup both call it, Twilio retries).
    """
    if not call_sid:
        raise ValueError("a call needs its CallSid")
    identity_channel, address = caller_identity(from_number=from_number, call_sid=call_sid)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Serialise the webhook and the relay setup for the same call.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"voice-call:{call_sid}"])
        conversation = (
            Conversation.objects.select_related("use_case")
            .filter(channel=Conversation.Channel.VOICE, external_id=call_sid)
            .first()
        )
        if conversation is None:
            customer = services.resolve_customer(identities=[(identity_channel, address)])
            conversation = services.open_conversation(customer=customer, channel=Conversation.Channel.VOICE)
            conversation.external_id = call_sid
            conversation.save(update_fields=["external_id", "updated_at"])
    return Call(conversation=conversation, identity_channel=identity_channel, address=address)


def record_interrupted_reply(
    *, conversation_id: uuid.UUID, message_id: uuid.UUID, heard_text: str
) -> Message:
    """Store an AI reply the caller cut short as what they actually heard, marked `interrupted`.

    Works whether or not the runtime stored the whole reply already (the interrupt usually arrives
    while text-to-speech is still playing a reply that finished streaming).
    """
    text = heard_text.strip() or NOTHING_HEARD
    with transaction.atomic():
        message = (
            Message.objects.select_for_update().filter(id=message_id, conversation_id=conversation_id).first()
        )
        if message is None:
            return services.record_reply(
                conversation_id=conversation_id,
                role=Message.Role.AI,
                text=text,
                message_id=message_id,
                interrupted=True,
            )
        message.text = text
        message.interrupted = True
        message.save(update_fields=["text", "interrupted"])
        # Same message id: listeners replace the text they showed.
        send_event_on_commit(
            [
                conversation_group(conversation_id),
                conversation_staff_group(conversation_id),
                supervisors_group(),
            ],
            event_types.MESSAGE_CREATED,
            {**conversation_selectors.message_payload(message), "interrupted": True},
        )
    return message


def end_call(*, conversation_id: uuid.UUID) -> None:
    """Close the call's conversation when the AI still held it; a handed-off call stays with its person."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(id=conversation_id).first()
        if (
            conversation
            and conversation.status == Conversation.Status.OPEN
            and conversation.handler == Conversation.Handler.AI
        ):
            services.set_conversation_state(conversation=conversation, status=Conversation.Status.CLOSED)


def route_call_to_human(*, call_sid: str, reason: str, detail: str = "") -> Handoff | None:
    """The call's live handoff, starting one (idempotent) when the relay ended without one; None for an unknown call."""
    conversation = selectors.call_conversation(call_sid=call_sid)
    if conversation is None:
        logger.warning("handoff requested for unknown call %s", call_sid)
        return None
    if reason not in Handoff.Reason.values:
        reason = Handoff.Reason.LLM_FAILURE
    return handoff_services.start_handoff(conversation_id=conversation.id, reason=reason, detail=detail)
