"""Reads for actions: tools for a use case, who the customer proved to be, what was done."""

import json
import uuid
from dataclasses import dataclass
from typing import Any, TypedDict

from django.core.cache import cache
from django.db import connection

from conversations.models import Conversation, Identity, Message, UseCase
from infra.stamped import StampedCache

from .models import Action, ActionInvocation, CustomerVerification


def action_tool(action: Action) -> dict[str, Any]:
    """An action as a Chat Completions tool; examples travel in the description so every LLM sees them."""
    description = action.description.strip()
    examples = [e.strip() for e in action.examples.splitlines() if e.strip()]
    if examples:
        description += " Examples: " + "; ".join(f'"{e}"' for e in examples)
    parameters = action.parameters or {"type": "object", "properties": {}}
    if action.scope == Action.Scope.ACCOUNT:
        # The runtime fills user_id with the verified customer's; the LLM never chooses whose account.
        properties = {k: v for k, v in parameters.get("properties", {}).items() if k != "user_id"}
        required = [r for r in parameters.get("required", []) if r != "user_id"]
        parameters = {**parameters, "properties": properties, "required": required}
    return {
        "type": "function",
        "function": {"name": action.name, "description": description, "parameters": parameters},
    }


_tools: StampedCache[list[dict[str, Any]]] = StampedCache(
    lambda: [Action._meta.db_table, UseCase.actions.through._meta.db_table]
)


def tools_for_use_case(use_case: UseCase | None) -> list[dict[str, Any]]:
    """The use case's enabled actions as tools, in a stable order (read-only: kept while no action changes)."""
    if use_case is None:
        return []
    return _tools.get(
        use_case.pk, lambda: [action_tool(a) for a in use_case.actions.filter(enabled=True).order_by("name")]
    )


def action_for_use_case(use_case_id: int | None, name: str) -> Action | None:
    """The enabled action `name` if the use case lists it (the LLM may call nothing else)."""
    if use_case_id is None:
        return None
    return Action.objects.filter(use_cases__id=use_case_id, name=name, enabled=True).first()


def identifying_action(parameter: str) -> Action | None:
    """An enabled look-up that identifies a customer from `parameter` (e.g. email)."""
    return (
        Action.objects.filter(
            enabled=True, identifies_customer=True, parameters__properties__has_key=parameter
        )
        .order_by("name")
        .first()
    )


def account_action() -> Action | None:
    """The enabled action that reads an account (with its order ids) for scope checks."""
    return Action.objects.filter(enabled=True, reads_account=True).order_by("name").first()


def verified_user_id(conversation_id: uuid.UUID) -> str | None:
    """The backend user id the customer proved to be in this conversation, if any."""
    return (
        CustomerVerification.objects.filter(conversation_id=conversation_id)
        .values_list("user_id", flat=True)
        .first()
    )


def linked_emails(conversation_id: uuid.UUID) -> list[str]:
    """The email identities of the conversation's customer."""
    return list(
        Identity.objects.filter(
            customer__conversations__id=conversation_id, channel=Identity.Channel.EMAIL
        ).values_list("address", flat=True)
    )


@dataclass(frozen=True)
class Verification:
    """Who the customer proved to be in a conversation, and the emails they could be verified from."""

    user_id: str | None
    linked_emails: list[str]


