"""Reads for conversations: what the runtime, the channels and the pages need."""

import uuid
from dataclasses import dataclass, field
from typing import Any

from .models import Conversation, Customer, LLMProvider, Message, UseCase

HISTORY_LIMIT = 40


def default_use_case() -> UseCase | None:
    return (
        UseCase.objects.filter(enabled=True, is_default=True).first()
        or UseCase.objects.filter(enabled=True).first()
    )


def use_case_by_slug(slug: str) -> UseCase | None:
    return UseCase.objects.filter(slug=slug, enabled=True).first()


def conversation_for_customer(*, conversation_id: uuid.UUID, customer_id: uuid.UUID) -> Conversation | None:
    """The conversation if it belongs to that customer, else None."""
    return Conversation.objects.filter(id=conversation_id, customer_id=customer_id).first()


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "message_id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "role": message.role,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "sender": message.sender.get_full_name() or message.sender.get_username() if message.sender else None,
    }


def history(conversation_id: uuid.UUID, limit: int = HISTORY_LIMIT) -> list[Message]:
    recent = Message.objects.filter(conversation_id=conversation_id).order_by("-created_at")[:limit]
    return list(reversed(list(recent)))


@dataclass
class TurnContext:
    conversation: Conversation
    customer: Customer
    use_case: UseCase | None
    provider: LLMProvider | None
    history: list[Message]
    extra_system: list[str] = field(default_factory=list)

    @property
    def ai_holds_conversation(self) -> bool:
        return (
            self.conversation.handler == Conversation.Handler.AI
            and self.conversation.status == Conversation.Status.OPEN
        )


def turn_context(conversation_id: uuid.UUID) -> TurnContext:
    """Everything an AI turn reads, in one place: conversation, history and what memory recalls."""
    conversation = Conversation.objects.select_related("customer", "use_case__llm_provider").get(
        id=conversation_id
    )
    use_case = conversation.use_case
    recent = history(conversation_id)
    return TurnContext(
        conversation=conversation,
        customer=conversation.customer,
        use_case=use_case,
        provider=use_case.llm_provider if use_case else None,
        history=recent,
        extra_system=_memory_sections(conversation, recent),
    )


def _memory_sections(conversation: Conversation, recent: list[Message]) -> list[str]:
    """The profile and the observations recalled for the latest customer message (memory layer)."""
    from memory.selectors import context_for_turn

    latest = next((m.text for m in reversed(recent) if m.role == Message.Role.CUSTOMER), "")
    memory = context_for_turn(
        customer_id=conversation.customer_id, query=latest, conversation_id=conversation.id
    )
    return [memory.section] if memory.section else []
