"""Runs one tool call for the runtime: validate, verify, scope, confirm, execute, audit.

Async because HTTP actions may call this very server (the demo store): the request must not
hold the thread that serves database work. Database steps go through `database_sync_to_async`.
"""

import asyncio
import logging
import os
import re
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
from django.conf import settings
from django.utils.module_loading import import_string

from infra import metrics
from infra.db import database_sync_to_async

from . import selectors, sentences, services
from .models import Action, ActionInvocation
from .wording import CONFIRM_QUESTION, is_affirmative

logger = logging.getLogger(__name__)

FAILURES_BEFORE_ESCALATION = 2
# Guessing at accounts: after this many look-ups that find nobody, a person takes over.
IDENTITY_ATTEMPTS = 5
IDEMPOTENT_METHODS = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
_ENV = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
_PATH_ARG = re.compile(r"{(\w+)}")


class ActionRejected(Exception):
    """Raised by a Python action to refuse a request (the backend's "no"), as a 4xx would."""


class ActionConfigurationError(Exception):
    pass


@dataclass(frozen=True)
class ToolOutcome:
    content: dict[str, Any]  # what the LLM reads as the tool's result
    escalate: bool = False
    confirmation: str = ""  # the exact change the customer must say yes to, when asked this turn


@dataclass(frozen=True)
class Execution:
    status: str
    result: Any = None
    error: str = ""
    latency_ms: int = 0


def _normalize(action: Action, arguments: dict[str, Any]) -> dict[str, Any]:
    arguments = dict(arguments)
    order_id = arguments.get("order_id")
    if isinstance(order_id, str):
        order_id = order_id.strip()
        arguments["order_id"] = order_id if order_id.startswith("#") or not order_id else "#" + order_id
    for key in ("email",):
        if isinstance(arguments.get(key), str):
            arguments[key] = arguments[key].strip().lower()
    return arguments


def _expand_env(value: str) -> str:
    def lookup(match: re.Match) -> str:
        name = match.group(1)
        if not os.environ.get(name):
            raise ActionConfigurationError(f"environment variable {name} is not set: export {name}=...")
        return os.environ[name]

    return _ENV.sub(lookup, value)


