"""SMS through Twilio Messaging: inbound webhooks, the AI turn in the background, replies over the REST API."""

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
import requests
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from conversations.identity import normalize_phone
from conversations.models import Conversation, Identity, Message, TwilioMessage
from conversations.services import Inbound
from infra import metrics
from infra.text import SMS_MAX_CHARS, cut_text

from .. import pipeline, runtime
from . import selectors
from .twilio_client import twilio_client
from .twilio_security import public_url

logger = logging.getLogger(__name__)

STATUS_CALLBACK_PATH = "/twilio/sms/status"
TURN_LOCK_SECONDS = 120

# GSM 03.38: what fits 160 characters to a single SMS; anything else makes the whole message UCS-2 (70).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")  # two units each (escape + character)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# Later statuses never go back to earlier ones: callbacks can arrive out of order.
_STATUS_RANK = {
    "pending": 0,
    "accepted": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "read": 6,
}


class TransientSmsError(Exception):
    """Twilio could not be reached or answered 5xx/429: worth retrying later."""


@dataclass(frozen=True)
class SmsReceived:
    message: Message
    conversation: Conversation
    created: bool


def _is_gsm(text: str) -> bool:
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def sms_units(text: str) -> int:
    """How many encoding units `text` takes: GSM-7 septets, or UTF-16 code units when it needs UCS-2."""
    if _is_gsm(text):
        return sum(2 if c in _GSM_EXTENDED else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def split_sms(text: str) -> list[str]:
    """Split a reply into parts that each fit one SMS (160 GSM-7 or 70 UCS-2), at sentences, then words."""
    text = text.strip()
    capacity = 160 if _is_gsm(text) else 70
    if sms_units(text) <= capacity:
        return [text] if text else []
    parts: list[str] = []
    current = ""

    def fits(candidate: str) -> bool:
        return sms_units(candidate) <= capacity

    def add(piece: str, sep: str) -> None:
        nonlocal current
        candidate = f"{current}{sep}{piece}" if current else piece
        if fits(candidate):
            current = candidate
            return
        if current:
            parts.append(current)
            current = ""
        if fits(piece):
            current = piece
            return
        for word in piece.split():
            candidate = f"{current} {word}" if current else word
            if fits(candidate):
                current = candidate
                continue
            if current:
                parts.append(current)
                current = ""
            while not fits(word):  # a single "word" longer than an SMS (a URL): cut it
                cut = capacity
                while not fits(word[:cut]):
                    cut -= 1
                parts.append(word[:cut])
                word = word[cut:]
            current = word

    for sentence in _SENTENCE_END.split(text):
        add(sentence, " ")
    if current:
        parts.append(current)
    return parts


def receive_sms(
    *, message_sid: str, from_number: str, to_number: str, body: str, num_media: int = 0
) -> SmsReceived:
    """Store an inbound SMS once per MessageSid (Twilio retries) and queue the AI's answer when it holds the conversation.

    Raises InvalidAddress when `from_number` is not a phone number that can be answered.
    """
    # Never refused: a 4xx/5xx makes Twilio retry the same body, and the message would never be stored.
    body = cut_text(body, limit=SMS_MAX_CHARS)
    text = body
    if num_media:
        note = f"[{num_media} attachment{'s' if num_media > 1 else ''} not shown]"
        text = f"{text}\n{note}" if text else note
    with transaction.atomic():
        seen = TwilioMessage.objects.select_related("message", "conversation").filter(sid=message_sid).first()
        if seen:
            return SmsReceived(message=seen.message, conversation=seen.conversation, created=False)
        accepted = pipeline.accept_customer_message(
            Inbound(
                channel=Conversation.Channel.SMS,
                identity_channel=Identity.Channel.PHONE,
                address=from_number,
                text=text or "(empty message)",
                external_id=message_sid,
            )
        )
        if accepted.created:
            try:
                with transaction.atomic():
                    TwilioMessage.objects.create(
                        conversation=accepted.conversation,
                        message=accepted.message,
                        direction=TwilioMessage.Direction.INBOUND,
                        sid=message_sid,
                        from_number=normalize_phone(from_number),
                        to_number=to_number,
                        body=body,
                        status=TwilioMessage.Status.RECEIVED,
                    )
            except IntegrityError:
                pass  # the same MessageSid is being stored by a concurrent retry
        if accepted.created and accepted.ai_should_reply:
            from ..tasks import answer_sms  # the tasks module imports this one

            conversation_id = str(accepted.conversation.id)
            transaction.on_commit(lambda: answer_sms.delay(conversation_id))
    return SmsReceived(message=accepted.message, conversation=accepted.conversation, created=accepted.created)


async def _turn_replies(conversation_id: uuid.UUID) -> list[uuid.UUID]:
    started = timezone.now()
    replies: list[uuid.UUID] = []
    handed_off = False
    async for event in runtime.ai_turn_events(conversation_id):
        if isinstance(event, runtime.TurnMessage):
            replies.append(event.message.id)
        elif isinstance(event, runtime.TurnHandoff):
            handed_off = True
    if handed_off:
        # The handoff stores its own "a person is coming" message; the customer must get it too.
        from channels.db import database_sync_to_async

        notices = await database_sync_to_async(
            lambda: list(
                Message.objects.filter(
                    conversation_id=conversation_id, role=Message.Role.SYSTEM, created_at__gte=started
                )
                .exclude(id__in=replies)
                .order_by("created_at")
                .values_list("id", flat=True)
            )
        )()
        replies.extend(notices)
    return replies


@contextmanager
def _one_turn_at_a_time(conversation_id: uuid.UUID) -> Iterator[None]:
    # Two texts in quick succession run as two tasks, maybe on two workers: one turn at a time.
    if not settings.REDIS_URL:
        yield  # embedded mode: tasks run in-process, there is no other worker
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        with client.lock(
            f"baton:sms-turn:{conversation_id}", timeout=TURN_LOCK_SECONDS, blocking_timeout=TURN_LOCK_SECONDS
        ):
            yield
    finally:
        client.close()


def answer_sms(*, conversation_id: uuid.UUID) -> list[uuid.UUID]:
    """Run the AI turn for the conversation's latest SMS and text every reply it produced back to the customer.

    Idempotent: when the latest message already has an answer (an earlier turn covered it, or the
    task is redelivered) nothing runs and nothing is sent.
    """
    with _one_turn_at_a_time(conversation_id):
        if not selectors.awaits_answer(conversation_id=conversation_id):
            return []
        replies = async_to_sync(_turn_replies)(conversation_id)
    from ..tasks import send_sms_reply  # the tasks module imports this one

    for message_id in replies:
        send_sms_reply.delay(str(message_id))
    return replies


def send_reply_by_sms(*, message_id: uuid.UUID) -> list[TwilioMessage]:
    """Text a stored reply to the customer through Twilio's REST API, split into SMS-sized parts.

    Store first, then send: each part is a row before it reaches Twilio, and a part that already has
    a MessageSid is never sent again, so retries after a crash or a 5xx do not duplicate it.
    Raises TransientSmsError when Twilio is unreachable or overloaded (the task retries).
    """
    message = Message.objects.select_related("conversation").get(id=message_id)
    conversation = message.conversation
    if conversation.channel != Conversation.Channel.SMS:
        raise ValueError(f"conversation {conversation.id} is on {conversation.channel}, not SMS")
    to_number, from_number = selectors.sms_addresses(conversation=conversation)
    with transaction.atomic():
        rows = [
            TwilioMessage.objects.get_or_create(
                message=message,
                direction=TwilioMessage.Direction.OUTBOUND,
                part=index,
                defaults={
                    "conversation": conversation,
                    "from_number": from_number,
                    "to_number": to_number,
                    "body": body,
                },
            )[0]
            for index, body in enumerate(split_sms(message.text))
        ]
    client = twilio_client()
    for row in rows:
        if row.sid or row.status == TwilioMessage.Status.FAILED:
            continue
        try:
            sent = client.messages.create(
                to=row.to_number,
                from_=row.from_number,
                body=row.body,
                status_callback=public_url(STATUS_CALLBACK_PATH),
            )
        except TwilioRestException as exc:
            if exc.status >= 500 or exc.status == 429:
                metrics.SMS_SENT.labels(outcome="retry").inc()
                raise TransientSmsError(f"Twilio answered {exc.status}: {exc.msg}") from exc
            row.status = TwilioMessage.Status.FAILED
            row.error_code = str(exc.code or exc.status)
            row.error_message = str(exc.msg)[:1000]
            row.save(update_fields=["status", "error_code", "error_message", "updated_at"])
            metrics.SMS_SENT.labels(outcome="failed").inc()
            logger.warning("SMS part %s of message %s refused by Twilio: %s", row.part, message_id, exc.msg)
            break  # later parts make no sense without this one
        except (TwilioException, requests.RequestException) as exc:
            metrics.SMS_SENT.labels(outcome="retry").inc()
            raise TransientSmsError(f"Twilio unreachable: {exc}") from exc
        row.sid = sent.sid
        row.status = sent.status or TwilioMessage.Status.QUEUED
        row.save(update_fields=["sid", "status", "updated_at"])
        metrics.SMS_SENT.labels(outcome="sent").inc()
    return rows


def record_sms_status(
    *, message_sid: str, status: str, error_code: str = "", error_message: str = ""
) -> TwilioMessage | None:
    """Record a delivery status callback; idempotent, and a late callback never moves the status backwards."""
    with transaction.atomic():
        row = TwilioMessage.objects.select_for_update().filter(sid=message_sid).first()
        if row is None:
            logger.info("status callback for unknown MessageSid %s", message_sid)
            return None
        entry = {"status": status, "error_code": error_code}
        if entry not in [{k: e.get(k, "") for k in entry} for e in row.status_history]:
            row.status_history.append({**entry, "at": timezone.now().isoformat()})
        if _STATUS_RANK.get(status, -1) >= _STATUS_RANK.get(row.status, 0):
            row.status = status
        if error_code:
            row.error_code = error_code
            row.error_message = error_message[:1000] or row.error_message
        row.save(update_fields=["status", "status_history", "error_code", "error_message", "updated_at"])
    return row


def text_reply_if_sms(sender, *, message: Message, **kwargs) -> None:
    """Receiver of `reply_needs_delivery`: text a reply on an SMS conversation in the background."""
    if message.conversation.channel != Conversation.Channel.SMS:
        return
    from ..tasks import send_sms_reply  # the tasks module imports this one

    send_sms_reply.delay(str(message.id))
