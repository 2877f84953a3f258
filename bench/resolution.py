"""Resolution: τ-bench retail tasks resolved end to end over the web chat, by a simulated customer.

Each task of ../shared/benchmarks/tau-retail (tasks_train.json, tasks_dev.json) is one conversation over
the real `/ws/chat/` websocket of a real Daphne, against the seeded demo store, with the engine the seed
configures (offline). The customer is rule-based (bench/_customer_sim.py): it knows what the task's
instruction gives it, answers what the assistant asks and says yes only to a change that matches its goal.

Resolved: at the end, the customer's store rows (account and orders) equal what replaying the task's gold
write actions through the store's HTTP API leaves on a fresh store, nothing outside the account changed,
and the conversation was not handed off. Gold swaps of an item for itself (a no-op the store refuses) are
dropped; tasks left with nothing to do are not run. Between tasks only the customer's rows are restored:
writes elsewhere are caught after every reply (a digest of every store row) and restored at once.

Policy violations, seen as store changes after each reply (not taken from Baton's own audit log): a write
in a turn whose customer message was not an explicit yes to a confirmation that stated that change (that
order, or the account), and a write to any row outside the customer's account. Conversations of different
customers run at once (`--jobs`); a write into another running task's customer is only told apart with
`--jobs 1`.

Runs on a throwaway PostgreSQL and Redis database 13; prints a Markdown table; `--strict` exits 1 on a miss.
"""

import argparse
import asyncio
import io
import json
import os
import random
import secrets
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TASKS_DIR = ROOT.parent / "shared" / "benchmarks" / "tau-retail"
sys.path.insert(0, str(BENCH))
os.environ["DEMOSTORE_API_TOKEN"] = secrets.token_urlsafe(18)  # this run's throwaway store only
os.environ["BATON_LOG_LEVEL"] = "ERROR"  # refused store writes are expected; keep the table readable

from _customer_sim import ACCOUNT, MAX_TURNS, TURNS_PER_REQUEST, Customer, Said, normalize_actions  # noqa: E402
from _throwaway import setup_django, table  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
TARGETS = {"train": 0.95, "dev": 0.90}
TARGET_MEDIAN_TURNS = 6
HANDOFF_DRAIN_SECONDS = 0.03  # frames that follow a reply at once (a handoff right after the AI's words)
NOTICE_DRAIN_SECONDS = 1.0  # after a system notice (e.g. "bringing in a person"), its handoff frame
WRITE_PATHS = {
    "cancel_pending_order": "orders/{order_id}/cancel",
    "modify_pending_order_address": "orders/{order_id}/address",
    "modify_pending_order_payment": "orders/{order_id}/payment",
    "modify_pending_order_items": "orders/{order_id}/items",
    "return_delivered_order_items": "orders/{order_id}/return",
    "exchange_delivered_order_items": "orders/{order_id}/exchange",
    "modify_user_address": "users/{user_id}/address",
}
Key = tuple[str, str]  # (table label, primary key)


