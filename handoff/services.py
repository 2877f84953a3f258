"""Writes for handoffs: a conversation moves from the AI to the human queue."""

import logging
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, Message
from deskapp import event_types
from deskapp.events import send_event_on_commit
from deskapp.groups import conversation_group, conversation_staff_group, supervisors_group
from insights import metrics

from .models import Handoff
from .wording import person_coming

logger = logging.getLogger(__name__)


def start_handoff(
    *, conversation_id: uuid.UUID, reason: str, detail: str = "", priority: int = 50
) -> Handoff:
    """Hand a conversation to the human queue: the AI stops replying, the customer is told a person is coming.

    Idempotent: a conversation already waiting for or talking to a person keeps its live handoff.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(id=conversation_id)
        live = Handoff.objects.filter(conversation=conversation).exclude(status=Handoff.Status.CLOSED).first()
        if live:
            return live
        try:
            with transaction.atomic():
                handoff = Handoff.objects.create(
                    conversation=conversation, reason=reason, detail=detail, priority=priority
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
        send_event_on_commit(
            [conversation_group(conversation.id)],
            event_types.HANDOFF_CHANGED,
            {"status": "queued", "agent": None},
        )
        send_event_on_commit(
            [supervisors_group(), conversation_staff_group(conversation.id)],
            event_types.HANDOFF_CHANGED,
            {
                "status": "queued",
                "agent": None,
                "handoff_id": handoff.pk,
                "conversation_id": str(conversation.id),
                "reason": reason,
            },
        )
        transaction.on_commit(lambda: metrics.HANDOFFS.labels(reason=reason).inc())
    logger.info("handoff %s started for conversation %s: %s", handoff.pk, conversation_id, reason)
    return handoff


def close_live_handoff(*, conversation_id: uuid.UUID) -> Handoff | None:
    """Close the conversation's live handoff (the conversation ended); None when there is none."""
    with transaction.atomic():
        live = (
            Handoff.objects.select_for_update()
            .filter(conversation_id=conversation_id)
            .exclude(status=Handoff.Status.CLOSED)
            .first()
        )
        if live is None:
            return None
        live.status = Handoff.Status.CLOSED
        live.closed_at = timezone.now()
        live.save(update_fields=["status", "closed_at", "updated_at"])
        send_event_on_commit(
            [supervisors_group(), conversation_staff_group(conversation_id)],
            event_types.HANDOFF_CHANGED,
            {
                "status": "closed",
                "agent": None,
                "handoff_id": live.pk,
                "conversation_id": str(conversation_id),
                "reason": live.reason,
            },
        )
    return live
