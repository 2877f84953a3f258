"""Writes for copilot drafts: the AI's would-be answer, offered to the agent and never sent to the customer.

Kept apart from `services.py` so the handoff queue and the drafts can change independently.
Drafts go to staff groups only; `conversation_group` (the customer's socket) never sees one.
"""

import logging
import uuid

from django.db import IntegrityError, transaction

from conversations import selectors as conversation_selectors
from conversations.llm import LLMError, provider_for
from conversations.llm.base import complete_sync
from conversations.llm.offline import HANDOFF_TOOL
from conversations.models import Message
from conversations.runtime import build_prompt, tools_for
from deskapp import event_types
from deskapp.events import send_event_on_commit
from deskapp.groups import conversation_staff_group
from insights import metrics

from .models import CopilotDraft

logger = logging.getLogger(__name__)

HANDOFF_DRAFT = "(The AI would hand this conversation to a person here.)"


def _draft_payload(draft: CopilotDraft) -> dict:
    return {
        "draft_id": draft.pk,
        "conversation_id": str(draft.conversation_id),
        "customer_message_id": str(draft.customer_message_id),
        "text": draft.text,
        "suggested_actions": draft.suggested_actions,
        "status": draft.status,
    }


def record_ai_draft(
    *, conversation_id: uuid.UUID | str, customer_message_id: uuid.UUID | str
) -> CopilotDraft | None:
    """Run the AI on the conversation up to `customer_message_id` and store its answer as a draft, sending nothing.

    Idempotent per customer message. Returns None when the message is not a customer message of
    that conversation or the LLM fails (the failure is counted; the agent simply gets no draft).
    """
    message = Message.objects.filter(
        id=customer_message_id, conversation_id=conversation_id, role=Message.Role.CUSTOMER
    ).first()
    if message is None:
        return None
    existing = CopilotDraft.objects.filter(customer_message=message).first()
    if existing:
        return existing
    context = conversation_selectors.turn_context(message.conversation_id)
    # Answer the message the draft is for, even if the customer has written since.
    context.history = [m for m in context.history if m.created_at <= message.created_at]
    provider_name = context.provider.name if context.provider else "offline"
    try:
        llm = provider_for(context.provider)
        completion = complete_sync(llm, build_prompt(context), tools_for(context))
    except LLMError as exc:
        logger.warning("conversation %s: shadow draft failed: %s", conversation_id, exc)
        metrics.LLM_ERRORS.labels(provider=provider_name).inc()
        metrics.SHADOW_DRAFTS.labels(outcome="llm_failure").inc()
        return None
    text = completion.text.strip()
    suggested = [
        {"name": c.name, "arguments": c.arguments} for c in completion.tool_calls if c.name != HANDOFF_TOOL
    ]
    if not text and completion.tool_calls:
        # Shadow mode never acts: a tool the AI would call is described, not run.
        names = [call.name for call in completion.tool_calls]
        text = HANDOFF_DRAFT if HANDOFF_TOOL in names else f"(The AI would run {', '.join(names)} here.)"
    with transaction.atomic():
        try:
            with transaction.atomic():
                draft = CopilotDraft.objects.create(
                    conversation_id=message.conversation_id,
                    customer_message=message,
                    text=text or "…",
                    suggested_actions=suggested,
                )
        except IntegrityError:
            return CopilotDraft.objects.get(customer_message=message)
        send_event_on_commit(
            [conversation_staff_group(message.conversation_id)],
            event_types.COPILOT_DRAFT,
            _draft_payload(draft),
        )
    metrics.SHADOW_DRAFTS.labels(outcome="drafted").inc()
    logger.info("conversation %s: shadow draft %s recorded", conversation_id, draft.pk)
    return draft


def _same_words(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def record_draft_use(*, draft_id: int, agent, sent_text: str) -> CopilotDraft:
    """The agent replied from this draft: `sent_as_is` when the text is the same (spacing and case aside), else `edited`."""
    with transaction.atomic():
        draft = CopilotDraft.objects.select_for_update().get(id=draft_id)
        draft.status = (
            CopilotDraft.Status.SENT_AS_IS
            if _same_words(draft.text, sent_text)
            else CopilotDraft.Status.EDITED
        )
        draft.sent_text = sent_text
        draft.agent = agent
        draft.save(update_fields=["status", "sent_text", "agent", "updated_at"])
        send_event_on_commit(
            [conversation_staff_group(draft.conversation_id)],
            event_types.COPILOT_DRAFT,
            _draft_payload(draft),
        )
    return draft


def ignore_draft(*, draft_id: int, agent) -> CopilotDraft:
    """The agent answered without this draft (or dismissed it)."""
    with transaction.atomic():
        draft = CopilotDraft.objects.select_for_update().get(id=draft_id)
        if draft.status == CopilotDraft.Status.PENDING:
            draft.status = CopilotDraft.Status.IGNORED
            draft.agent = agent
            draft.save(update_fields=["status", "agent", "updated_at"])
        send_event_on_commit(
            [conversation_staff_group(draft.conversation_id)],
            event_types.COPILOT_DRAFT,
            _draft_payload(draft),
        )
    return draft