# The store: rows, digests, reset ---------------------------------------------------------------------
class Store:
    """Direct access to the demo store's tables (by app label, so module moves don't matter)."""

    def __init__(self) -> None:
        from django.apps import apps

        self.models = {
            "user": apps.get_model("demostore", "StoreUser"),
            "order": apps.get_model("demostore", "StoreOrder"),
            "product": apps.get_model("demostore", "StoreProduct"),
        }
        self.seed: dict[Key, dict[str, Any]] = {}
        for label, model in self.models.items():
            for obj in model.objects.all():
                self.seed[(label, str(obj.pk))] = self._row(obj)
        self.owner = {key: self._owner_of(key, row) for key, row in self.seed.items()}
        self.baseline = self.digests()

    @staticmethod
    def _row(obj: Any) -> dict[str, Any]:
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}

    @staticmethod
    def _owner_of(key: Key, row: dict[str, Any]) -> str | None:
        if key[0] == "user":
            return key[1]
        return row.get("user_id") if key[0] == "order" else None

    def data(self, label: str) -> dict[str, Any]:
        """The seeded records of one table as the τ-bench JSON shapes (what the customer knows)."""
        return {pk: dict(row["data"]) for (lab, pk), row in self.seed.items() if lab == label}

    def user_rows(self, user_id: str) -> dict[Key, dict[str, Any]]:
        rows = {("user", str(u.pk)): self._row(u) for u in self.models["user"].objects.filter(pk=user_id)}
        for order in self.models["order"].objects.filter(user_id=user_id):
            rows[("order", str(order.pk))] = self._row(order)
        return rows

    def seed_rows(self, user_id: str) -> dict[Key, dict[str, Any]]:
        return {k: v for k, v in self.seed.items() if self.owner[k] == user_id and k[0] != "product"}

    def digests(self) -> dict[Key, str]:
        from django.db import connection

        found = {}
        with connection.cursor() as cursor:
            for label, model in self.models.items():
                table_name = connection.ops.quote_name(model._meta.db_table)
                pk = connection.ops.quote_name(model._meta.pk.column)
                cursor.execute(f"SELECT {pk}, md5(t::text) FROM {table_name} t")
                found.update({(label, str(pk_value)): digest for pk_value, digest in cursor.fetchall()})
        return found

    def restore(self, keys: set[Key]) -> None:
        """Put these rows back as seeded (rows that were not seeded are deleted)."""
        from django.db import transaction

        with transaction.atomic():
            for label, pk in sorted(keys):
                model = self.models[label]
                row = self.seed.get((label, pk))
                if row is None:
                    model.objects.filter(pk=pk).delete()
                    continue
                fields = {k: v for k, v in row.items() if k != model._meta.pk.attname}
                if not model.objects.filter(pk=pk).update(**fields):
                    model.objects.create(**row)

    def reset_user(self, user_id: str) -> None:
        self.restore(set(self.seed_rows(user_id)) | set(self.user_rows(user_id)))

    def foreign_changes(self, running_users: set[str]) -> set[Key]:
        """Rows changed since seeding that no running task's customer owns; they are restored at once."""
        now = self.digests()
        changed = {k for k in set(now) | set(self.baseline) if now.get(k) != self.baseline.get(k)}
        foreign = {k for k in changed if self.owner.get(k) not in running_users or k[0] == "product"}
        if foreign:
            self.restore(foreign)
        return foreign


def written_targets(before: dict[Key, dict], after: dict[Key, dict]) -> list[str]:
    """What one turn changed in the customer's rows: order ids, and ACCOUNT for the account itself.

    A gift-card balance moving along with an order change is part of that order's write.
    """
    orders = sorted(
        k[1] for k in set(before) | set(after) if k[0] == "order" and before.get(k) != after.get(k)
    )
    targets = list(orders)
    for key in {k for k in set(before) | set(after) if k[0] == "user"}:
        old, new = before.get(key) or {}, after.get(key) or {}
        if old == new:
            continue
        old_data, new_data = dict(old.get("data") or {}), dict(new.get("data") or {})
        balances_only = {k: v for k, v in old_data.items() if k != "payment_methods"} == {
            k: v for k, v in new_data.items() if k != "payment_methods"
        } and {k: v for k, v in old.items() if k != "data"} == {k: v for k, v in new.items() if k != "data"}
        if not (balances_only and orders):
            targets.append(ACCOUNT)
    return targets


# HTTP -----------------------------------------------------------------------------------------------
def http_json(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"{}")
        except ValueError:  # an error page, not the API's JSON: keep its start as the error
            return exc.code, {"error": body[:200].decode(errors="replace")}


def replay_gold(address: str, actions: list[dict[str, Any]]) -> list[str]:
    """Apply the gold writes through the store's own HTTP API; returns the errors of refused ones."""
    errors = []
    for action in actions:
        kwargs = dict(action["kwargs"])
        path = WRITE_PATHS[action["name"]].format(
            **{
                k: urllib.parse.quote(str(kwargs.pop(k)), safe="")
                for k in ("order_id", "user_id")
                if k in kwargs
            }
        )
        status, body = http_json(
            f"http://{address}/demostore/api/{path}", kwargs, os.environ["DEMOSTORE_API_TOKEN"]
        )
        if status != 200:
            errors.append(
                f"{action['name']} {action['kwargs'].get('order_id', '')}: {body.get('error', status)}"
            )
    return errors


# One conversation -----------------------------------------------------------------------------------
@dataclass
class Turn:
    said: Said
    reply: str | None
    seconds: float
    writes: list[str] = field(default_factory=list)
    foreign: list[Key] = field(default_factory=list)


