"""The path of one customer message, shared by every channel adapter (web chat, SMS, voice).

1. screen it (card numbers are masked before anything is stored), 2. store it (idempotently),
3. run operators and escalation rules on it, 4. decide whether the AI answers. Channel adapters
call `accept_customer_message` and then, when `ai_should_reply`, run the AI turn their own way
(publish to the group, or stream to Twilio).
"""

import dataclasses
import logging
from dataclasses import dataclass

from django.db import transaction

from handoff import services as handoff_services

from .models import Conversation, Message
from .services import Inbound, receive_message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    message: Message
    conversation: Conversation
    created: bool
    ai_should_reply: bool


def accept_customer_message(inbound: Inbound) -> Accepted:
    """Store a customer message and decide what happens next. Store first, then act."""
    screened = handoff_services.screen_inbound_text(inbound.text)
    if screened.text != inbound.text:
        inbound = dataclasses.replace(inbound, text=screened.text)
    received = receive_message(inbound)
    ai_should_reply = received.ai_should_reply
    conversation = received.conversation
    if received.created:
        try:
            observed = handoff_services.observe_customer_message(
                message=received.message, conversation=conversation, screened=screened
            )
        except Exception:
            # The message is stored; a broken operator must not keep the customer from an answer.
            logger.exception("operators failed on message %s", received.message.id)
        else:
            if observed.handed_off:
                ai_should_reply = False
                conversation.refresh_from_db()
    if received.created and conversation.status == Conversation.Status.WITH_AGENT:
        _enqueue_copilot_draft(received.message.id)
    return Accepted(
        message=received.message,
        conversation=conversation,
        created=received.created,
        ai_should_reply=ai_should_reply,
    )


def _enqueue_copilot_draft(message_id) -> None:
    from handoff.tasks import draft_copilot_reply

    transaction.on_commit(lambda: draft_copilot_reply.delay(str(message_id)))
