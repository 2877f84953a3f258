"""The verified customer's account as a compact prompt section, read through the use case's declared actions.

What is read comes from the actions' data: the use case's `reads_account` action returns the account;
its `x-baton` hint `lists` names the account fields holding ids of records another action reads
(`{"orders": "order"}`: the ids in `orders` are read by the action hinted `reads: "order"`), and a
reader's hint `shows` names the fields of its records worth a line. Records are rendered by their
own fields, so nothing here knows what a store's order looks like.
"""

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from infra.db import database_sync_to_async

from . import selectors
from .executor import execute
from .models import Action, ActionInvocation

logger = logging.getLogger(__name__)

HEADING = "# The verified customer's account"
# The reads_account contract (see Action.reads_account): the account lists its orders in `orders`.
DEFAULT_LISTS = {"orders": "order"}
MAX_RECORDS = 20  # records read per list field; the rest are named by id only
MAX_LINE_CHARS = 900
MAX_SECTION_CHARS = 6000
READ_BUDGET_SECONDS = 4.0  # a slow backend costs a turn this much at most, then the section is left out
CACHE_SECONDS = 600  # bounds how stale the section gets from changes made outside the conversation


@dataclass(frozen=True)
class Reader:
    action: Action
    parameter: str  # the argument that takes one id
    shows: list[str] | None  # the fields of a record worth a line; all when None


@dataclass(frozen=True)
class Plan:
    user_id: str
    account: Action
    readers: dict[str, Reader]  # account field listing ids -> the action reading one of them
    cache_key: str
    cached: str | None


def _hints(schema: Any) -> dict[str, Any]:
    hints = schema.get("x-baton") if isinstance(schema, dict) else None
    return hints if isinstance(hints, dict) else {}


def _id_parameter(action: Action) -> str | None:
    """The one argument a reader needs besides the account (e.g. order_id); None if it needs more."""
    required = [r for r in (action.parameters or {}).get("required", []) if r != "user_id"]
    return required[0] if len(required) == 1 else None


def plan(conversation_id: uuid.UUID, use_case_id: int | None, user_id: str | None) -> Plan | None:
    """What to read for the account section of `user_id` (the conversation's verified customer, as the
    caller just read it), and the section if already read (database only).

    None before verification and in use cases without an account-reading action.
    """
    if not user_id or use_case_id is None:
        return None
    actions = list(Action.objects.filter(use_cases__id=use_case_id, enabled=True).order_by("name"))
    account = next((a for a in actions if a.reads_account), None)
    if account is None:
        return None
    by_reads = {}
    for action in actions:
        reads = _hints(action.parameters).get("reads")
        parameter = _id_parameter(action)
        if reads and parameter and action is not account:
            by_reads.setdefault(reads, Reader(action, parameter, _hints(action.parameters).get("shows")))
    lists = _hints(account.parameters).get("lists") or DEFAULT_LISTS
    readers = {field: by_reads[reads] for field, reads in lists.items() if reads in by_reads}
    # Read once per conversation and again after each change it made: the count of succeeded changes
    # is part of the key, so a change invalidates the section in every process at once (the cache is
    # Redis when REDIS_URL is set). Reads the LLM made itself are not reused from the audit log: they
    # cover only the orders it happened to ask about, and an old one may predate a change.
    changes = ActionInvocation.objects.filter(
        conversation_id=conversation_id,
        status=ActionInvocation.Status.SUCCEEDED,
        action__requires_confirmation=True,
    ).count()
    key = f"baton:account-section:{conversation_id}:{use_case_id}:{user_id}:{changes}"
    return Plan(user_id=user_id, account=account, readers=readers, cache_key=key, cached=cache.get(key))


async def account_section(*, conversation_id: uuid.UUID, use_case_id: int | None, user_id: str | None) -> str:
    """The verified customer's account section for the system prompt; "" when there is none to give.

    Never raises: a failed or slow read leaves the section out of this turn (and is tried again next turn).
    """
    try:
        found = await database_sync_to_async(plan)(conversation_id, use_case_id, user_id)
        if found is None:
            return ""
        if found.cached is not None:
            return found.cached
        section, records = await asyncio.wait_for(_read_and_render(found), READ_BUDGET_SECONDS)
        if section:
            await database_sync_to_async(cache.set_many)(
                {found.cache_key: section, selectors.account_records_key(conversation_id): records},
                CACHE_SECONDS,
            )
        return section
    except TimeoutError:
        logger.warning("conversation %s: the account read took too long; left out", conversation_id)
    except Exception:
        logger.exception("conversation %s: the account section failed; left out", conversation_id)
    return ""


