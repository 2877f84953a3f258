"""Handoffs: start one (the AI stops, the customer is told a person is coming), accept, reassign, hand back, resolve."""

import logging
import time
import uuid

from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, Message
from infra import metrics
from infra.permissions import is_agent, is_supervisor

from .. import selectors
from ..models import EscalationRule, Handoff, Queue, QueueMembership
from ..wording import BACK_WITH_AI, agent_joined, person_coming
from . import notify, packets

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "general"


class HandoffError(Exception):
    """A handoff operation the caller may not do (taken by another agent, not theirs, closed)."""


def start_handoff(
    *,
    conversation_id: uuid.UUID,
    reason: str,
    detail: str = "",
    priority: int = 50,
    rule: EscalationRule | None = None,
    queue: Queue | None = None,
    trigger_message: Message | None = None,
) -> Handoff:
    """Hand a conversation to the human queue with its packet: the AI stops, the customer is told a person is coming.

    Idempotent: a conversation already waiting for or talking to a person keeps its live handoff.
    With a remote LLM the packet is published at once and the summary follows (a Celery task).
    """
    started = time.perf_counter()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("customer", "use_case__llm_provider")
            .get(id=conversation_id)
        )
        live = selectors.live_handoff(conversation.id)
        if live:
            return live
        queue = queue or Queue.objects.filter(name=DEFAULT_QUEUE).first()
        try:
            with transaction.atomic():
                handoff = Handoff.objects.create(
                    conversation=conversation,
                    reason=reason,
                    detail=detail,
                    priority=priority,
                    rule=rule,
                    queue=queue,
                )
        except IntegrityError:
            return Handoff.objects.exclude(status=Handoff.Status.CLOSED).get(conversation=conversation)
        conversation_services.set_conversation_state(
            conversation=conversation,
            status=Conversation.Status.WAITING,
            handler=Conversation.Handler.HUMAN,
            escalation_reason=reason,
        )
        conversation_services.record_reply(
            conversation_id=conversation.id,
            role=Message.Role.SYSTEM,
            text=person_coming(conversation.channel),
        )
        handoff.packet = packets.build_packet(handoff=handoff, conversation=conversation)
        handoff.save(update_fields=["packet", "updated_at"])
        notify.handoff_changed(handoff, "queued")
        notify.packet_ready(handoff)
        if handoff.packet["summary"]["status"] == "pending":
            from ..tasks import summarize_handoff  # the tasks module imports this package

            handoff_id = handoff.pk
            # Robust: with the broker down the handoff stands and its packet keeps the extractive summary.
            transaction.on_commit(lambda: summarize_handoff.delay(handoff_id), robust=True)
        transaction.on_commit(lambda: metrics.HANDOFFS.labels(reason=reason).inc())
        transaction.on_commit(lambda: metrics.HANDOFF_PACKET_SECONDS.observe(time.perf_counter() - started))
    logger.info("handoff %s started for conversation %s: %s", handoff.pk, conversation_id, reason)
    return handoff


def accept_handoff(*, handoff_id: int, agent: AbstractUser) -> Handoff:
    """The agent takes a queued handoff; exactly one agent wins a race (a conditional UPDATE).

    Raises HandoffError when the handoff is taken, closed, or outside the agent's queues.
    """
    handoff = Handoff.objects.select_related("queue").filter(pk=handoff_id).first()
    if handoff is None or not selectors.agent_may_take(agent, handoff):
        raise HandoffError("that handoff is not in your queues")
    now = timezone.now()
    with transaction.atomic():
        won = Handoff.objects.filter(pk=handoff_id, status=Handoff.Status.QUEUED).update(
            status=Handoff.Status.ACCEPTED, agent=agent, accepted_at=now, updated_at=now
        )
        if not won:
            raise HandoffError("another agent already accepted this handoff")
        handoff.refresh_from_db()
        queue_name, waited = (
            handoff.queue.name if handoff.queue else "",
            (now - handoff.created_at).total_seconds(),
        )
        transaction.on_commit(lambda: metrics.observe_queue_wait(queue=queue_name, seconds=waited))
        _held_by_agent(handoff)
    return handoff


def _held_by_agent(handoff: Handoff) -> None:
    """The conversation is now with the handoff's agent; tell everyone. Precondition: atomic, handoff saved."""
    conversation = Conversation.objects.select_for_update().get(id=handoff.conversation_id)
    conversation_services.set_conversation_state(
        conversation=conversation, status=Conversation.Status.WITH_AGENT, handler=Conversation.Handler.HUMAN
    )
    notify.handoff_changed(handoff, "accepted")
    conversation_services.record_reply(
        conversation_id=conversation.id,
        role=Message.Role.SYSTEM,
        text=agent_joined(notify.display_name(handoff.agent)),
    )


