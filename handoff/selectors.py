"""Reads of the handoff app: operators and rules to run, queues, waiting handoffs, packets."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from conversations.models import Conversation, Delivery, Message
from infra.permissions import AGENTS, SUPERVISORS, is_agent, is_supervisor
from infra.stamped import StampedCache

from .models import EscalationRule, Handoff, Operator, Queue, Signal


@dataclass(frozen=True)
class _Monitoring:
    operators: dict[str, list[Operator]]  # by `applies_to`, in slug order
    rules: list[EscalationRule]


_monitoring: StampedCache[_Monitoring] = StampedCache(
    lambda: [Operator._meta.db_table, EscalationRule._meta.db_table, Queue._meta.db_table]
)


def _read_monitoring() -> _Monitoring:
    operators: dict[str, list[Operator]] = {}
    for operator in Operator.objects.filter(enabled=True).order_by("slug"):
        operators.setdefault(operator.applies_to, []).append(operator)
    rules = list(
        EscalationRule.objects.filter(enabled=True).select_related("queue").order_by("priority", "id")
    )
    return _Monitoring(operators=operators, rules=rules)


def _enabled_monitoring() -> _Monitoring:
    """The enabled operators and rules, read again only when one of their rows (or a queue's) changed."""
    return _monitoring.get("enabled", _read_monitoring)


def enabled_operators(*, applies_to: str) -> list[Operator]:
    """The enabled operators for customer or AI messages, in a stable order (treat them as read-only)."""
    return list(_enabled_monitoring().operators.get(applies_to, []))


def enabled_rules() -> list[EscalationRule]:
    """The enabled escalation rules, lowest priority number first (treat them as read-only)."""
    return list(_enabled_monitoring().rules)


def enabled_operators_and_rules(*, applies_to: str) -> tuple[list[Operator], list[EscalationRule]]:
    """Both at once (one stamp query)."""
    monitoring = _enabled_monitoring()
    return list(monitoring.operators.get(applies_to, [])), list(monitoring.rules)


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


# --- the agent desk and the supervisor board ---------------------------------------------------------


def assigned_handoffs(agent) -> QuerySet[Handoff]:
    """Handoffs the agent has accepted and not yet closed, oldest first."""
    return (
        Handoff.objects.filter(agent=agent, status=Handoff.Status.ACCEPTED)
        .select_related("conversation__customer", "queue")
        .order_by("accepted_at")
    )


def conversation_for_agent(agent, conversation_id: uuid.UUID) -> tuple[Conversation, Handoff | None]:
    """The conversation and its latest handoff if the agent may see it; raises PermissionError otherwise.

    Agents see conversations handed to their queues or assigned to them; supervisors see everything.
    """
    conversation = (
        Conversation.objects.select_related("customer", "use_case").filter(id=conversation_id).first()
    )
    if conversation is None:
        raise PermissionError("no such conversation")
    handoff = (
        Handoff.objects.filter(conversation=conversation)
        .select_related("queue", "rule", "agent")
        .order_by("-created_at")
        .first()
    )
    if is_supervisor(agent):
        return conversation, handoff
    if handoff and (
        handoff.agent_id == agent.pk
        or (handoff.status == Handoff.Status.QUEUED and agent_may_take(agent, handoff))
    ):
        return conversation, handoff
    raise PermissionError("that conversation is not in your queues")


def transcript(conversation_id: uuid.UUID) -> list[Message]:
    """The conversation's messages, each with `failed_delivery`: why it never reached the customer, or None."""
    messages = list(
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("sender")
        .prefetch_related(
            Prefetch(
                "deliveries",
                queryset=Delivery.objects.filter(status=Delivery.Status.FAILED),
                to_attr="failed_deliveries",
            )
        )
        .order_by("created_at")
    )
    for message in messages:
        message.failed_delivery = (
            message.failed_deliveries[0].last_error if message.failed_deliveries else None
        )
    return messages


RISK_BY_SEVERITY = {"critical": 2, "warning": 1, "info": 0}


def _risk(signals: list[Signal]) -> str:
    level = max((RISK_BY_SEVERITY.get(s.severity, 0) for s in signals), default=0)
    return ["low", "medium", "high"][level]


def live_board() -> dict[str, Any]:
    """Every live conversation (AI- and human-held) with its latest signals, plus queue depths and waits."""
    now = timezone.now()
    conversations = list(
        Conversation.objects.exclude(status=Conversation.Status.CLOSED)
        .select_related("customer", "use_case")
        .order_by("-last_message_at", "-created_at")[:200]
    )
    ids = [c.id for c in conversations]
    last_messages: dict[uuid.UUID, Message] = {}
    for message in (
        Message.objects.filter(conversation_id__in=ids)
        .order_by("conversation_id", "-created_at")
        .distinct("conversation_id")
    ):
        last_messages[message.conversation_id] = message
    signals: dict[uuid.UUID, list[Signal]] = {}
    for signal in Signal.objects.filter(conversation_id__in=ids).order_by("-created_at")[:1000]:
        signals.setdefault(signal.conversation_id, []).append(signal)
    handoffs = {
        h.conversation_id: h
        for h in Handoff.objects.filter(conversation_id__in=ids)
        .exclude(status=Handoff.Status.CLOSED)
        .select_related("agent", "queue")
    }
    rows = []
    for c in conversations:
        conversation_signals = signals.get(c.id, [])
        handoff = handoffs.get(c.id)
        rows.append(
            {
                "conversation": c,
                "age_seconds": (now - c.created_at).total_seconds(),
                "last_message": last_messages.get(c.id),
                "signals": conversation_signals[:3],
                "risk": _risk(conversation_signals),
                "handoff": handoff,
                "agent": (handoff.agent.get_full_name() or handoff.agent.get_username())
                if handoff and handoff.agent
                else "",
            }
        )
    queues = []
    for queue in Queue.objects.order_by("name"):
        waiting = Handoff.objects.filter(queue=queue, status=Handoff.Status.QUEUED)
        oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
        queues.append(
            {
                "queue": queue,
                "depth": waiting.count(),
                "longest_wait_seconds": (now - oldest).total_seconds() if oldest else 0,
            }
        )
    return {"rows": rows, "queues": queues, "generated_at": now}


def staff_agents() -> QuerySet:
    return (
        get_user_model()
        .objects.filter(groups__name__in=[AGENTS, SUPERVISORS], is_active=True)
        .distinct()
        .order_by("username")
    )
