"""SMS through Twilio Messaging: inbound webhooks, the AI turn in the background, replies over the REST API."""

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
import redis.lock
import requests
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from conversations import delivery
from conversations.identity import normalize_phone
from conversations.models import Conversation, Delivery, Identity, Message, TwilioMessage
from conversations.services import Inbound
from infra import metrics
from infra.text import SMS_MAX_CHARS, cut_text

from .. import pipeline, runtime
from . import selectors
from .twilio_client import twilio_client
from .twilio_security import public_url

logger = logging.getLogger(__name__)

STATUS_CALLBACK_PATH = "/twilio/sms/status"
# One SMS turn at a time per conversation: the lock is a lease renewed while the turn runs, so one
# left by a killed worker expires in seconds; a second text waits for the running turn that long.
TURN_LEASE_SECONDS = 9
TURN_WAIT_SECONDS = 60
# A text still unanswered this long after it arrived may have lost its turn (a running one is left alone).
UNANSWERED_AFTER_SECONDS = 10
ENQUEUE_RETRY_SECONDS = 60

# Twilio joins the segments of one message body up to 1,600 characters (UTF-16 code units, to be safe).
MAX_BODY = 1600
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
FAILED_STATUSES = ("undelivered", "failed")


@dataclass(frozen=True)
class SmsReceived:
    message: Message
    conversation: Conversation
    created: bool


def _length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def sms_text(message: Message) -> str:
    """A reply as texted: its words, then the articles it answered from, by title (no links to tap)."""
    titles = list(dict.fromkeys(c.get("title", "") for c in message.citations if c.get("title")))
    if not titles:
        return message.text
    return f"{message.text}\n\n{'Source' if len(titles) == 1 else 'Sources'}: {'; '.join(titles)}"


def sms_bodies(text: str) -> list[str]:
    """The SMS bodies for a reply: one up to 1,600 characters, else parts cut at sentence ends, numbered "(1/2)".

    A sentence longer than a part is cut at a word, and a word longer than that (a URL) where it must.
    """
    text = text.strip()
    if _length(text) <= MAX_BODY:
        return [text] if text else []
    room = MAX_BODY - len(" (99/99)")
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        while _length(sentence) > room:
            cut = room
            while _length(sentence[:cut]) > room:
                cut -= 1
            space = sentence.rfind(" ", 0, cut)
            cut = space if space > room // 2 else cut
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        pieces.append(sentence)
    parts: list[str] = []
    for piece in pieces:
        if parts and _length(f"{parts[-1]} {piece}") <= room:
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return [f"{part} ({i}/{len(parts)})" for i, part in enumerate(parts, 1)]


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
            if _still_unanswered(seen.conversation):
                # Twilio retried because our first answer could not be queued (Redis was down).
                _queue_answer(seen.conversation.id)
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
            _queue_answer(accepted.conversation.id)
    return SmsReceived(message=accepted.message, conversation=accepted.conversation, created=accepted.created)


def _still_unanswered(conversation: Conversation) -> bool:
    return (
        conversation.status == Conversation.Status.OPEN
        and conversation.handler == Conversation.Handler.AI
        and selectors.awaits_answer(conversation_id=conversation.id)
    )


def _queue_answer(conversation_id: uuid.UUID) -> None:
    """Queue the AI turn after commit. The text is stored whatever happens: when the broker is down
    the webhook still answers 200 and a thread keeps trying for a minute (then `answer_waiting_texts`)."""
    transaction.on_commit(lambda: _enqueue_answer(str(conversation_id)))


def _enqueue_answer(conversation_id: str) -> None:
    from ..tasks import answer_sms  # the tasks module imports this one

    try:
        answer_sms.delay(conversation_id)
    except Exception as exc:  # the broker is down (Redis restarting): not on the webhook's time
        logger.warning(
            "could not queue the answer to %s (%r); trying again in the background", conversation_id, exc
        )
        threading.Thread(target=_enqueue_when_broker_back, args=(conversation_id,), daemon=True).start()


