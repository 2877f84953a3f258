"""Copilot drafting: the AI's would-be answer, offered to the agent (or recorded in shadow mode), never sent.

The draft is stored by `handoff.services.drafts`; this module runs the AI for it.
"""

import logging
import uuid

from conversations.llm import LLMError, provider_for
from conversations.llm.base import complete_sync
from conversations.llm.offline import HANDOFF_TOOL
from conversations.models import Message
from handoff.models import CopilotDraft
from handoff.services import drafts
from infra import metrics

from .context import turn_context
from .runtime import build_prompt, tools_for

logger = logging.getLogger(__name__)

HANDOFF_DRAFT = "(The AI would hand this conversation to a person here.)"


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
    existing = drafts.draft_for(customer_message_id=message.id)
    if existing:
        return existing
    context = turn_context(message.conversation_id)
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
    draft, created = drafts.store_ai_draft(message=message, text=text, suggested_actions=suggested)
    if not created:
        return draft
    metrics.SHADOW_DRAFTS.labels(outcome="drafted").inc()
    logger.info("conversation %s: shadow draft %s recorded", conversation_id, draft.pk)
    return draft
