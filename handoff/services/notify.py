"""One notify function per handoff event type: who hears of it and with what payload, in one place.

Each sends after the transaction commits (`send_event_on_commit`). The customer's socket hears only
of a handoff being queued or accepted; signals, flags, packets and drafts go to staff groups only.
"""

import uuid

from django.contrib.auth.models import AbstractUser

from conversations import selectors as conversation_selectors
from conversations.models import Message
from infra import event_types
from infra.events import send_event_on_commit
from infra.groups import (
    agent_group,
    conversation_group,
    conversation_staff_group,
    queue_group,
    supervisors_group,
)

from .. import selectors
from ..models import CopilotDraft, Handoff, QueueMembership, Signal

CUSTOMER_STATUSES = ("queued", "accepted")  # what the web chat protocol's `handoff` frame carries


def display_name(user: AbstractUser) -> str:
    return user.get_full_name() or user.get_username()


def staff_groups(handoff: Handoff) -> list[str]:
    """Who hears of a handoff among staff: supervisors, those watching it, its queue, and its agent.

    The agent's own group is added only when they are not in the handoff's queue (a supervisor gave
    it to them), so a desk in the queue is not told twice.
    """
    groups = [supervisors_group(), conversation_staff_group(handoff.conversation_id)]
    if handoff.queue_id:
        groups.append(queue_group(handoff.queue_id))
    if handoff.agent_id and not (
        handoff.queue_id
        and QueueMembership.objects.filter(queue_id=handoff.queue_id, user_id=handoff.agent_id).exists()
    ):
        groups.append(agent_group(handoff.agent_id))
    return groups


def handoff_changed(handoff: Handoff, status: str, *, outcome: str | None = None) -> None:
    """A handoff was queued, accepted (or reassigned) or closed: tell staff and, when queued or accepted, the customer."""
    agent = handoff.agent if handoff.agent_id else None
    name = display_name(agent) if agent else None
    if status in CUSTOMER_STATUSES:
        send_event_on_commit(
            [conversation_group(handoff.conversation_id)],
            event_types.HANDOFF_CHANGED,
            {"status": status, "agent": name},
        )
    send_event_on_commit(
        staff_groups(handoff),
        event_types.HANDOFF_CHANGED,
        {
            "status": status,
            "agent": name,
            "agent_id": handoff.agent_id,
            "handoff_id": handoff.pk,
            "conversation_id": str(handoff.conversation_id),
            "reason": handoff.reason,
            "queue": handoff.queue.name if handoff.queue_id else None,
            "priority": handoff.priority,
            "outcome": outcome,
        },
    )


def packet_ready(handoff: Handoff) -> None:
    send_event_on_commit(
        staff_groups(handoff),
        event_types.PACKET_READY,
        {"handoff_id": handoff.pk, "conversation_id": str(handoff.conversation_id), "packet": handoff.packet},
    )


def signal_raised(signal: Signal) -> None:
    send_event_on_commit(
        [supervisors_group(), conversation_staff_group(signal.conversation_id)],
        event_types.SIGNAL_RAISED,
        selectors.signal_payload(signal),
    )


def flag_raised(
    *, conversation_id: uuid.UUID, rule_name: str, decision_id: int, message: Message | None
) -> None:
    send_event_on_commit(
        [supervisors_group(), conversation_staff_group(conversation_id)],
        event_types.FLAG_RAISED,
        {
            "conversation_id": str(conversation_id),
            "rule": rule_name,
            "decision_id": decision_id,
            "message_id": str(message.id) if message else None,
        },
    )


def draft_changed(draft: CopilotDraft) -> None:
    """A copilot draft was recorded or its status changed; staff watching the conversation only."""
    send_event_on_commit(
        [conversation_staff_group(draft.conversation_id)],
        event_types.COPILOT_DRAFT,
        {
            "draft_id": draft.pk,
            "conversation_id": str(draft.conversation_id),
            "customer_message_id": str(draft.customer_message_id),
            "text": draft.text,
            "suggested_actions": draft.suggested_actions,
            "status": draft.status,
        },
    )


def delivery_failed(message: Message, *, error: str) -> None:
    """Staff see on the message itself that it never reached the customer (the desk and the board)."""
    send_event_on_commit(
        [conversation_staff_group(message.conversation_id), supervisors_group()],
        event_types.MESSAGE_CREATED,
        {**conversation_selectors.message_payload(message), "failed_delivery": error},
    )
