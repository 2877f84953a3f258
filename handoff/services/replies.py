"""What agents write: replies to the customer (delivered on their channel) and notes into the customer's memory."""

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import transaction

from conversations import services as conversation_services
from conversations.models import Conversation, Message
from memory import services as memory_services

from ..models import CopilotDraft, Handoff
from . import drafts
from .handoffs import HandoffError


def record_agent_reply(*, handoff_id: int, agent: AbstractUser, text: str) -> Message:
    """Store the accepting agent's reply; the outbox delivers it on the customer's channel (web chat, SMS)."""
    text = (text or "").strip()
    if not text:
        raise ValueError("a reply needs text")
    handoff = Handoff.objects.filter(pk=handoff_id).first()
    if handoff is None or handoff.status != Handoff.Status.ACCEPTED or handoff.agent_id != agent.pk:
        raise HandoffError("only the agent who accepted this handoff may reply")
    return conversation_services.record_reply(
        conversation_id=handoff.conversation_id, role=Message.Role.AGENT, text=text, sender=agent
    )


def send_agent_reply(*, handoff_id: int, agent, text: str, draft_id: int | None = None) -> Message:
    """The agent's reply to the customer; when it came from an AI draft, record sent as is or edited."""
    with transaction.atomic():
        message = record_agent_reply(handoff_id=handoff_id, agent=agent, text=text)
        if (
            draft_id
            and CopilotDraft.objects.filter(
                pk=draft_id, conversation_id=message.conversation_id, status=CopilotDraft.Status.PENDING
            ).exists()
        ):
            drafts.record_draft_use(draft_id=draft_id, agent=agent, sent_text=message.text)
    return message


def add_agent_note(*, conversation_id: uuid.UUID, agent, text: str):
    """Save an agent's note about the customer into their memory, recalled like any observation."""
    text = (text or "").strip()
    if not text:
        raise ValueError("a note needs text")
    conversation = Conversation.objects.get(id=conversation_id)
    return memory_services.add_observations(
        customer_id=conversation.customer_id,
        items=[{"text": text[:1000], "kind": "fact", "confidence": 1.0}],
        conversation_id=conversation_id,
    )
