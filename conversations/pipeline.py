"""The path of one customer message, shared by every channel adapter (web chat, SMS, voice).

1. store it (idempotently), 2. run operators and escalation rules on it, 3. decide whether the
AI answers. Channel adapters call `accept_customer_message` and then, when `ai_should_reply`,
run the AI turn their own way (publish to the group, or stream to Twilio).
"""

from dataclasses import dataclass

from .models import Conversation, Message
from .services import Inbound, receive_message


@dataclass(frozen=True)
class Accepted:
    message: Message
    conversation: Conversation
    created: bool
    ai_should_reply: bool


def accept_customer_message(inbound: Inbound) -> Accepted:
    """Store a customer message and decide what happens next. Store first, then act."""
    received = receive_message(inbound)
    if received.created:
        from memory.tasks import enqueue_extraction

        enqueue_extraction(received.conversation.id)
    return Accepted(
        message=received.message,
        conversation=received.conversation,
        created=received.created,
        ai_should_reply=received.ai_should_reply,
    )