def verification(conversation_id: uuid.UUID) -> Verification:
    """`verified_user_id` and `linked_emails` in one statement (a turn reads both before the LLM call;
    written out, as the ORM's building of its two subqueries cost more than running them)."""
    sql = (
        f"SELECT (SELECT v.user_id FROM {CustomerVerification._meta.db_table} v"
        " WHERE v.conversation_id = c.id ORDER BY v.id LIMIT 1),"
        f" ARRAY(SELECT i.address FROM {Identity._meta.db_table} i"
        " WHERE i.customer_id = c.customer_id AND i.channel = %s ORDER BY i.id)"
        f" FROM {Conversation._meta.db_table} c WHERE c.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Identity.Channel.EMAIL, conversation_id])
        row = cursor.fetchone()
    user_id, emails = row or (None, [])
    return Verification(user_id=user_id, linked_emails=list(emails or []))


@dataclass(frozen=True)
class CallContext:
    action: Action | None
    verified_user_id: str | None
    customer_texts: list[str]
    linked_emails: list[str]
    latest_customer_message: Message | None


def call_context(conversation_id: uuid.UUID, use_case_id: int | None, name: str) -> CallContext:
    """What the executor needs to judge one tool call."""
    customer_messages = list(
        Message.objects.filter(conversation_id=conversation_id, role=Message.Role.CUSTOMER).order_by(
            "created_at"
        )
    )
    return CallContext(
        action=action_for_use_case(use_case_id, name),
        verified_user_id=verified_user_id(conversation_id),
        customer_texts=[m.text for m in customer_messages],
        linked_emails=linked_emails(conversation_id),
        latest_customer_message=customer_messages[-1] if customer_messages else None,
    )


def canonical(arguments: dict[str, Any]) -> str:
    """Arguments as one stable string, so "the same call" can be recognised across turns."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"))


def awaiting_confirmation(
    conversation_id: uuid.UUID, action_name: str, arguments: dict[str, Any]
) -> ActionInvocation | None:
    """The newest invocation of exactly this call still waiting for the customer's yes."""
    wanted = canonical(arguments)
    for invocation in ActionInvocation.objects.filter(
        conversation_id=conversation_id,
        action_name=action_name,
        status=ActionInvocation.Status.AWAITING_CONFIRMATION,
    ).order_by("-created_at"):
        if canonical(invocation.arguments) == wanted:
            return invocation
    return None


def failed_identity_lookups(conversation_id: uuid.UUID) -> int:
    """Look-ups of the customer's identity that found nobody, in this conversation."""
    return ActionInvocation.objects.filter(
        conversation_id=conversation_id,
        action__identifies_customer=True,
        status=ActionInvocation.Status.REJECTED,
    ).count()


def account_records_key(conversation_id: uuid.UUID) -> str:
    """Where the records read for the conversation's account section are kept (the cache)."""
    return f"baton:account-records:{conversation_id}"


def earlier_results(conversation_id: uuid.UUID) -> list[Any]:
    """What has been read so far, newest first: the conversation's successful actions' results, then the
    records read for its account section (an LLM may name an item it saw only there)."""
    audited = list(
        ActionInvocation.objects.filter(
            conversation_id=conversation_id, status=ActionInvocation.Status.SUCCEEDED, result__isnull=False
        )
        .order_by("-created_at")
        .values_list("result", flat=True)
    )
    return audited + (cache.get(account_records_key(conversation_id)) or [])


def recent_failures(conversation_id: uuid.UUID) -> int:
    """Failed invocations since the last success: repeated failure escalates."""
    invocations = ActionInvocation.objects.filter(conversation_id=conversation_id).exclude(
        status__in=[ActionInvocation.Status.AWAITING_CONFIRMATION, ActionInvocation.Status.REFUSED]
    )
    count = 0
    for status in invocations.order_by("-created_at").values_list("status", flat=True):
        if status != ActionInvocation.Status.FAILED:
            break
        count += 1
    return count


class ActionRecord(TypedDict):
    """One audit-logged action as the packet, the operators and the rules read it."""

    id: int
    action: str  # the action's name, e.g. cancel_pending_order
    arguments: dict[str, Any]
    status: str  # ActionInvocation.Status
    changes_something: bool  # a change the customer confirms, not a look-up
    summary: str
    result: Any
    error: str
    latency_ms: int | None
    verified_user_id: str
    confirmed_by_message_id: str | None
    confirmed_by_text: str | None
    at: str
    settled_at: str  # when the status was last set: a change confirmed later settles after its repeats


def actions_taken(conversation_id: uuid.UUID) -> list[ActionRecord]:
    """Every action the AI tried in the conversation, oldest first (for the handoff packet and admins)."""
    return [
        ActionRecord(
            id=i.pk,
            action=i.action_name,
            arguments=i.arguments,
            status=i.status,
            changes_something=bool(i.action and i.action.requires_confirmation),
            summary=i.summary,
            result=i.result,
            error=i.error,
            latency_ms=i.latency_ms,
            verified_user_id=i.verified_user_id,
            confirmed_by_message_id=str(i.confirmed_by_id) if i.confirmed_by_id else None,
            confirmed_by_text=i.confirmed_by.text if i.confirmed_by else None,
            at=i.created_at.isoformat(),
            settled_at=i.updated_at.isoformat(),
        )
        for i in ActionInvocation.objects.filter(conversation_id=conversation_id)
        .select_related("confirmed_by", "action")
        .order_by("created_at")
    ]


def failed_actions_count_sql(conversation: str) -> str:
    """How many of a conversation's actions failed, as a scalar subquery for the caller's statement
    (`conversation`: its SQL for the conversation id): `handoff.operators.action_failed` in SQL, an
    error or a change the backend rejected."""
    return (
        f"(SELECT count(*) FROM {ActionInvocation._meta.db_table} i"
        f" LEFT JOIN {Action._meta.db_table} a ON a.id = i.action_id"
        f" WHERE i.conversation_id = {conversation}"
        f" AND (i.status = '{ActionInvocation.Status.FAILED}'"
        f" OR (i.status = '{ActionInvocation.Status.REJECTED}' AND a.requires_confirmation)))"
    )


def changes_made(conversation_id: uuid.UUID) -> list[str]:
    """The changes the AI made in this conversation (succeeded actions that needed a yes), oldest first.

    Written out: every turn of a use case with actions reads it, and the ORM took longer to build the
    statement than PostgreSQL to run it.
    """
    sql = (
        f"SELECT i.action_name, i.arguments FROM {ActionInvocation._meta.db_table} i"
        f" JOIN {Action._meta.db_table} a ON a.id = i.action_id"
        " WHERE i.conversation_id = %s AND i.status = %s AND a.requires_confirmation"
        " ORDER BY i.created_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [conversation_id, ActionInvocation.Status.SUCCEEDED])
        rows = cursor.fetchall()
    # jsonb arrives as text (Django leaves decoding to JSONField): decoded as the field would.
    return [f"- {name} {canonical(json.loads(arguments))}" for name, arguments in rows]


def prompt_lines(*, user_id: str | None, changes: list[str]) -> list[str]:
    """What the LLM must know about actions in this conversation: who is verified (`user_id`) and what
    was changed (`changes_made`), both as the caller just read them."""
    lines = [
        f"# Verified customer\nThe customer is verified as store user_id `{user_id}`."
        if user_id
        else "# Verified customer\nNobody yet: look the customer up by email, or first name, last name "
        "and zip code, before reading or changing an account."
    ]
    if changes:
        lines.append("# Changes already made in this conversation\n" + "\n".join(changes))
    return lines