def _close_for(*, handoff_id: int, agent: AbstractUser, verb: str, disposition: str = "") -> Handoff:
    """Lock and close a live handoff held by `agent` (or any, for a supervisor). Precondition: atomic."""
    handoff = Handoff.objects.select_for_update().filter(pk=handoff_id).first()
    if handoff is None or handoff.status == Handoff.Status.CLOSED:
        raise HandoffError("that handoff is already closed")
    if handoff.agent_id != agent.pk and not is_supervisor(agent):
        raise HandoffError(f"only the accepting agent or a supervisor may {verb} this handoff")
    handoff.status = Handoff.Status.CLOSED
    handoff.closed_at = timezone.now()
    handoff.disposition = disposition.strip()[:200]
    handoff.save(update_fields=["status", "closed_at", "disposition", "updated_at"])
    return handoff


def resolve_handoff(*, handoff_id: int, agent: AbstractUser, outcome: str, disposition: str = "") -> Handoff:
    """Close the handoff and its conversation with an outcome (resolved, escalated, abandoned, ...)."""
    if outcome not in Conversation.Outcome.values:
        raise ValueError(f"outcome must be one of {', '.join(Conversation.Outcome.values)}")
    with transaction.atomic():
        handoff = _close_for(handoff_id=handoff_id, agent=agent, verb="resolve", disposition=disposition)
        # The one way a conversation closes: outcome, handle time and the closed-conversations metric.
        conversation_services.close_conversation(
            conversation=Conversation.objects.get(id=handoff.conversation_id), outcome=outcome
        )
        notify.handoff_changed(handoff, "closed", outcome=outcome)
    return handoff


def hand_back_to_ai(*, handoff_id: int, agent) -> Handoff:
    """The agent returns the conversation to the AI: the handoff closes, the AI answers the next message."""
    with transaction.atomic():
        handoff = _close_for(handoff_id=handoff_id, agent=agent, verb="hand back")
        conversation = Conversation.objects.select_for_update().get(id=handoff.conversation_id)
        conversation_services.set_conversation_state(
            conversation=conversation, status=Conversation.Status.OPEN, handler=Conversation.Handler.AI
        )
        conversation_services.record_reply(
            conversation_id=conversation.id,
            role=Message.Role.SYSTEM,
            text=BACK_WITH_AI,
        )
        notify.handoff_changed(handoff, "closed")
    return handoff


def reassign_handoff(*, handoff_id: int, supervisor, agent) -> Handoff:
    """A supervisor gives a live handoff to another agent, who holds it from now on."""
    if not is_supervisor(supervisor):
        raise HandoffError("only supervisors may reassign conversations")
    if not is_agent(agent):
        raise HandoffError(f"{agent.get_username()} is not an agent")
    now = timezone.now()
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().filter(pk=handoff_id).first()
        if handoff is None or handoff.status == Handoff.Status.CLOSED:
            raise HandoffError("that handoff is already closed")
        handoff.agent = agent
        handoff.status = Handoff.Status.ACCEPTED
        handoff.accepted_at = handoff.accepted_at or now
        handoff.save(update_fields=["agent", "status", "accepted_at", "updated_at"])
        _held_by_agent(handoff)
    return handoff


def take_over(*, conversation_id: uuid.UUID, supervisor) -> Handoff:
    """A supervisor takes a conversation from the AI or the queue and holds it themselves."""
    if not is_supervisor(supervisor):
        raise HandoffError("only supervisors may take over conversations")
    handoff = selectors.live_handoff(conversation_id)
    if handoff is None:
        handoff = start_handoff(
            conversation_id=conversation_id,
            reason=Handoff.Reason.SUPERVISOR,
            detail=f"taken over by {notify.display_name(supervisor)}",
        )
    if handoff.status == Handoff.Status.QUEUED:
        try:
            return accept_handoff(handoff_id=handoff.pk, agent=supervisor)
        except HandoffError:
            handoff.refresh_from_db()
    if handoff.agent_id != supervisor.pk:
        return reassign_handoff(handoff_id=handoff.pk, supervisor=supervisor, agent=supervisor)
    return handoff


def add_queue_member(*, queue: Queue, user: AbstractUser) -> QueueMembership:
    """Make `user` a member of `queue` (idempotent)."""
    membership, _ = QueueMembership.objects.get_or_create(queue=queue, user=user)
    return membership
