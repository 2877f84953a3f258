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
        # The rollout first: a conversation given to people is queued as such (reason `rollout`)
        # before any operator's escalation, so it is not counted as an escalation.
        _follow_rollout(conversation, received.message)
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
    if received.created and (conversation.shadow or conversation.status == Conversation.Status.WITH_AGENT):
        _enqueue_ai_draft(conversation, received.message)
    if received.created:
        from memory.tasks import enqueue_extraction

        enqueue_extraction(received.conversation.id)
    return Accepted(
        message=received.message,
        conversation=conversation,
        created=received.created,
        ai_should_reply=ai_should_reply,
    )


def _follow_rollout(conversation: Conversation, message: Message) -> None:
    """A conversation the rollout gave to a person joins the queue; in shadow mode the AI also drafts."""
    if conversation.assigned_handler != Conversation.Handler.HUMAN:
        return
    if conversation.status == Conversation.Status.OPEN and conversation.handler == Conversation.Handler.HUMAN:
        handoff_services.start_handoff(
            conversation_id=conversation.id, reason="rollout", detail=conversation.handler_reason
        )
        conversation.refresh_from_db(fields=["status", "handler"])


def _enqueue_ai_draft(conversation: Conversation, message: Message) -> None:
    """The AI drafts a reply for the agent (copilot) or for the record (shadow mode); it never sends it."""
    from handoff.tasks import draft_ai_reply

    conversation_id, message_id = str(conversation.id), str(message.id)
    # After commit, so the task (maybe in another process) sees the stored message.
    transaction.on_commit(lambda: draft_ai_reply.delay(conversation_id, message_id))
