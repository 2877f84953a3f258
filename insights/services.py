"""Writes of the insights app: alert evaluation and notification, closing idle conversations, and
draft articles from agents' replies to knowledge gaps."""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, Message
from handoff.models import CopilotDraft, Handoff
from infra import event_types, metrics
from infra.events import send_event_on_commit
from infra.groups import supervisors_group
from knowledge import services as knowledge_services
from knowledge.models import Document

from . import selectors
from .models import AlertEvent, AlertRule

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5.0
WORKER_DOWN_RULE = "Background worker down"
RATE_METRICS = {
    AlertRule.Metric.ESCALATION_RATE,
    AlertRule.Metric.LLM_ERROR_RATE,
    AlertRule.Metric.ABANDONMENT_RATE,
}


@dataclass(frozen=True)
class Evaluation:
    rule: AlertRule
    value: float | None
    samples: int
    changed: bool


def _breaches(rule: AlertRule, value: float | None, samples: int) -> bool:
    if value is None:
        # No heartbeat at all while a worker should beat: it never started, or died long ago.
        return rule.metric == AlertRule.Metric.WORKER_HEARTBEAT_AGE and samples > 0
    if rule.metric in RATE_METRICS and samples < rule.min_samples:
        return False  # two failures out of three turns is noise, not an incident
    if rule.comparison == AlertRule.Comparison.BELOW:
        return value < rule.threshold
    return value > rule.threshold


def alert_payload(rule: AlertRule, event: AlertEvent) -> dict:
    return {
        "alert_id": rule.pk,
        "event_id": event.pk,
        "rule": rule.name,
        "metric": rule.metric,
        "state": event.state,
        "value": event.value,
        "samples": event.samples,
        "comparison": rule.comparison,
        "threshold": rule.threshold,
        "window_minutes": rule.window_minutes,
        "use_case": rule.use_case.slug if rule.use_case else None,
        "at": event.created_at.isoformat(),
    }


def evaluate_alert_rule(*, rule: AlertRule) -> Evaluation:
    """Compute the rule's metric; on a change of state store an event and notify supervisors and the webhook."""
    value, samples = selectors.alert_metric(
        metric=rule.metric, use_case_id=rule.use_case_id, window=timedelta(minutes=rule.window_minutes)
    )
    firing = _breaches(rule, value, samples)
    new_state = AlertRule.State.FIRING if firing else AlertRule.State.OK
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update(of=("self",)).select_related("use_case").get(id=rule.id)
        changed = rule.state != new_state
        rule.state = new_state
        rule.last_value = value
        rule.last_evaluated_at = timezone.now()
        rule.save(update_fields=["state", "last_value", "last_evaluated_at", "updated_at"])
        if changed:
            event = AlertEvent.objects.create(rule=rule, state=new_state, value=value, samples=samples)
            payload = alert_payload(rule, event)
            send_event_on_commit([supervisors_group()], event_types.ALERT_CHANGED, payload)
            if rule.webhook_url:
                event_id, url = event.pk, rule.webhook_url
                transaction.on_commit(lambda: deliver_webhook(event_id=event_id, url=url, payload=payload))
    if changed:
        log = logger.warning if firing else logger.info
        log("alert %r %s: %s=%s over %s samples", rule.name, new_state, rule.metric, value, samples)
    return Evaluation(rule=rule, value=value, samples=samples, changed=changed)


def evaluate_alert_rules(*, only_metrics: Iterable[str] | None = None) -> list[Evaluation]:
    """Evaluate every enabled rule (or those on `only_metrics`); one broken rule does not stop the others."""
    evaluations = []
    for rule in selectors.enabled_alert_rules(only_metrics=only_metrics):
        try:
            evaluations.append(evaluate_alert_rule(rule=rule))
        except Exception:
            logger.exception("alert rule %s could not be evaluated", rule.pk)
    metrics.ALERTS_FIRING.set(AlertRule.objects.filter(enabled=True, state=AlertRule.State.FIRING).count())
    return evaluations


def ensure_default_alert_rules() -> None:
    """Create the alert rules every install starts with (`run` calls it); an existing rule is left as it is.

    An admin silences one by disabling it: deleting it brings it back at the next start.
    """
    AlertRule.objects.get_or_create(
        name=WORKER_DOWN_RULE,
        defaults={
            "metric": AlertRule.Metric.WORKER_HEARTBEAT_AGE,
            "comparison": AlertRule.Comparison.ABOVE,
            "threshold": settings.BATON_WORKER_HEARTBEAT_MAX_AGE_SECONDS,
            "min_samples": 1,
        },
    )


def deliver_webhook(*, event_id: int, url: str, payload: dict) -> str:
    """POST the alert as JSON to `url` once and record how it went on the event; never raises."""
    if not url.startswith(("http://", "https://")):
        status = "refused: only http(s) URLs"
    else:
        try:
            # No redirects: the admin chose this URL; a redirect elsewhere is not theirs.
            response = httpx.post(
                url,
                json=payload,
                timeout=WEBHOOK_TIMEOUT_SECONDS,
                follow_redirects=False,
                headers={"User-Agent": "Baton-alerts/1"},
            )
            status = f"{'delivered' if response.is_success else 'failed'}: HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            status = f"failed: {type(exc).__name__}"
    if not status.startswith("delivered"):
        logger.warning("alert webhook for event %s to %s %s", event_id, url, status)
    AlertEvent.objects.filter(id=event_id).update(webhook_status=status[:200])
    return status