async def _read_and_render(plan: Plan) -> tuple[str, list[Any]]:
    """The section, and the records it was read from (the executor describes ids by them)."""
    done = await execute(plan.account, {"user_id": plan.user_id})
    if done.status != ActionInvocation.Status.SUCCEEDED or not isinstance(done.result, dict):
        logger.warning("account read for %s ended %s: %s", plan.user_id, done.status, done.error)
        return "", []
    account = done.result
    wanted = {
        field: [str(i) for i in account[field][:MAX_RECORDS]]
        for field in plan.readers
        if isinstance(account.get(field), list)
    }
    calls = [
        execute(plan.readers[field].action, {plan.readers[field].parameter: record_id})
        for field, ids in wanted.items()
        for record_id in ids
    ]
    results = iter(await asyncio.gather(*calls))  # every record at once: one round trip, not one each
    records: dict[str, list[tuple[str, Any]]] = {}
    for field, ids in wanted.items():
        for record_id in ids:
            read = next(results)
            if read.status != ActionInvocation.Status.SUCCEEDED:
                logger.warning("reading %s %s ended %s: %s", field, record_id, read.status, read.error)
                return "", []
            records.setdefault(field, []).append((record_id, read.result))
    shows = {field: reader.shows for field, reader in plan.readers.items()}
    return render(account, records, shows), [account, *(r for rs in records.values() for _, r in rs)]


def render(
    account: dict[str, Any],
    records: dict[str, list[tuple[str, Any]]],
    shows: dict[str, list[str] | None],
) -> str:
    """The section: one line per account field, then one line per record read for a listed field."""
    lines = [
        HEADING,
        "Read through the actions for the verified customer, refreshed after each change. Use it to tell "
        "which record the customer means and the ids the tools need; tell the customer only what they ask "
        "about.",
    ]
    for field, value in account.items():
        if field in records or _empty(value):
            continue
        lines.append(_clip(f"{field}: {_value(value)}"))
    for field, read in records.items():
        listed = account.get(field) or []
        lines.append(f"{field} ({len(listed)}):")
        for record_id, record in read:
            lines.append(_clip(f"- {record_id}: {_fields(record, shows.get(field), record_id)}"))
        if len(listed) > len(read):
            lines.append(_clip(f"- not shown: {', '.join(map(str, listed[len(read) :]))}"))
    return _bounded(lines)


def _fields(record: Any, shows: list[str] | None, record_id: str) -> str:
    if not isinstance(record, dict):
        return _value(record)
    chosen = {k: record[k] for k in shows if k in record} if shows else record
    return _record({k: v for k, v in chosen.items() if v != record_id})


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _record(record: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {_value(v)}" for k, v in record.items() if not _empty(v))


def _value(value: Any) -> str:
    if isinstance(value, dict):
        if value and all(isinstance(v, dict) for v in value.values()):
            # Records keyed by id (payment methods): the key once, not again inside.
            return "; ".join(
                f"{key} {{{_record({k: v for k, v in inner.items() if v != key})}}}"
                for key, inner in value.items()
            )
        return "{" + _record(value) + "}"
    if isinstance(value, list):
        return "[" + "; ".join(_counted(value)) + "]"
    return str(value)


def _counted(values: list[Any]) -> list[str]:
    """List entries with repeats folded ("2 × {...}"), in first-seen order."""
    counts: dict[str, int] = {}
    shown: dict[str, str] = {}
    for value in values:
        key = json.dumps(value, sort_keys=True, default=str)
        counts[key] = counts.get(key, 0) + 1
        shown.setdefault(key, _value(value))
    return [f"{n} × {shown[k]}" if n > 1 else shown[k] for k, n in counts.items()]


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


def _bounded(lines: list[str]) -> str:
    kept, size = [], 0
    for index, line in enumerate(lines):
        if size + len(line) + 1 > MAX_SECTION_CHARS:
            kept.append(f"(… {len(lines) - index} more lines left out; read them with the tools)")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)
