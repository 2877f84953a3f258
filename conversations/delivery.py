"""The outbox: the one path by which a message a customer should see reaches them.

Every AI, agent and system message on a web chat or SMS conversation gets a `Delivery` row in the
transaction that stores it (`record_reply`). After commit the channel's transport sends it (the
channel adapters register one per channel at start-up); a delivery still pending when its
`next_attempt_at` passes (a crash, Redis or Twilio down) is sent again by `retry_due_deliveries`,
with backoff, until it is sent or fails for good. A failure for good is loud: the
`delivery_failed` signal (a supervisor signal, the desk marks the message), a metric, a log line.

Voice has no outbox: the relay speaks the AI's words as they stream and TwiML speaks the handoff
notice, inside the call; a call that has ended cannot be spoken to later.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from infra import metrics

from .models import Conversation, Delivery, Message
from .signals import delivery_failed

logger = logging.getLogger(__name__)

DELIVERED_CHANNELS = (Conversation.Channel.WEBCHAT, Conversation.Channel.SMS)
CUSTOMER_VISIBLE_ROLES = (Message.Role.AI, Message.Role.AGENT, Message.Role.SYSTEM)
# The first send happens at commit; the sweep only steps in when that one did not finish in time.
FIRST_RETRY_SECONDS = 10
RETRY_BACKOFF_SECONDS = 10  # doubled on each attempt: 10, 20, 40, 80, 160 s (about five minutes in all)
MAX_ATTEMPTS = 6
CLAIM_SECONDS = 30
SWEEP_BATCH = 200

Transport = Callable[[Delivery], None]
_transports: dict[str, Transport] = {}


def register_transport(channel: str, send: Transport) -> None:
    """Set how deliveries on `channel` are sent; the channel adapters call it in `AppConfig.ready`.

    `send` must not raise for a transient failure it cannot finish now: it leaves the delivery pending
    (the sweep retries it) and reports through `mark_sent`, `note_transient_error` or `mark_failed`.
    """
    _transports[channel] = send


def add_delivery(*, message: Message, channel: str) -> Delivery | None:
    """Queue `message` for its customer, inside the caller's transaction; it is sent after commit."""
    if channel not in DELIVERED_CHANNELS or message.role not in CUSTOMER_VISIBLE_ROLES:
        return None
    delivery = Delivery.objects.create(
        message=message,
        channel=channel,
        next_attempt_at=timezone.now() + timedelta(seconds=FIRST_RETRY_SECONDS),
    )
    transaction.on_commit(lambda: dispatch(delivery))
    return delivery


def dispatch(delivery: Delivery) -> None:
    """Hand a pending delivery to its channel's transport; whatever goes wrong, the sweep tries again."""
    send = _transports.get(delivery.channel)
    if send is None:
        logger.error(
            "no transport for %s deliveries: message %s waits", delivery.channel, delivery.message_id
        )
        return
    try:
        send(delivery)
    except Exception as exc:
        logger.warning(
            "delivery of message %s on %s failed, will retry: %r", delivery.message_id, delivery.channel, exc
        )
        note_transient_error(delivery_id=delivery.pk, error=repr(exc))


def claim(*, delivery_id: int) -> Delivery | None:
    """Take a pending delivery for sending; None when it is already sent, failed or being sent."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True)
            .select_related("message__conversation")
            .filter(id=delivery_id, status=Delivery.Status.PENDING)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .first()
        )
        if delivery is None:
            return None
        delivery.claimed_until = now + timedelta(seconds=CLAIM_SECONDS)
        delivery.save(update_fields=["claimed_until", "updated_at"])
    return delivery


def mark_sent(*, delivery_id: int) -> None:
    now = timezone.now()
    updated = Delivery.objects.filter(id=delivery_id, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.SENT, sent_at=now, claimed_until=None, updated_at=now
    )
    if updated:
        channel = Delivery.objects.filter(id=delivery_id).values_list("channel", flat=True).first()
        metrics.DELIVERIES.labels(channel=channel, outcome="sent").inc()


def mark_received(*, message_id: uuid.UUID, channel: str) -> None:
    """A customer's client took the message (a web chat socket sent it on): the delivery is done."""
    now = timezone.now()
    received = Delivery.objects.filter(
        message_id=message_id, channel=channel, status=Delivery.Status.PENDING
    ).update(status=Delivery.Status.SENT, sent_at=now, claimed_until=None, updated_at=now)
    if received:
        metrics.DELIVERIES.labels(channel=channel, outcome="sent").inc(received)


def note_transient_error(*, delivery_id: int, error: str) -> None:
    """A send that may work later: keep the delivery pending for the sweep, with the error on record."""
    Delivery.objects.filter(id=delivery_id, status=Delivery.Status.PENDING).update(
        last_error=error[:2000], claimed_until=None, updated_at=timezone.now()
    )
    channel = Delivery.objects.filter(id=delivery_id).values_list("channel", flat=True).first()
    metrics.DELIVERIES.labels(channel=channel or "", outcome="retry").inc()


def mark_failed(*, delivery_id: int, error: str) -> None:
    """The message will never reach the customer this way: say so loudly. Idempotent.

    A sent SMS can still fail here when Twilio's status callback reports it undelivered.
    """
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(id=delivery_id)
            .exclude(status=Delivery.Status.FAILED)
            .first()
        )
        if delivery is None:
            return
        delivery.status = Delivery.Status.FAILED
        delivery.last_error = error[:2000]
        delivery.claimed_until = None
        delivery.save(update_fields=["status", "last_error", "claimed_until", "updated_at"])
        channel, message_id = delivery.channel, delivery.message_id
        logger.error("message %s could not be delivered on %s: %s", message_id, channel, error)
        transaction.on_commit(lambda: metrics.DELIVERIES.labels(channel=channel, outcome="failed").inc())
        transaction.on_commit(
            lambda: delivery_failed.send(sender=Delivery, message_id=message_id, channel=channel, error=error)
        )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))


def retry_due_deliveries(*, now: datetime | None = None) -> int:
    """Send again every pending delivery whose time has come; give up on those out of attempts.

    Runs periodically (Celery beat, or the in-process scheduler). Returns how many it handed over.
    """
    now = now or timezone.now()
    retry: list[Delivery] = []
    give_up: list[tuple[int, str]] = []
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at")[:SWEEP_BATCH]
        )
        for delivery in due:
            if delivery.attempts >= MAX_ATTEMPTS:
                give_up.append(
                    (delivery.pk, f"gave up after {delivery.attempts} attempts: {delivery.last_error or '?'}")
                )
                continue
            delivery.attempts += 1
            delivery.next_attempt_at = now + _backoff(delivery.attempts)
            delivery.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
            retry.append(delivery)
    for delivery_id, error in give_up:
        mark_failed(delivery_id=delivery_id, error=error)
    for delivery in retry:
        dispatch(delivery)
    if retry:
        logger.info("sent %s pending deliveries again", len(retry))
    return len(retry)
