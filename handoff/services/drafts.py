"""Copilot drafts as stored: the AI's would-be answer offered to the agent, never sent to the customer.

Drafting itself (running the AI) is the orchestration layer's `copilot`; this module stores the draft
and records what the agent did with it. Drafts go to staff groups only.
"""

import uuid

from django.db import IntegrityError, transaction

from conversations.models import Message

from ..models import CopilotDraft
from . import notify


def store_ai_draft(
    *, message: Message, text: str, suggested_actions: list[dict]
) -> tuple[CopilotDraft, bool]:
    """Store the AI's draft answer to the customer `message` and show it to staff; (draft, created).

    Idempotent per customer message: a second draft for it returns the first.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                draft = CopilotDraft.objects.create(
                    conversation_id=message.conversation_id,
                    customer_message=message,
                    text=text or "…",
                    suggested_actions=suggested_actions,
                )
        except IntegrityError:
            return CopilotDraft.objects.get(customer_message=message), False
        notify.draft_changed(draft)
    return draft, True


def draft_for(*, customer_message_id: uuid.UUID | str) -> CopilotDraft | None:
    return CopilotDraft.objects.filter(customer_message_id=customer_message_id).first()


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
        notify.draft_changed(draft)
    return draft


def ignore_draft(*, draft_id: int, agent) -> CopilotDraft:
    """The agent answered without this draft (or dismissed it)."""
    with transaction.atomic():
        draft = CopilotDraft.objects.select_for_update().get(id=draft_id)
        if draft.status == CopilotDraft.Status.PENDING:
            draft.status = CopilotDraft.Status.IGNORED
            draft.agent = agent
            draft.save(update_fields=["status", "agent", "updated_at"])
        notify.draft_changed(draft)
    return draft