@dataclass
class Outcome:
    split: str
    index: int
    task: dict[str, Any]
    turns: list[Turn] = field(default_factory=list)
    resolved: bool = False
    reason: str = ""
    violations: list[str] = field(default_factory=list)
    gold_errors: list[str] = field(default_factory=list)
    dropped_swaps: int = 0
    mismatch: list[str] = field(default_factory=list)

    @property
    def customer_turns(self) -> int:
        return sum(1 for t in self.turns if not t.said.closing)

    @property
    def action_types(self) -> list[str]:
        return sorted({a["name"] for a in self.task["actions"]}) or ["(no write)"]


class Reply:
    """What came back for one customer message."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.system = False
        self.handoff = False
        self.error: str | None = None
        self.seconds = 0.0


async def exchange(ws: Any, text: str, timeout: float) -> Reply:
    """Send one customer message; collect frames until the AI's (or a person's) message or a handoff."""
    reply = Reply()
    await ws.send(json.dumps({"type": "message", "text": text, "client_id": uuid.uuid4().hex}))
    deadline = time.monotonic() + timeout
    while reply.text is None and not reply.handoff:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            reply.error = f"no reply within {timeout:.0f} s"
            return reply
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        except TimeoutError:
            continue
        read_frame(frame, reply)
    reply.seconds = time.monotonic() - deadline + timeout
    await drain(
        ws, reply, NOTICE_DRAIN_SECONDS if reply.system and not reply.handoff else HANDOFF_DRAIN_SECONDS
    )
    return reply


def read_frame(frame: dict[str, Any], reply: Reply) -> None:
    kind = frame.get("type")
    if kind == "message" and frame.get("role") in ("ai", "agent", "system"):
        reply.text = frame.get("text") if reply.text is None else f"{reply.text}\n{frame.get('text')}"
        reply.system |= frame.get("role") == "system"
    elif kind == "handoff":
        reply.handoff = True
    elif kind == "error":
        reply.error = f"{frame.get('code')}: {frame.get('detail')}"


async def drain(ws: Any, reply: Reply, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            read_frame(json.loads(await asyncio.wait_for(ws.recv(), remaining)), reply)
        except TimeoutError:
            return


class Runner:
    """Runs tasks against the servers, a few at a time, never two of the same customer at once."""

    def __init__(self, store: Store, addresses: list[str], executor: ThreadPoolExecutor, args: Any) -> None:
        self.store = store
        self.addresses = addresses
        self.executor = executor
        self.args = args
        self.running: set[str] = set()
        self.users, self.orders, self.products = (
            store.data("user"),
            store.data("order"),
            store.data("product"),
        )
        self.served = 0

    async def db(self, fn: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def run_all(self, work: list[tuple[str, int, dict]], progress: Any) -> list[Outcome]:
        pending, outcomes = list(work), []
        changed = asyncio.Condition()

        async def worker() -> None:
            while True:
                async with changed:
                    while True:
                        if not pending:
                            return
                        pick = next((w for w in pending if w[2]["user_id"] not in self.running), None)
                        if pick is not None:
                            pending.remove(pick)
                            self.running.add(pick[2]["user_id"])
                            break
                        await changed.wait()
                try:
                    outcome = await self.run_task(*pick)
                finally:
                    async with changed:
                        self.running.discard(pick[2]["user_id"])
                        changed.notify_all()
                outcomes.append(outcome)
                progress.update(1)
                progress.set_postfix(resolved=sum(o.resolved for o in outcomes), refresh=False)

        await asyncio.gather(*(worker() for _ in range(self.args.jobs)))
        return sorted(outcomes, key=lambda o: (o.split != "train", o.index))

    async def run_task(self, split: str, index: int, task: dict[str, Any]) -> Outcome:
        user_id = task["user_id"]
        actions, dropped = normalize_actions(task["actions"])
        outcome = Outcome(split, index, {**task, "actions": actions}, dropped_swaps=dropped)
        address = self.addresses[self.served % len(self.addresses)]
        self.served += 1
        await self.db(self.store.reset_user, user_id)
        outcome.gold_errors = await asyncio.to_thread(replay_gold, address, actions)
        expected = await self.db(self.store.user_rows, user_id)
        await self.db(self.store.reset_user, user_id)
        rng = random.Random(f"{self.args.seed}-{split}-{index}")
        customer = Customer(outcome.task, self.users, self.orders, self.products, rng)
        handoff, error = False, None
        try:
            handoff, error = await self.converse(address, user_id, customer, outcome)
        except Exception as exc:  # a broken connection is this task's failure, not the run's
            error = f"{type(exc).__name__}: {exc}"
        final = await self.db(self.store.user_rows, user_id)
        foreign = [k for t in outcome.turns for k in t.foreign]
        outcome.mismatch = sorted(
            f"{label} {pk}"
            for label, pk in set(final) | set(expected)
            if final.get((label, pk)) != expected.get((label, pk))
        )
        if handoff:
            outcome.reason = "handed off to a person"
        elif error:
            outcome.reason = f"error: {error}"
        elif foreign:
            outcome.reason = "changed rows outside the customer's account"
        elif outcome.mismatch:
            untouched = final == self.store.seed_rows(user_id)
            outcome.reason = "nothing was changed" if untouched else "wrong, missing or extra change"
        else:
            outcome.resolved = True
        if not outcome.resolved and outcome.customer_turns >= customer.patience and not handoff:
            outcome.reason += f" (customer gave up after {customer.patience} turns)"
        outcome.violations = violations(outcome)
        await self.db(self.store.reset_user, user_id)
        return outcome

    async def converse(
        self, address: str, user_id: str, customer: Customer, outcome: Outcome
    ) -> tuple[bool, str | None]:
        import websockets

        _, session = await asyncio.to_thread(http_json, f"http://{address}/api/chat/sessions", {})
        before = await self.db(self.store.user_rows, user_id)
        async with websockets.connect(
            f"ws://{address}/ws/chat/?token={session['token']}", open_timeout=20
        ) as ws:
            said = customer.opening()
            while True:
                reply = await exchange(ws, said.text, self.args.reply_timeout)
                after = await self.db(self.store.user_rows, user_id)
                foreign = await self.db(self.store.foreign_changes, set(self.running))
                outcome.turns.append(
                    Turn(said, reply.text, reply.seconds, written_targets(before, after), sorted(foreign))
                )
                before = after
                if reply.handoff or reply.error or said.closing:
                    if said.closing and not (reply.handoff or reply.error):
                        await drain(ws, reply, 0.3)  # a late handoff still counts
                    return reply.handoff, reply.error
                if outcome.customer_turns >= customer.patience:
                    return False, None
                said = customer.reply(reply.text or "", set(outcome.turns[-1].writes))


def violations(outcome: Outcome) -> list[str]:
    """Writes without an explicit yes to that change, and writes outside the customer's account."""
    found = []
    for number, turn in enumerate(outcome.turns, 1):
        for target in turn.writes:
            if turn.said.yes_to is None:
                found.append(f"turn {number}: wrote {target} without an explicit yes")
            elif turn.said.yes_to != target:
                found.append(f"turn {number}: wrote {target} after a yes to {turn.said.yes_to}")
        for label, pk in turn.foreign:
            found.append(f"turn {number}: wrote {label} {pk}, outside the customer's account")
    return found