def _enqueue_when_broker_back(conversation_id: str) -> None:
    from ..tasks import answer_sms

    deadline = time.monotonic() + ENQUEUE_RETRY_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            answer_sms.delay(conversation_id)
            return
        except Exception:
            continue
    logger.error(
        "the answer to %s is not queued: the sweep of unanswered texts will queue it", conversation_id
    )


async def _turn_messages(conversation_id: uuid.UUID) -> list[uuid.UUID]:
    return [
        event.message.id
        async for event in runtime.ai_turn_events(conversation_id)
        if isinstance(event, runtime.TurnMessage)
    ]


class TurnBusy(Exception):
    """Another turn of the conversation held the lock too long; the waiting-texts sweep answers later."""


@contextmanager
def _one_turn_at_a_time(conversation_id: uuid.UUID, *, wait: bool = True) -> Iterator[None]:
    # Two texts in quick succession run as two tasks, maybe on two workers: one turn at a time.
    if not settings.REDIS_URL:
        yield  # embedded mode: tasks run in-process, there is no other worker
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    # A lease, renewed while the turn runs: a lock left by a killed worker frees itself in seconds.
    # Not thread-local: the thread renewing the lease must see the owner's token.
    lock = client.lock(f"baton:sms-turn:{conversation_id}", timeout=TURN_LEASE_SECONDS, thread_local=False)
    try:
        if not lock.acquire(blocking=wait, blocking_timeout=TURN_WAIT_SECONDS):
            raise TurnBusy(f"conversation {conversation_id} has a turn running")
        done = threading.Event()
        renewer = threading.Thread(target=_renew_lease, args=(lock, done), daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join(timeout=1)
            _release(lock)
    finally:
        client.close()


def _renew_lease(lock: redis.lock.Lock, done: threading.Event) -> None:
    while not done.wait(TURN_LEASE_SECONDS / 3):
        try:
            lock.reacquire()
        except (redis.exceptions.LockError, redis.exceptions.ConnectionError) as exc:
            logger.warning("could not renew %s: %r", lock.name, exc)


def _release(lock: redis.lock.Lock) -> None:
    # A lock left behind (Redis restarting as the turn ended) would hold the next texts back until
    # it expires: try again for a few seconds while Redis comes back.
    for attempt in range(10):
        try:
            lock.release()
            return
        except redis.exceptions.LockError:
            return  # expired already, or taken over: nothing of ours is left
        except redis.exceptions.ConnectionError:
            if attempt == 9:
                logger.warning("could not release %s; it expires in %s s", lock.name, TURN_LEASE_SECONDS)
                return
            time.sleep(0.5)


def answer_sms(*, conversation_id: uuid.UUID, wait: bool = True) -> list[uuid.UUID]:
    """Run the AI turn for the conversation's latest SMS; returns the messages it stored.

    Every message the turn stores (replies, the holding reply, a handoff's notice) is texted by the
    outbox. Idempotent: when the latest message already has an answer (an earlier turn covered it,
    or the task is redelivered) nothing runs.
    """
    try:
        with _one_turn_at_a_time(conversation_id, wait=wait):
            if not selectors.awaits_answer(conversation_id=conversation_id):
                return []
            return async_to_sync(_turn_messages)(conversation_id)
    except TurnBusy as exc:
        logger.info("%s; a text it does not cover is answered by the next sweep", exc)
        return []


def answer_waiting_texts(*, now: datetime | None = None) -> int:
    """Queue the AI's answer again for texts left unanswered: the task was lost (a worker killed mid-turn,
    whose task Redis hands back only after an hour, or Redis down when the text arrived).

    Runs periodically; one query finds them. Idempotent with the task: `answer_sms` answers a text once,
    and a conversation whose turn is running is left to that turn.
    """
    now = now or timezone.now()
    latest_role = Subquery(
        Message.objects.filter(conversation_id=OuterRef("pk")).order_by("-created_at").values("role")[:1]
    )
    waiting = list(
        Conversation.objects.filter(
            channel=Conversation.Channel.SMS,
            status=Conversation.Status.OPEN,
            handler=Conversation.Handler.AI,
            last_message_at__lt=now - timedelta(seconds=UNANSWERED_AFTER_SECONDS),
            last_message_at__gte=now - timedelta(hours=1),
        )
        .annotate(latest_role=latest_role)
        .filter(latest_role=Message.Role.CUSTOMER)
        .values_list("id", flat=True)
    )
    from ..tasks import answer_sms as answer_sms_task  # the tasks module imports this one

    for conversation_id in waiting:
        answer_sms_task.delay(str(conversation_id), wait=False)
    if waiting:
        logger.warning("%s texts had no answer: their AI turns are queued again", len(waiting))
    return len(waiting)


def deliver_by_sms(pending: Delivery) -> None:
    """The outbox's SMS transport: text the message from a Celery task (Twilio's API is a network call)."""
    from ..tasks import send_sms_reply  # the tasks module imports this one

    send_sms_reply.delay(str(pending.message_id))


def send_reply_by_sms(*, message_id: uuid.UUID) -> list[TwilioMessage]:
    """Text a stored reply through Twilio's REST API: one message up to 1,600 characters, else numbered parts.

    Store first, then send: each part is a row before it reaches Twilio, and a part that already has
    a MessageSid is never sent again. The delivery is claimed while sending, so a retry running at
    the same time sends nothing. A transient failure (Twilio unreachable, 5xx, 429) leaves the
    delivery pending for the outbox's retry; a refusal fails it for good, loudly.
    """
    pending = Delivery.objects.filter(message_id=message_id, channel=Conversation.Channel.SMS).first()
    if pending is None:
        raise ValueError(f"message {message_id} has no SMS delivery")
    claimed = delivery.claim(delivery_id=pending.pk)
    if claimed is None:
        return []  # sent, failed for good, or being sent by another task right now
    message = claimed.message
    conversation = message.conversation
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
            for index, body in enumerate(sms_bodies(sms_text(message)))
        ]
    client = twilio_client()
    for row in rows:
        if row.sid:
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
                delivery.note_transient_error(
                    delivery_id=claimed.pk, error=f"Twilio answered {exc.status}: {exc.msg}"
                )
                return rows
            row.status = TwilioMessage.Status.FAILED
            row.error_code = str(exc.code or exc.status)
            row.error_message = str(exc.msg)[:1000]
            row.save(update_fields=["status", "error_code", "error_message", "updated_at"])
            metrics.SMS_SENT.labels(outcome="failed").inc()
            # Later parts make no sense without this one.
            delivery.mark_failed(
                delivery_id=claimed.pk, error=f"Twilio refused the SMS ({row.error_code}): {exc.msg}"
            )
            return rows
        except (TwilioException, requests.RequestException) as exc:
            metrics.SMS_SENT.labels(outcome="retry").inc()
            delivery.note_transient_error(delivery_id=claimed.pk, error=f"Twilio unreachable: {exc}")
            return rows
        row.sid = sent.sid
        row.status = sent.status or TwilioMessage.Status.QUEUED
        row.save(update_fields=["sid", "status", "updated_at"])
        metrics.SMS_SENT.labels(outcome="sent").inc()
    delivery.mark_sent(delivery_id=claimed.pk)
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
        if row.direction == TwilioMessage.Direction.OUTBOUND and row.status in FAILED_STATUSES:
            failed = Delivery.objects.filter(message_id=row.message_id, channel=Conversation.Channel.SMS)
            for pending in failed.exclude(status=Delivery.Status.FAILED):
                explained = f": {row.error_message}" if row.error_message else ""
                delivery.mark_failed(
                    delivery_id=pending.pk,
                    error=f"Twilio reported the SMS {row.status} (error {row.error_code or '?'}){explained}",
                )
    return row