IDLE_CLOSED_NOTICE = "We've closed this conversation after a while without a message. Write again any time."


def close_idle_conversations(*, idle: timedelta | None = None, now: datetime | None = None) -> int:
    """Close the AI-held conversations with no message for `idle` (setting BATON_IDLE_CLOSE_MINUTES).

    They close as abandoned, unless the customer's last words thanked the AI for an answer
    ("thanks, that's all"): then the AI resolved it and the customer simply left.
    """
    idle = idle or timedelta(minutes=settings.BATON_IDLE_CLOSE_MINUTES)
    cutoff = (now or timezone.now()) - idle
    idle_ids = list(
        Conversation.objects.filter(status=Conversation.Status.OPEN, handler=Conversation.Handler.AI)
        .filter(last_message_at__lt=cutoff)
        .values_list("id", flat=True)[:500]
    ) + list(
        Conversation.objects.filter(
            status=Conversation.Status.OPEN, handler=Conversation.Handler.AI, last_message_at__isnull=True
        )
        .filter(created_at__lt=cutoff)
        .values_list("id", flat=True)[:500]
    )
    closed = 0
    for conversation in Conversation.objects.filter(id__in=idle_ids):
        with transaction.atomic():
            # The customer hears why the conversation ended (the outbox texts it on SMS).
            conversation_services.record_reply(
                conversation_id=conversation.id, role=Message.Role.SYSTEM, text=IDLE_CLOSED_NOTICE
            )
            conversation_services.close_conversation(
                conversation=conversation, outcome=selectors.idle_outcome(conversation.id)
            )
        closed += 1
    if closed:
        logger.info("closed %s idle conversations as abandoned", closed)
    return closed


def backdate_simulated_conversation(
    *, conversation_id: uuid.UUID, started_at: datetime, handle_seconds: float
) -> None:
    """Simulation only: move a finished synthetic conversation to `started_at`, lasting `handle_seconds`.

    `simulate_traffic` runs conversations in seconds; this spreads them over days so the
    charts over time and the handle times look like real traffic.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(id=conversation_id)
        shift = started_at - conversation.created_at
        messages = list(Message.objects.filter(conversation=conversation).order_by("created_at"))
        span = (
            max((messages[-1].created_at - conversation.created_at).total_seconds(), 0.001) if messages else 1
        )
        for message in messages:
            # Spread the messages over the handle time, keeping their order.
            offset = (message.created_at - conversation.created_at).total_seconds() / span
            message.created_at = started_at + timedelta(seconds=offset * handle_seconds * 0.95)
        Message.objects.bulk_update(messages, ["created_at"])
        ended = started_at + timedelta(seconds=handle_seconds)
        Conversation.objects.filter(id=conversation_id).update(
            created_at=started_at,
            last_message_at=messages[-1].created_at if messages else None,
            closed_at=ended if conversation.closed_at else None,
        )
        for model in (Handoff, CopilotDraft):
            for row in model.objects.filter(conversation_id=conversation_id):
                model.objects.filter(pk=row.pk).update(created_at=row.created_at + shift)


class GapReplyNotFound(LookupError):
    """No such knowledge gap, or the message is not the first agent reply after it."""


def draft_article_from_gap_reply(
    *, signal_id: int, message_id: uuid.UUID, title_signal_id: int | None = None
) -> tuple[Document, bool]:
    """A draft article from the agent's reply to a knowledge gap, titled with the question; (draft, created).

    `title_signal_id` names the gap whose question titles the article (its group's representative);
    the gap's own question otherwise. Idempotent per gap and reply: a draft made already is returned
    as it is now (edited or published since, maybe), never overwritten.
    """
    found = selectors.knowledge_gap_reply(signal_id=signal_id, message_id=message_id)
    if found is None:
        raise GapReplyNotFound(f"message {message_id} is not the agent's reply to knowledge gap {signal_id}")
    _, reply = found
    question = selectors.knowledge_gap_question(title_signal_id or signal_id)
    if question is None:
        raise GapReplyNotFound(f"no knowledge gap {title_signal_id}")
    external_id = selectors.gap_draft_external_id(signal_id=signal_id, message_id=message_id)
    existing = selectors.drafted_article(external_id)
    if existing is not None:
        return existing, False
    try:
        draft = knowledge_services.draft_article(
            title=selectors.gap_article_title(question), text=reply.text, external_id=external_id
        )
    except IntegrityError:  # the same click twice at once: the other request made the draft
        return selectors.drafted_article(external_id), False
    logger.info("draft article %s from reply %s to knowledge gap %s", draft.pk, message_id, signal_id)
    return draft, True
