"""What an AI turn reads: the conversation, its recent history, what memory recalls for the latest message
and the article passages that answer it."""

import uuid
from dataclasses import dataclass, field

from conversations import selectors as conversation_selectors
from conversations.models import Conversation, Customer, LLMProvider, Message, UseCase
from knowledge.grounding import Grounding, grounding_for_turn
from memory.selectors import context_for_turn


@dataclass
class TurnContext:
    conversation: Conversation
    customer: Customer
    use_case: UseCase | None
    provider: LLMProvider | None
    history: list[Message]
    extra_system: list[str] = field(default_factory=list)
    grounding: Grounding = field(default_factory=lambda: Grounding(section=""))

    @property
    def ai_holds_conversation(self) -> bool:
        return (
            self.conversation.handler == Conversation.Handler.AI
            and self.conversation.status == Conversation.Status.OPEN
        )


def turn_context(conversation_id: uuid.UUID) -> TurnContext:
    """Everything an AI turn reads, in one place: conversation, history, what memory recalls, the articles."""
    conversation = Conversation.objects.select_related("customer", "use_case__llm_provider").get(
        id=conversation_id
    )
    use_case = conversation.use_case
    recent = conversation_selectors.history(conversation_id)
    return TurnContext(
        conversation=conversation,
        customer=conversation.customer,
        use_case=use_case,
        provider=use_case.llm_provider if use_case else None,
        history=recent,
        extra_system=_memory_sections(conversation, recent),
        grounding=grounding_for_turn(
            customer_messages=[m.text for m in recent if m.role == Message.Role.CUSTOMER][-2:],
            use_case_id=use_case.pk if use_case else None,
        ),
    )


def _memory_sections(conversation: Conversation, recent: list[Message]) -> list[str]:
    """The profile and the observations recalled for the latest customer message (memory layer)."""
    latest = next((m.text for m in reversed(recent) if m.role == Message.Role.CUSTOMER), "")
    memory = context_for_turn(
        customer_id=conversation.customer_id, query=latest, conversation_id=conversation.id
    )
    return [memory.section] if memory.section else []
