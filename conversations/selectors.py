"""Reads for conversations: what the runtime, the channels and the pages need."""

import uuid
from typing import Any

from .models import Conversation, Delivery, Message, UseCase

HISTORY_LIMIT = 40


def default_use_case() -> UseCase | None:
    return (
        UseCase.objects.filter(enabled=True, is_default=True).first()
        or UseCase.objects.filter(enabled=True).first()
    )


def use_case_by_slug(slug: str) -> UseCase | None:
    return UseCase.objects.filter(slug=slug, enabled=True).first()


def conversation_for_customer(*, conversation_id: uuid.UUID, customer_id: uuid.UUID) -> Conversation | None:
    """The conversation (with its use case and LLM provider, which operators read) if it belongs to that
    customer, else None."""
    return (
        Conversation.objects.select_related("use_case__llm_provider")
        .filter(id=conversation_id, customer_id=customer_id)
        .first()
    )


def conversation_for_identity(
    *, channel: str, identity_channel: str, address: str, conversation_id: uuid.UUID | None = None
) -> Conversation | None:
    """The conversation a message from this identity (its address normalised) goes to, read with its
    customer, use case and LLM provider in one query: the one named by `conversation_id` if that
    identity's customer owns it, else their latest not closed on `channel`. None when there is none."""
    found = Conversation.objects.select_related("customer", "use_case__llm_provider").filter(
        customer__identities__channel=identity_channel, customer__identities__address=address
    )
    if conversation_id is not None:
        return found.filter(id=conversation_id).first()
    return latest_open_conversation(found, channel=channel)


def latest_open_conversation(conversations, *, channel: str) -> Conversation | None:
    """Of `conversations` (a queryset), the latest on `channel` that is not closed: where a message goes."""
    return (
        conversations.filter(channel=channel)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-created_at")
        .first()
    )


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "message_id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "role": message.role,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "sender": message.sender.get_full_name() or message.sender.get_username() if message.sender else None,
        "citations": message.citations,
    }


def history(conversation_id: uuid.UUID, limit: int = HISTORY_LIMIT) -> list[Message]:
    recent = Message.objects.filter(conversation_id=conversation_id).order_by("-created_at")[:limit]
    return list(reversed(list(recent)))


def undelivered_messages(*, conversation_id: uuid.UUID, channel: str) -> list[Message]:
    """The conversation's messages whose delivery on `channel` is still pending, oldest first."""
    return list(
        Message.objects.filter(
            conversation_id=conversation_id,
            deliveries__channel=channel,
            deliveries__status=Delivery.Status.PENDING,
        )
        .select_related("sender")
        .order_by("created_at")
    )