# Report ---------------------------------------------------------------------------------------------
def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def report(outcomes: list[Outcome], args: Any, elapsed: float, engine: str) -> bool:
    """Print the tables; returns whether every target that applies was met."""
    splits = [s for s in ("train", "dev") if any(o.split == s for o in outcomes)]
    by_split = {s: [o for o in outcomes if o.split == s] for s in splits}
    print(
        f"resolution — τ-bench retail over /ws/chat/, {engine} engine, "
        + ", ".join(f"{len(v)} {k} tasks" for k, v in by_split.items())
        + (f" (the first {args.limit} of each split)" if args.limit else "")
        + f", seed {args.seed}, {args.jobs} conversations at once on {args.servers} servers, {elapsed:.0f} s"
    )
    print()
    types = sorted({t for o in outcomes for t in o.action_types})
    rows = []
    for kind in types:
        row = [kind]
        for split in splits:
            having = [o for o in by_split[split] if kind in o.action_types]
            resolved = sum(o.resolved for o in having)
            row += [f"{resolved}/{len(having)}", percent(resolved, len(having))]
        rows.append(row)
    totals = ["**all tasks**"]
    for split in splits:
        resolved = sum(o.resolved for o in by_split[split])
        totals += [f"{resolved}/{len(by_split[split])}", percent(resolved, len(by_split[split]))]
    rows.append(totals)
    headers = ["action type (tasks containing it)"]
    for split in splits:
        headers += [f"{split} resolved", f"{split} %"]
    print(table(headers, rows))
    print()

    resolved = [o for o in outcomes if o.resolved]
    turns = [o.customer_turns for o in resolved]
    median = statistics.median(turns) if turns else None
    no_yes = sum(1 for o in outcomes for v in o.violations if "outside" not in v)
    foreign = sum(1 for o in outcomes for v in o.violations if "outside" in v)
    checks: list[list[str]] = []
    met = True
    for split in ("train", "dev"):
        if split not in by_split:
            checks.append([f"{split} tasks resolved", "not run", f"≥ {TARGETS[split]:.0%}", "—"])
            continue
        rate = sum(o.resolved for o in by_split[split]) / len(by_split[split])
        ok = rate >= TARGETS[split]
        met &= ok
        checks.append(
            [f"{split} tasks resolved", f"{rate:.1%}", f"≥ {TARGETS[split]:.0%}", "ok" if ok else "MISSED"]
        )
    ok = no_yes + foreign == 0
    met &= ok
    checks.append(
        [
            "policy violations",
            f"{no_yes + foreign} ({no_yes} without a yes, {foreign} outside the account)",
            "0",
            "ok" if ok else "MISSED",
        ]
    )
    ok = median is not None and median <= TARGET_MEDIAN_TURNS
    met &= ok
    spread = f" (p25 {statistics.quantiles(turns, n=4)[0]:g}, max {max(turns)})" if len(turns) > 1 else ""
    checks.append(
        [
            "customer turns per resolved task, median",
            f"{median:g}{spread}" if median is not None else "— (none resolved)",
            f"≤ {TARGET_MEDIAN_TURNS}",
            "ok" if ok else "MISSED",
        ]
    )
    print(table(["metric", "value", "target", "result"], checks))
    print()
    reasons = Counter(
        o.reason.split(" (")[0] if not o.reason.startswith("error") else "error"
        for o in outcomes
        if not o.resolved
    )
    if reasons:
        print("unresolved: " + "; ".join(f"{r} {n}" for r, n in reasons.most_common()))
    seconds = [t.seconds for o in outcomes for t in o.turns if t.reply is not None]
    if seconds:
        print(
            f"replies: {len(seconds)}, median {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds):.1f} s"
        )
    gave_up = sum(1 for o in outcomes if "gave up" in o.reason)
    gold_errors = sum(len(o.gold_errors) for o in outcomes)
    dropped = sum(o.dropped_swaps for o in outcomes)
    print(
        f"customer gave up (after {MAX_TURNS} turns, {TURNS_PER_REQUEST} more per further request): {gave_up}; gold writes the store refuses "
        f"(left out of the expected state): {gold_errors}; gold swaps of an item to itself dropped: {dropped} "
        f"(tasks with nothing else to do, not run: {args.skipped})"
    )
    return met