def _url(action: Action, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL with path arguments filled in (URL-encoded), and the arguments left for query or body."""
    template = action.url_template
    if action.base_url_setting:
        base = str(getattr(settings, action.base_url_setting, "") or "")
        if not base:
            raise ActionConfigurationError(f"setting {action.base_url_setting} is empty")
        template = base.rstrip("/") + "/" + template.lstrip("/")
    names = set(_PATH_ARG.findall(template))
    missing = [n for n in names if n not in arguments]
    if missing:
        raise ActionConfigurationError(f"URL template needs {', '.join(sorted(missing))}")
    url = _PATH_ARG.sub(lambda m: quote(str(arguments[m.group(1)]), safe=""), template)
    return url, {k: v for k, v in arguments.items() if k not in names}


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])[:500]
    except ValueError:
        pass
    return f"HTTP {response.status_code}"


_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)


def _http_client() -> httpx.AsyncClient:
    """The running event loop's HTTP client (connections and TLS set-up reused across actions)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = httpx.AsyncClient()
    return client


async def _execute_http(action: Action, arguments: dict[str, Any]) -> Execution:
    started = time.perf_counter()
    try:
        url, rest = _url(action, arguments)
        headers = {str(k): _expand_env(str(v)) for k, v in (action.headers or {}).items()}
    except ActionConfigurationError as exc:
        return Execution(ActionInvocation.Status.FAILED, error=f"misconfigured action: {exc}")
    method = action.http_method.upper()
    attempts = 1 + (action.retries if method in IDEMPOTENT_METHODS else 0)
    error = ""
    client = _http_client()
    # One pooled client per event loop: a new client per call spent a fifth of a turn on TLS set-up.
    for _ in range(attempts):
        try:
            response = await client.request(
                method,
                url,
                headers=headers,
                params=rest if method == "GET" else None,
                json=rest if method != "GET" else None,
                timeout=action.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            error = f"the backend did not answer ({type(exc).__name__})"
            continue
        latency = int((time.perf_counter() - started) * 1000)
        if response.status_code >= 500:
            error = f"the backend failed ({_error_text(response)})"
            continue
        if response.status_code in (401, 403):
            return Execution(ActionInvocation.Status.FAILED, error=_error_text(response), latency_ms=latency)
        if response.status_code >= 400:
            return Execution(
                ActionInvocation.Status.REJECTED, error=_error_text(response), latency_ms=latency
            )
        try:
            return Execution(ActionInvocation.Status.SUCCEEDED, result=response.json(), latency_ms=latency)
        except ValueError:
            return Execution(ActionInvocation.Status.SUCCEEDED, result={"text": response.text[:2000]})
    return Execution(
        ActionInvocation.Status.FAILED, error=error, latency_ms=int((time.perf_counter() - started) * 1000)
    )


async def _execute_python(action: Action, arguments: dict[str, Any]) -> Execution:
    started = time.perf_counter()
    try:
        function = import_string(action.python_path)
        result = await database_sync_to_async(function)(**arguments)
        status, error = ActionInvocation.Status.SUCCEEDED, ""
    except ActionRejected as exc:
        result, status, error = None, ActionInvocation.Status.REJECTED, str(exc)
    except Exception as exc:
        logger.exception("python action %s failed", action.name)
        result, status, error = None, ActionInvocation.Status.FAILED, f"{type(exc).__name__}: {exc}"[:500]
    return Execution(
        status, result=result, error=error, latency_ms=int((time.perf_counter() - started) * 1000)
    )


async def execute(action: Action, arguments: dict[str, Any]) -> Execution:
    """Run the action itself, with no policy checks."""
    if action.kind == Action.Kind.PYTHON:
        return await _execute_python(action, arguments)
    return await _execute_http(action, arguments)


def _appears_in(value: str, texts: list[str]) -> bool:
    needle = " ".join(value.lower().split())
    return any(needle in " ".join(t.lower().split()) for t in texts)


async def _verify_by_linked_identity(conversation_id: uuid.UUID, emails: list[str]) -> str | None:
    """Verify from an email identity the customer already has (their channel is linked to the account)."""
    lookup = await database_sync_to_async(selectors.identifying_action)("email")
    if lookup is None:
        return None
    for email in emails:
        done = await execute(lookup, {"email": email})
        user_id = done.result.get("user_id") if isinstance(done.result, dict) else None
        if done.status == ActionInvocation.Status.SUCCEEDED and user_id:
            await database_sync_to_async(services.record_verification)(
                conversation_id=conversation_id, user_id=user_id, method="linked_identity", evidence=email
            )
            return user_id
    return None


async def verify_by_linked_identity(conversation_id: uuid.UUID, known: selectors.Verification) -> str | None:
    """The verified user id, verifying from the customer's linked email identity when not yet verified
    (`known`: `selectors.verification`, as the caller read it)."""
    if known.user_id:
        return known.user_id
    return (
        await _verify_by_linked_identity(conversation_id, known.linked_emails)
        if known.linked_emails
        else None
    )


async def _owns_order(user_id: str, order_id: str) -> bool | None:
    """Whether the account lists the order; None when the account could not be read."""
    reader = await database_sync_to_async(selectors.account_action)()
    if reader is None:
        return None
    done = await execute(reader, {"user_id": user_id})
    if done.status != ActionInvocation.Status.SUCCEEDED or not isinstance(done.result, dict):
        return None
    return order_id in (done.result.get("orders") or [])


def _summary(action: Action, arguments: dict[str, Any], results: list[Any]) -> str:
    """The exact change in the customer's terms; an unusable template gives a plain sentence instead."""
    parameters = action.parameters or {}
    if action.confirmation_template:
        try:
            return sentences.change(action.confirmation_template, parameters, arguments, results)
        except sentences.TemplateError as exc:
            logger.warning("action %s: confirmation template not used: %s", action.name, exc)
    return sentences.plain_change(action.name, parameters, arguments, results)


def _said(action: Action, result: Any, results: list[Any]) -> str:
    """The result said plainly from the action's result template ("" without one)."""
    if not action.result_template:
        return ""
    return sentences.result(action.result_template, action.parameters or {}, result, [result, *results])


async def run_tool_call(
    *,
    conversation_id: uuid.UUID,
    use_case_id: int | None,
    name: str,
    arguments: dict[str, Any],
    call_id: str = "",
) -> ToolOutcome:
    """Judge and run one tool call of the LLM, auditing it; the outcome says what the LLM reads next."""
    db = database_sync_to_async
    context = await db(selectors.call_context)(conversation_id, use_case_id, name)
    action = context.action

    async def refuse(code: str, message: str) -> ToolOutcome:
        await db(services.record_invocation)(
            conversation_id=conversation_id,
            action=action,
            action_name=name,
            arguments=arguments,
            status=ActionInvocation.Status.REFUSED,
            call_id=call_id,
            error=f"{code}: {message}",
            verified_user_id=user_id or "",
        )
        metrics_count("refused")
        return ToolOutcome({"status": "refused", "code": code, "error": message})

    user_id = context.verified_user_id
    if action is None:
        return await refuse("unknown_tool", f"there is no action {name!r} here; do not call it again")
    arguments = _normalize(action, arguments)
    needs_customer = action.requires_verified_customer or action.scope != Action.Scope.NONE
    if needs_customer and not user_id and context.linked_emails:
        user_id = await _verify_by_linked_identity(conversation_id, context.linked_emails)
    if action.scope == Action.Scope.ACCOUNT:
        if arguments.get("user_id") not in (None, "", user_id):
            return await refuse("not_your_account", "you may act only on the verified customer's own account")
        if user_id:
            arguments["user_id"] = user_id
    if needs_customer and not user_id:
        return await refuse(
            "verification_required",
            "the customer is not verified: ask for the email on their account, or their first name, last "
            "name and zip code, and look them up first",
        )
    try:
        jsonschema.validate(arguments, action.parameters or {"type": "object"})
    except jsonschema.ValidationError as exc:
        path = ".".join(map(str, exc.absolute_path))
        return await refuse("invalid_arguments", f"{path + ': ' if path else ''}{exc.message}")
    if action.identifies_customer:
        if await db(selectors.failed_identity_lookups)(conversation_id) >= IDENTITY_ATTEMPTS:
            return await refuse(
                "too_many_attempts",
                f"{IDENTITY_ATTEMPTS} look-ups found no account; do not try again, offer a person instead",
            )
        given = [v for v in arguments.values() if isinstance(v, str)]
        if not all(_appears_in(v, context.customer_texts + context.linked_emails) for v in given):
            return await refuse(
                "not_from_customer",
                "identity details must come from the customer's own words in this conversation",
            )
    if action.scope == Action.Scope.ORDER:
        owns = await _owns_order(user_id, str(arguments.get("order_id", "")))
        if owns is None:
            return await refuse(
                "account_unreadable", "the customer's account could not be read; try again later"
            )
        if not owns:
            return await refuse(
                "not_your_order", "that order is not on the verified customer's account; it cannot be touched"
            )

    says = action.requires_confirmation or bool(action.result_template)
    results = await db(selectors.earlier_results)(conversation_id) if says else []
    summary = _summary(action, arguments, results) if action.requires_confirmation else ""
    invocation_id = None
    if action.requires_confirmation:
        pending = await db(selectors.awaiting_confirmation)(conversation_id, name, arguments)
        latest = context.latest_customer_message
        said_yes = (
            pending is not None
            and latest is not None
            and latest.created_at > pending.created_at
            and is_affirmative(latest.text)
        )
        if not said_yes:
            # A repeat while the same change waits is audited on its own row, never as a second pending
            # change: one yes confirms one change.
            await db(services.record_invocation)(
                conversation_id=conversation_id,
                action=action,
                action_name=name,
                arguments=arguments,
                status=ActionInvocation.Status.AWAITING_CONFIRMATION
                if pending is None
                else ActionInvocation.Status.REFUSED,
                call_id=call_id,
                summary=summary,
                error="" if pending is None else "repeated: the same change is already waiting for a yes",
                verified_user_id=user_id or "",
            )
            metrics_count("awaiting_confirmation" if pending is None else "refused")
            return ToolOutcome(
                {
                    "status": "confirmation_required",
                    "summary": summary,
                    "instruction": "Nothing was changed. Tell the customer exactly this change and ask for an "
                    f"explicit yes ({CONFIRM_QUESTION}); call the tool again with the same arguments only "
                    "after they say yes in their next message.",
                },
                confirmation=summary,
            )
        if not await db(services.confirm_invocation)(invocation_id=pending.pk, message=latest):
            return await refuse("already_handled", "this change was handled")
        invocation_id = pending.pk
        summary = pending.summary or summary  # what the customer said yes to

    done = await execute(action, arguments)
    if invocation_id is not None:
        await db(services.finish_invocation)(
            invocation_id=invocation_id,
            status=done.status,
            result=done.result,
            error=done.error,
            latency_ms=done.latency_ms,
        )
    else:
        await db(services.record_invocation)(
            conversation_id=conversation_id,
            action=action,
            action_name=name,
            arguments=arguments,
            status=done.status,
            call_id=call_id,
            summary=summary,
            result=done.result,
            error=done.error,
            latency_ms=done.latency_ms,
            verified_user_id=user_id or "",
        )
    metrics_count(done.status, name)
    if done.status == ActionInvocation.Status.SUCCEEDED:
        found = done.result.get("user_id") if isinstance(done.result, dict) else None
        if action.identifies_customer and found:
            await db(services.record_verification)(
                conversation_id=conversation_id,
                user_id=found,
                method="lookup",
                evidence=" ".join(str(v) for v in arguments.values()),
            )
        said = _said(action, done.result, results)
        content = {"status": "succeeded", "result": done.result}
        if action.requires_confirmation:
            content["summary"] = summary
        if said:
            content["said"] = said
        return ToolOutcome(content)
    if done.status == ActionInvocation.Status.REJECTED:
        return ToolOutcome({"status": "rejected", "error": done.error})
    failures = await db(selectors.recent_failures)(conversation_id)
    return ToolOutcome(
        {
            "status": "failed",
            "error": f"{done.error}. Nothing was changed; tell the customer honestly that it did not work.",
        },
        escalate=failures >= FAILURES_BEFORE_ESCALATION,
    )


def metrics_count(status: str, action: str = "") -> None:
    metrics.ACTIONS.labels(status=status).inc()
    if status in ("failed", "rejected"):
        metrics.ACTION_FAILURES.labels(action=action or "unknown").inc()
