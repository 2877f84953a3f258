"""Writes for actions: the audit log, confirmations and who the customer proved to be."""

import uuid
from typing import Any

from django.db import IntegrityError, transaction

from conversations.models import Message

from .models import Action, ActionInvocation, CustomerVerification
from .wording import is_negative


def record_verification(*, conversation_id: uuid.UUID, user_id: str, method: str, evidence: str = "") -> None:
    """Remember who the customer proved to be; the first proof of a conversation stands."""
    try:
        with transaction.atomic():
            CustomerVerification.objects.get_or_create(
                conversation_id=conversation_id,
                defaults={"user_id": user_id, "method": method, "evidence": evidence[:320]},
            )
    except IntegrityError:
        pass  # verified concurrently by another turn of the same conversation


def record_invocation(
    *,
    conversation_id: uuid.UUID,
    action: Action | None,
    action_name: str,
    arguments: dict[str, Any],
    status: str,
    call_id: str = "",
    summary: str = "",
    result: Any = None,
    error: str = "",
    latency_ms: int | None = None,
    verified_user_id: str = "",
) -> ActionInvocation:
    """Audit one tool call (refused, awaiting confirmation or finished)."""
    return ActionInvocation.objects.create(
        conversation_id=conversation_id,
        action=action,
        action_name=action_name[:64],
        call_id=call_id[:100],
        arguments=arguments,
        status=status,
        summary=summary[:2000],
        result=result,
        error=error,
        latency_ms=latency_ms,
        verified_user_id=verified_user_id or "",
    )


def confirm_invocation(*, invocation_id: int, message: Message) -> bool:
    """Mark a waiting invocation as confirmed by `message`; False if another turn got there first."""
    with transaction.atomic():
        invocation = ActionInvocation.objects.select_for_update().get(pk=invocation_id)
        if invocation.status != ActionInvocation.Status.AWAITING_CONFIRMATION:
            return False
        invocation.confirmed_by = message
        # Failed until finish_invocation says otherwise, so a crash mid-call is never shown as success.
        invocation.status = ActionInvocation.Status.FAILED
        invocation.error = "interrupted before the backend answered"
        invocation.save(update_fields=["confirmed_by", "status", "error", "updated_at"])
    return True


def finish_invocation(
    *, invocation_id: int, status: str, result: Any = None, error: str = "", latency_ms: int | None = None
) -> ActionInvocation:
    """Store how a confirmed invocation ended."""
    invocation = ActionInvocation.objects.get(pk=invocation_id)
    invocation.status = status
    invocation.result = result
    invocation.error = error
    invocation.latency_ms = latency_ms
    invocation.save(update_fields=["status", "result", "error", "latency_ms", "updated_at"])
    return invocation


def settle_confirmations(*, conversation_id: uuid.UUID, customer_text: str) -> int:
    """A customer's no declines every change still waiting for a yes; returns how many."""
    if not is_negative(customer_text):
        return 0
    return ActionInvocation.objects.filter(
        conversation_id=conversation_id, status=ActionInvocation.Status.AWAITING_CONFIRMATION
    ).update(status=ActionInvocation.Status.DECLINED)