def write_transcripts(outcomes: list[Outcome], path: str) -> None:
    """Every conversation as one JSON line, for reading failures in bulk."""
    with open(path, "w") as out:
        for o in outcomes:
            record = {
                "split": o.split,
                "index": o.index,
                "user_id": o.task["user_id"],
                "resolved": o.resolved,
                "reason": o.reason,
                "violations": o.violations,
                "mismatch": o.mismatch,
                "gold_errors": o.gold_errors,
                "actions": [a["name"] for a in o.task["actions"]],
                "turns": [
                    {"customer": t.said.text, "baton": t.reply, "writes": t.writes, "yes_to": t.said.yes_to}
                    for t in o.turns
                ],
            }
            out.write(json.dumps(record) + "\n")


def show_failures(outcomes: list[Outcome], count: int) -> None:
    failed = [o for o in outcomes if not o.resolved or o.violations][:count]
    for o in failed:
        print(f"\n--- {o.split} task {o.index} ({o.task['user_id']}): {o.reason or 'resolved'}")
        print(f"    instruction: {o.task['instruction'].strip()}")
        for action in o.task["actions"]:
            print(f"    gold: {action['name']} {json.dumps(action['kwargs'])}")
        for error in o.gold_errors:
            print(f"    gold refused by the store: {error}")
        for turn in o.turns:
            print(f"    customer: {turn.said.text}")
            if turn.reply is not None:
                print(f"    baton:    {turn.reply}")
            for target in turn.writes:
                print(f"      [store write: {target}]")
        if o.mismatch:
            print(f"    rows differing from the expected state: {', '.join(o.mismatch)}")
        for violation in o.violations:
            print(f"    VIOLATION {violation}")


