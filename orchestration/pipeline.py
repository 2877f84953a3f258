"""The path of one customer message, shared by every channel adapter (web chat, SMS, voice).

1. screen it (card numbers are masked before anything is stored), 2. store it (idempotently),
3. run operators and escalation rules on it, 4. decide whether the AI answers. Channel adapters
call `accept_customer_message` and then, when `ai_should_reply`, run the AI turn their own way
(publish to the group, or stream to Twilio). The voice relay calls the two halves itself
(`store_customer_message`, `observe_stored_message`) to start the AI turn beside the operators.
"""

import dataclasses
import logging
from dataclasses import dataclass

from django.db import transaction

from conversations.models import Conversation, Message
from conversations.services import Inbound, Received, receive_message
from handoff import services as handoff_services
from handoff.models import Handoff
from infra import embeddings
from memory.tasks import enqueue_extraction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    message: Message
    conversation: Conversation
    created: bool
    ai_should_reply: bool


@dataclass(frozen=True)
class Stored:
    """A customer message stored and routed by the rollout, its operators not yet run."""

    received: Received
    screened: handoff_services.Screened


def accept_customer_message(inbound: Inbound) -> Accepted:
    """Store a customer message and decide what happens next. Store first, then act."""
    return observe_stored_message(store_customer_message(inbound))


def store_customer_message(inbound: Inbound) -> Stored:
    """Steps 1-2: mask what must never be stored, store the message (idempotently), follow the rollout."""
    screened = handoff_services.screen_inbound_text(inbound.text)
    if screened.text != inbound.text:
        inbound = dataclasses.replace(inbound, text=screened.text)
    embeddings.encode_ahead(inbound.text)  # operators and recall need its vector next
    received = receive_message(inbound)
    if received.created:
        # The rollout first: a conversation given to people is queued as such (reason `rollout`)
        # before any operator's escalation, so it is not counted as an escalation.
        _follow_rollout(received.conversation, received.message)
    return Stored(received=received, screened=screened)


def observe_stored_message(stored: Stored) -> Accepted:
    """Steps 3-4: operators and escalation rules, then whether the AI answers; background work queued.

    The voice relay runs this beside the start of the AI turn and holds the turn's first word until
    it returns, so operators cost a call no latency unless they escalate.
    """
    received = stored.received
    conversation, message = received.conversation, received.message
    ai_should_reply = received.ai_should_reply
    if received.created:
        try:
            observed = handoff_services.observe_customer_message(
                message=message, conversation=conversation, screened=stored.screened
            )
        except Exception:
            # The message is stored; a broken operator must not keep the customer from an answer.
            logger.exception("operators failed on message %s", message.id)
        else:
            if observed.handed_off:
                ai_should_reply = False
                conversation.refresh_from_db()
        if conversation.shadow or conversation.status == Conversation.Status.WITH_AGENT:
            _enqueue_ai_draft(conversation, message)
        enqueue_extraction(conversation.id)
    return Accepted(
        message=message, conversation=conversation, created=received.created, ai_should_reply=ai_should_reply
    )


def _follow_rollout(conversation: Conversation, message: Message) -> None:
    """A conversation the rollout gave to a person joins the queue; in shadow mode the AI also drafts."""
    if conversation.assigned_handler != Conversation.Handler.HUMAN:
        return
    if conversation.status == Conversation.Status.OPEN and conversation.handler == Conversation.Handler.HUMAN:
        handoff_services.start_handoff(
            conversation_id=conversation.id, reason=Handoff.Reason.ROLLOUT, detail=conversation.handler_reason
        )
        conversation.refresh_from_db(fields=["status", "handler"])


def _enqueue_ai_draft(conversation: Conversation, message: Message) -> None:
    """The AI drafts a reply for the agent (copilot) or for the record (shadow mode); it never sends it."""
    from .tasks import draft_ai_reply  # tasks imports the SMS adapter, which imports this module

    conversation_id, message_id = str(conversation.id), str(message.id)
    # After commit, so the task (maybe in another process) sees the stored message.
    # Robust: a draft lost while the broker is down must not stop the callbacks after it.
    transaction.on_commit(lambda: draft_ai_reply.delay(conversation_id, message_id), robust=True)
