"""Reads of the handoff app: operators and rules to run, queues, waiting handoffs, packets."""

import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from conversations.models import Conversation, Message
from deskapp.permissions import is_agent, is_supervisor

from .models import EscalationRule, Handoff, Operator, Signal


def enabled_operators(*, applies_to: str) -> list[Operator]:
    """The enabled operators for customer or AI messages, in a stable order."""
    return list(Operator.objects.filter(enabled=True, applies_to=applies_to).order_by("slug"))


def enabled_rules() -> list[EscalationRule]:
    """The enabled escalation rules, lowest priority number first."""
    return list(
        EscalationRule.objects.filter(enabled=True).select_related("queue").order_by("priority", "id")
    )


def signal_payload(signal: Signal) -> dict[str, Any]:
    """A signal as staff pages and the packet show it (its span is already masked)."""
    return {
        "signal_id": signal.pk,
        "conversation_id": str(signal.conversation_id),
        "message_id": str(signal.message_id) if signal.message_id else None,
        "operator": signal.operator_slug,
        "label": signal.label,
        "score": signal.score,
        "severity": signal.severity,
        "excerpt": (signal.span or {}).get("excerpt", ""),
        "created_at": signal.created_at.isoformat() if signal.created_at else None,
    }


def signals_for_conversation(conversation_id: uuid.UUID) -> list[Signal]:
    """Every signal raised in the conversation, oldest first."""
    return list(Signal.objects.filter(conversation_id=conversation_id).order_by("created_at", "id"))


def customer_wait_seconds(conversation_id: uuid.UUID) -> float:
    """How long the customer has waited: in the queue since the handoff, else since their oldest unanswered message."""
    queued_since = (
        Handoff.objects.filter(conversation_id=conversation_id, status=Handoff.Status.QUEUED)
        .values_list("created_at", flat=True)
        .first()
    )
    if queued_since:
        return (timezone.now() - queued_since).total_seconds()
    last_reply = (
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(role=Message.Role.CUSTOMER)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    waiting = Message.objects.filter(conversation_id=conversation_id, role=Message.Role.CUSTOMER)
    if last_reply:
        waiting = waiting.filter(created_at__gt=last_reply)
    first = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    return (timezone.now() - first).total_seconds() if first else 0.0


def live_handoff(conversation_id: uuid.UUID) -> Handoff | None:
    """The conversation's queued or accepted handoff, if any."""
    return (
        Handoff.objects.filter(conversation_id=conversation_id).exclude(status=Handoff.Status.CLOSED).first()
    )


def agent_may_take(agent: AbstractUser, handoff: Handoff) -> bool:
    """Supervisors take anything; agents take handoffs in their queues (or with no queue)."""
    if is_supervisor(agent):
        return True
    if not is_agent(agent):
        return False
    return handoff.queue_id is None or agent.queue_memberships.filter(queue_id=handoff.queue_id).exists()


def waiting_handoffs_for_agent(agent: AbstractUser) -> QuerySet[Handoff]:
    """Queued handoffs the agent may accept, most urgent and oldest first."""
    queued = Handoff.objects.filter(status=Handoff.Status.QUEUED).select_related(
        "conversation__customer", "queue", "rule"
    )
    if is_supervisor(agent):
        return queued.order_by("priority", "created_at")
    if not is_agent(agent):
        return queued.none()
    queue_ids = agent.queue_memberships.values_list("queue_id", flat=True)
    return queued.filter(Q(queue_id__in=queue_ids) | Q(queue__isnull=True)).order_by("priority", "created_at")


def handoff_for_agent(agent: AbstractUser, handoff_id: int) -> Handoff:
    """The handoff if the agent may see it (theirs, in their queues, or a supervisor); raises otherwise."""
    handoff = (
        Handoff.objects.select_related("conversation", "queue", "rule", "agent").filter(pk=handoff_id).first()
    )
    if handoff is None:
        raise Handoff.DoesNotExist(handoff_id)
    if handoff.agent_id == agent.pk or agent_may_take(agent, handoff):
        return handoff
    raise PermissionError("that handoff is not in your queues")


def packet_for_handoff(agent: AbstractUser, handoff_id: int) -> dict[str, Any]:
    """The handoff's packet (history, profile, summary, signals, actions, reason, rule), permission-checked."""
    return handoff_for_agent(agent, handoff_id).packet


def conversations_waiting(since_hours: int = 24) -> list[uuid.UUID]:
    """Ids of open or queued conversations with activity in the last `since_hours` (for waiting-time rules)."""
    recent = timezone.now() - timedelta(hours=since_hours)
    return list(
        Conversation.objects.filter(
            status__in=[Conversation.Status.OPEN, Conversation.Status.WAITING], last_message_at__gte=recent
        ).values_list("id", flat=True)
    )