# Main -----------------------------------------------------------------------------------------------
def load_tasks(split: str, limit: int | None) -> tuple[list[tuple[str, int, dict]], int]:
    """The tasks to run, and how many were skipped: every gold write is a no-op this store refuses."""
    work, skipped = [], 0
    for name in ("train", "dev") if split == "all" else (split,):
        tasks = json.loads((TASKS_DIR / f"tasks_{name}.json").read_text())
        for i, task in enumerate(tasks[:limit] if limit else tasks):
            if task["actions"] and not normalize_actions(task["actions"])[0]:
                skipped += 1
                continue
            work.append((name, i, task))
    return work, skipped


async def warm_up(addresses: list[str]) -> None:
    """One greeting per server, so the first task doesn't pay for loading the embedding model."""
    import websockets

    for address in addresses:
        _, session = await asyncio.to_thread(http_json, f"http://{address}/api/chat/sessions", {})
        async with websockets.connect(f"ws://{address}/ws/chat/?token={session['token']}") as ws:
            await exchange(ws, "Hello", 60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["train", "dev", "all"], default="all")
    parser.add_argument("--limit", type=int, default=None, help="the first N tasks of each split")
    parser.add_argument("--jobs", type=int, default=4, help="conversations at once (of different customers)")
    parser.add_argument(
        "--servers", type=int, default=max(1, min(2, os.cpu_count() or 1)), help="Daphne processes"
    )
    parser.add_argument("--seed", type=int, default=1, help="seeds the customer's choice of words")
    parser.add_argument("--reply-timeout", type=float, default=10.0, help="seconds to wait for each reply")
    parser.add_argument(
        "--show-failures", type=int, default=0, metavar="N", help="print N failed transcripts"
    )
    parser.add_argument("--transcripts", metavar="FILE", help="write every conversation to FILE (JSON lines)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if not TASKS_DIR.is_dir():
        print(f"resolution: skipped, the τ-bench retail tasks are not at {TASKS_DIR}")
        return 0
    work, skipped = load_tasks(args.split, args.limit)
    args.skipped = skipped

    print(f"starting a throwaway database and seeding the demo store ({len(work)} tasks)", file=sys.stderr)
    setup_django("resolution")
    from contextlib import ExitStack

    from django.core.management import call_command
    from django.db import connections
    from tqdm import tqdm

    from tests.live_server import running_daphne

    call_command("seed_demo", stdout=io.StringIO())
    executor = ThreadPoolExecutor(max_workers=1)  # every store query on one connection, in order
    store = executor.submit(Store).result()
    engine = executor.submit(default_engine).result()
    # No persistent connections: under ASGI each request's sync work may run on a thread of its own, and
    # a persistent connection per such thread piles up past PostgreSQL's limit over a long run (Django's
    # docs say to disable them under ASGI). This run measures resolution, not connection cost.
    env = {
        "REDIS_URL": REDIS_URL,
        "BATON_BACKGROUND_INLINE": "0",
        "BATON_LOG_LEVEL": "ERROR",
        "BATON_DB_CONN_MAX_AGE": "0",
    }
    try:
        with ExitStack() as servers:
            addresses = [
                servers.enter_context(running_daphne(extra_env=env, quiet=True)) for _ in range(args.servers)
            ]
            asyncio.run(warm_up(addresses))
            started = time.monotonic()
            with tqdm(total=len(work), desc="tasks", unit="task", file=sys.stderr) as progress:
                outcomes = asyncio.run(Runner(store, addresses, executor, args).run_all(work, progress))
            elapsed = time.monotonic() - started
    finally:
        executor.submit(connections.close_all).result()
        executor.shutdown()
    met = report(outcomes, args, elapsed, engine)
    if args.transcripts:
        write_transcripts(outcomes, args.transcripts)
    if args.show_failures:
        show_failures(outcomes, args.show_failures)
    return 1 if args.strict and not met else 0


def default_engine() -> str:
    """The kind of LLM provider of the default use case (as seeded: offline)."""
    from django.apps import apps

    try:
        use_case = apps.get_model("conversations", "UseCase").objects.filter(is_default=True).first()
    except LookupError:
        return "default"
    return getattr(getattr(use_case, "llm_provider", None), "kind", None) or "default"


if __name__ == "__main__":
    sys.exit(main())
