"""Load: N web chat customers hold their sockets open and write with think time, against a real stack.

The stack is the product's own (bench/_stack.py), seeded with the demo as a first `make run` is (the
offline engine, the store's use cases and help articles), in a temporary folder with an embedded
PostgreSQL of its own, in two modes:
- production: REDIS_URL on a `redis-server` of this benchmark's, so `manage.py run` serves with
  one Daphne process per core (BATON_WEB_PROCESSES) on the Redis channel layer and supervises a Celery worker;
- embedded: no REDIS_URL, as `make run` without it: `run` starts a local redis-server of its own and
  serves as in production. (Its database is this benchmark's embedded PostgreSQL too, not .baton/pgdata.)

The customers live in this one process (asyncio, `websockets`, `httpx`, loopback only): each creates a
session with `POST /api/chat/sessions`, opens `/ws/chat/?token=…`, keeps it open and writes short
questions the offline engine answers from the articles without actions, one message a minute, the
think time jittered (±20 %) so that N customers write N/60 messages a second; a customer whose
reply has not come yet waits for it (up to 30 s) before writing again. Per turn: ack, first token and
whole reply (the AI `message` frame) latency from the send. Errors: failed session requests, sockets
that do not open, `error` frames, no ack within 10 s or no reply within 30 s. Dropped sockets: closed
by the server while the customer was still talking (the customer reconnects and goes on).

Server RSS and CPU: the process tree of `manage.py run` (its web processes, summed; the Celery worker,
its pool and the `run` processes that supervise them; a Redis `run` started), PostgreSQL's processes and Redis, CPU time over the measured window divided by
the turns completed in it; the client's own CPU is shown too (it shares the machine's cores).

Rows: 100, 500 and 1,000 customers (each: ramp-up, then a 60 s measured window, then a bounded drain),
and a capacity search: the turn rate stepped up (2, 5, 10, 20, 30 turns/s, a few customers each
writing every few seconds) until first-token p95 passes 300 ms; capacity is the highest rate that
stayed under it. Targets (production mode, 500 customers): first-token p95 < 300 ms, whole-reply
p95 < 600 ms, no errors, no dropped sockets; capacity ≥ 20 turns/s; server CPU per offline-engine
turn ≤ 25 ms. Prints Markdown tables; exits 0 unless `--strict` and a target is missed.

    python bench/chat_load.py                  # both modes, every row (about 12 minutes)
    python bench/chat_load.py --quick          # a smoke run: 50 customers, 15 s, two capacity steps
    python bench/chat_load.py --mode production --chats 500 --no-capacity

BENCH_KEEP=1 keeps the temporary folder and the stack's log.
"""

import argparse
import asyncio
import json
import math
import os
import random
import resource
import secrets
import signal
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _stack import Baton, LocalRedis, Postgres, Workspace, free_port  # noqa: E402
from _throwaway import percentile, table  # noqa: E402

# What customers ask: short questions the offline engine answers from the demo articles, no actions.
MESSAGES = [
    "Is shipping free?",
    "When is your support team available?",
    "What is your return policy?",
    "hello",
    "thanks",
]
MESSAGE_INTERVAL = 60.0  # seconds between a customer's messages: one a minute
JITTER = 0.2
ACK_TIMEOUT = 10.0
REPLY_TIMEOUT = 30.0
SESSION_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
SETUP_CONCURRENCY = 20  # sessions created and sockets opened at once during the ramp-up
RECONNECTS = 3
SETTLE_LIMIT = 60.0  # between rows: until the server's CPU is quiet, at most this long
QUIET_CPU_PERCENT = 15.0

CHAT_ROWS = (100, 500, 1000)
WINDOW_SECONDS = 60.0
CAPACITY_RATES = (2, 5, 10, 20, 30)
CAPACITY_WINDOW = 15.0
CAPACITY_INTERVAL = 4.0  # a capacity customer writes every 4 s: rate × 4 sockets

TARGET_CHATS = 500
FIRST_TOKEN_P95_MS = 300
REPLY_P95_MS = 600
CAPACITY_TARGET = 20
CPU_PER_TURN_MS = 25


# --- customers ------------------------------------------------------------------------------------


@dataclass
class Turn:
    client_id: str
    sent_at: float
    ack_ms: float | None = None
    first_token_ms: float | None = None
    reply_ms: float | None = None
    outcome: str = "pending"  # replied, handoff, error, ack timeout, reply timeout, dropped
    reply_id: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def finish(self, outcome: str) -> None:
        if self.outcome == "pending":
            self.outcome = outcome
            self.done.set()


@dataclass
class Load:
    """One row: its customers, the measured window and everything counted."""

    base_url: str
    chats: int
    interval: float
    window: float
    http: object
    turns: list[Turn] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    dropped: int = 0
    sessions: int = 0
    session_seconds: float = 0.0  # from the ramp's start until the last session was created
    ramp_started: float = 0.0
    window_start: float = math.inf
    window_end: float = math.inf
    stopping: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def in_window(self, turn: Turn) -> bool:
        return self.window_start <= turn.sent_at < self.window_end


class Customer:
    def __init__(self, load: Load, index: int) -> None:
        self.load, self.index = load, index
        self.ws_url = ""
        self.socket = None
        self.turn: Turn | None = None
        self.rng = random.Random(index)
        # Each question once, in an order of its own: a customer who repeats themselves is handed off.
        self.questions = self.rng.sample(MESSAGES, len(MESSAGES))
        self.said = 0

    async def open_session(self) -> bool:
        try:
            response = await self.load.http.post(
                f"{self.load.base_url}/api/chat/sessions",
                json={"name": f"Load {self.index}"},
                timeout=SESSION_TIMEOUT,
            )
        except Exception as exc:
            self.load.errors[f"session {type(exc).__name__}"] += 1
            return False
        if response.status_code != 201:
            self.load.errors[f"session HTTP {response.status_code}"] += 1
            return False
        self.ws_url = response.json()["ws_url"]
        self.load.sessions += 1
        self.load.session_seconds = time.monotonic() - self.load.ramp_started
        return True

    async def connect(self) -> bool:
        import websockets

        try:
            self.socket = await websockets.connect(
                self.ws_url, open_timeout=CONNECT_TIMEOUT, close_timeout=2, proxy=None, max_queue=256
            )
            return True
        except Exception as exc:
            self.load.errors[f"socket open {type(exc).__name__}"] += 1
            return False

    def handle(self, frame: dict) -> None:
        turn, kind = self.turn, frame.get("type")
        if kind == "error":
            self.load.errors[f"error frame {frame.get('code')}"] += 1
            if turn:
                turn.finish("error")
            return
        if turn is None or turn.outcome != "pending":
            return  # the greeting on connect, or a reply that came after its timeout
        elapsed = (time.monotonic() - turn.sent_at) * 1000
        if kind == "ack" and frame.get("client_id") == turn.client_id:
            turn.ack_ms = elapsed
        elif turn.ack_ms is None:
            return
        elif kind == "token":
            if turn.first_token_ms is None:
                turn.first_token_ms, turn.reply_id = elapsed, frame.get("message_id")
        elif kind == "message" and frame.get("role") in ("ai", "system", "agent"):
            if turn.reply_id in (None, frame.get("message_id")):
                turn.reply_ms = elapsed
                if turn.first_token_ms is None:  # a reply that was not streamed
                    turn.first_token_ms = elapsed
                turn.finish("replied")
        elif kind == "handoff":
            turn.reply_ms = elapsed
            turn.first_token_ms = turn.first_token_ms or elapsed
            turn.finish("handoff")

    async def read(self) -> None:
        """Frames until the socket closes; a close the customer did not ask for is a dropped socket."""
        socket = self.socket
        try:
            async for raw in socket:
                with suppress(ValueError, AttributeError):
                    self.handle(json.loads(raw))
        except Exception:
            pass
        if not self.load.stopping:
            self.load.dropped += 1
            if self.turn:
                self.turn.finish("dropped")

    async def say(self, text: str) -> None:
        turn = Turn(client_id=f"l{self.index}-{uuid.uuid4().hex[:10]}", sent_at=time.monotonic())
        self.turn = turn
        self.load.turns.append(turn)
        try:
            await self.socket.send(json.dumps({"type": "message", "text": text, "client_id": turn.client_id}))
        except Exception:
            turn.finish("dropped")
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(turn.done.wait(), ACK_TIMEOUT)
        if turn.ack_ms is None and turn.outcome == "pending":
            turn.finish("ack timeout")
            self.load.errors["ack timeout"] += 1
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(turn.done.wait(), max(0.0, REPLY_TIMEOUT - ACK_TIMEOUT))
        if turn.outcome == "pending":
            turn.finish("reply timeout")
            self.load.errors["reply timeout"] += 1

    async def talk(self, setup: asyncio.Semaphore) -> None:
        async with setup:
            if not await self.open_session() or not await self.connect():
                return
        reader = asyncio.create_task(self.read())
        reconnects = 0
        try:
            await self.load.started.wait()
            next_at = self.load.window_start + self.rng.uniform(0, self.load.interval)
            while not self.load.stopping:
                await asyncio.sleep(max(0.0, min(next_at, self.load.window_end) - time.monotonic()))
                if time.monotonic() >= self.load.window_end or self.load.stopping:
                    break
                if reader.done():  # dropped: reconnect and go on, as a browser would
                    if reconnects >= RECONNECTS or not await self.connect():
                        return
                    reconnects += 1
                    reader = asyncio.create_task(self.read())
                await self.say(self.questions[self.said % len(self.questions)])
                self.said += 1
                next_at += self.load.interval * self.rng.uniform(1 - JITTER, 1 + JITTER)
            # Connected until the row ends (its window and drain), as a customer who keeps the page open.
            while not self.load.stopping:
                await asyncio.sleep(0.5)
        finally:
            with suppress(Exception):
                await self.socket.close()
            with suppress(Exception):
                await asyncio.wait_for(reader, 3)
            reader.cancel()


# --- server processes: CPU and RSS -------------------------------------------------------------------


class Meter:
    """CPU seconds and RSS of the stack's processes by part: Baton (web, worker), PostgreSQL, Redis, client."""

    def __init__(self, baton: Baton, postgres: Postgres, redis: LocalRedis | None) -> None:
        self.baton, self.postgres, self.redis = baton, postgres, redis
        self.client = psutil.Process()

    def processes(self) -> dict[str, list[psutil.Process]]:
        """By part: `web` the ASGI server processes, `worker` Celery and the `manage.py run` processes that
        supervise (idle but for their checks), `redis` the bench's Redis or the one `run` starts."""
        parts: dict[str, list[psutil.Process]] = {"web": [], "worker": [], "postgres": [], "redis": []}
        with suppress(psutil.Error):
            run = psutil.Process(self.baton.process.pid)
            for proc in [run, *run.children(recursive=True)]:
                with suppress(psutil.Error):
                    cmdline = " ".join(proc.cmdline())
                    if "redis-server" in cmdline:
                        parts["redis"].append(proc)
                    elif "celery" in cmdline or "manage.py run" in cmdline:
                        parts["worker"].append(proc)
                    else:
                        parts["web"].append(proc)
        with suppress(OSError, ValueError, psutil.Error):
            postmaster = psutil.Process(int((self.postgres.pgdata / "postmaster.pid").read_text().split()[0]))
            parts["postgres"] = [postmaster, *postmaster.children(recursive=True)]
        if self.redis is not None and self.redis.process is not None:
            with suppress(psutil.Error):
                parts["redis"].append(psutil.Process(self.redis.process.pid))
        return parts

    def web_processes(self) -> int:
        return len(self.processes()["web"])

    def snapshot(self) -> dict[str, dict[int, float]]:
        found: dict[str, dict[int, float]] = {}
        for part, procs in {**self.processes(), "client": [self.client]}.items():
            found[part] = {}
            for proc in procs:
                with suppress(psutil.Error):
                    times = proc.cpu_times()
                    found[part][proc.pid] = times.user + times.system
        return found

    def rss_mb(self) -> dict[str, float]:
        sizes = {}
        for part, procs in self.processes().items():
            total = 0
            for proc in procs:
                with suppress(psutil.Error):
                    total += proc.memory_info().rss
            sizes[part] = total / 2**20
        return sizes

    @staticmethod
    def delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        """CPU seconds per part between two snapshots (a process that exited in between is not counted)."""
        return {
            part: sum(cpu - before.get(part, {}).get(pid, 0.0) for pid, cpu in pids.items())
            for part, pids in after.items()
        }

    async def settle(self) -> float:
        """Wait until Baton and PostgreSQL are quiet (the last row's backlog done); seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < SETTLE_LIMIT:
            before = self.snapshot()
            await asyncio.sleep(1.0)
            used = self.delta(before, self.snapshot())
            busy = (used["web"] + used["worker"] + used["postgres"]) * 100
            if busy < QUIET_CPU_PERCENT:
                break
        return time.monotonic() - started


# --- a row ------------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    chats: int
    offered: float
    load: Load
    cpu: dict[str, float]
    rss: dict[str, float]
    window: float
    span: float  # seconds the CPU was measured over: the window and the drain of its turns

    @property
    def measured(self) -> list[Turn]:
        return [t for t in self.load.turns if self.load.in_window(t)]

    @property
    def completed(self) -> list[Turn]:
        return [t for t in self.measured if t.outcome in ("replied", "handoff")]

    def values(self, name: str) -> list[float]:
        """Latencies of the window's turns; a turn that never got this far (timed out, dropped) counts as ∞."""
        found = [getattr(t, name) for t in self.measured]
        return [math.inf if v is None else v for v in found]

    def p(self, name: str, q: float) -> float:
        return percentile(self.values(name), q)

    @property
    def errors(self) -> int:
        return sum(self.load.errors.values())

    def cpu_ms_per_turn(self, *parts: str) -> float:
        done = len(self.completed)
        return sum(self.cpu[p] for p in parts) * 1000 / done if done else float("nan")

    @property
    def server_cpu_ms(self) -> float:
        return self.cpu_ms_per_turn("web", "worker", "postgres", "redis")


async def run_row(
    base_url: str, meter: Meter, *, label: str, chats: int, interval: float, window: float
) -> Result:
    import httpx

    limits = httpx.Limits(max_connections=SETUP_CONCURRENCY * 2, max_keepalive_connections=SETUP_CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as http:
        load = Load(base_url=base_url, chats=chats, interval=interval, window=window, http=http)
        setup = asyncio.Semaphore(SETUP_CONCURRENCY)
        customers = [Customer(load, i) for i in range(chats)]
        ramp_started = load.ramp_started = time.monotonic()
        tasks = [asyncio.create_task(c.talk(setup)) for c in customers]
        # The ramp-up: every customer has a session and an open socket (or has failed to get one).
        ramp_limit = ramp_started + 30 + chats * 0.2
        while time.monotonic() < ramp_limit and any(
            (c.socket is None and not t.done()) for c, t in zip(customers, tasks, strict=True)
        ):
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        rss_peak: dict[str, float] = Counter()
        before = meter.snapshot()
        load.window_start = time.monotonic()
        load.window_end = load.window_start + window
        load.started.set()
        while time.monotonic() < load.window_end:
            for part, mb in meter.rss_mb().items():
                rss_peak[part] = max(rss_peak[part], mb)
            await asyncio.sleep(min(2.0, max(0.0, load.window_end - time.monotonic())))
        # The drain: turns sent in the window finish (or time out) before the CPU is read.
        drain_limit = time.monotonic() + REPLY_TIMEOUT + 2
        while time.monotonic() < drain_limit and any(t.outcome == "pending" for t in load.turns):
            await asyncio.sleep(0.2)
        cpu = meter.delta(before, meter.snapshot())
        span = time.monotonic() - load.window_start
        load.stopping = True
        done, pending = await asyncio.wait(tasks, timeout=REPLY_TIMEOUT + 10)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    offered = chats / interval
    return Result(label, chats, offered, load, cpu, dict(rss_peak), window, span)


# --- reporting --------------------------------------------------------------------------------------


def ms(value: float) -> str:
    if math.isnan(value):
        return "—"
    return "never" if math.isinf(value) else f"{value:.0f}"


def latency_row(mode: str, r: Result) -> list:
    measured = r.measured
    sessions_per_s = r.load.sessions / r.load.session_seconds if r.load.session_seconds else float("nan")
    return [
        mode,
        r.label,
        f"{r.offered:.1f}",
        len(measured),
        f"{len(r.completed) / r.window:.1f}",
        f"{sessions_per_s:.0f}",
        *[
            f"{ms(r.p(n, 50))} / {ms(r.p(n, 95))} / {ms(max(r.values(n), default=math.nan))}"
            for n in ("ack_ms", "first_token_ms", "reply_ms")
        ],
        r.errors,
        r.load.dropped,
    ]


LATENCY_HEADERS = [
    "mode",
    "customers",
    "turns/s offered",
    "turns sent",
    "turns/s answered",
    "sessions/s",
    "ack ms p50 / p95 / max",
    "first token ms p50 / p95 / max",
    "whole reply ms p50 / p95 / max",
    "errors",
    "dropped sockets",
]


def resource_row(mode: str, r: Result) -> list:
    baton_rss = r.rss.get("web", 0) + r.rss.get("worker", 0)
    return [
        mode,
        r.label,
        len(r.completed),
        f"{baton_rss:.0f}",
        f"{r.rss.get('postgres', 0):.0f}",
        ms(r.cpu_ms_per_turn("web")),
        ms(r.cpu_ms_per_turn("worker")),
        ms(r.cpu_ms_per_turn("postgres")),
        ms(r.cpu_ms_per_turn("redis")),
        f"**{ms(r.server_cpu_ms)}**",
        ms(r.cpu_ms_per_turn("client")),
        f"{(sum(r.cpu[p] for p in ('web', 'worker', 'postgres', 'redis')) / r.span) * 100:.0f} %",
    ]


RESOURCE_HEADERS = [
    "mode",
    "customers",
    "turns answered",
    "Baton RSS MB (peak)",
    "PostgreSQL RSS MB",
    "CPU ms/turn: web processes",
    "worker",
    "PostgreSQL",
    "Redis",
    "server total",
    "client (this process)",
    "server CPU, % of one core",
]


def error_notes(mode: str, results: list[Result]) -> list[str]:
    notes = []
    for r in results:
        if r.load.errors:
            shown = ", ".join(f"{k} {v}" for k, v in r.load.errors.most_common())
            notes.append(f"{mode}, {r.label}: {shown}")
        outcomes = Counter(t.outcome for t in r.measured)
        if outcomes.get("handoff"):
            notes.append(f"{mode}, {r.label}: {outcomes['handoff']} turns ended in a handoff")
    return notes


# --- the stack --------------------------------------------------------------------------------------


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def stack_env(workspace: Workspace, postgres: Postgres, redis: LocalRedis | None) -> dict[str, str]:
    port = free_port()
    # Beat keeps its schedule there; with every secret given in the environment nothing else creates it.
    (workspace.path / "baton").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "deskapp.settings",
        "DATABASE_URL": postgres.url,
        "BATON_HOST": "127.0.0.1",
        "BATON_PORT": str(port),
        "BATON_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BATON_DATA_DIR": str(workspace.path / "baton"),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DEMOSTORE_API_TOKEN": secrets.token_urlsafe(18),
        "BATON_DEMO_PASSWORD": secrets.token_urlsafe(12),
        "BATON_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    for name in ("REDIS_URL", "BATON_CELERY_EAGER"):
        env.pop(name, None)
    if redis is not None:
        env["REDIS_URL"] = redis.url
    return env


async def warm(base_url: str) -> None:
    """One conversation answered before measuring: the first turns load what a process loads once."""
    import httpx
    import websockets

    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(f"{base_url}/api/chat/sessions", json={"name": "Warm"}, timeout=30)
        response.raise_for_status()
        url = response.json()["ws_url"]
    async with websockets.connect(url, open_timeout=30, proxy=None) as socket:
        for n, text in enumerate(MESSAGES):
            client_id = f"warm-{n}"
            await socket.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
            acked = False
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                frame = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
                acked = acked or (frame.get("type") == "ack" and frame.get("client_id") == client_id)
                if acked and frame.get("type") in ("message", "handoff") and frame.get("role") != "customer":
                    break


async def measure_mode(mode: str, base_url: str, meter: Meter, args) -> tuple[list[Result], list[Result]]:
    await warm(base_url)
    rows: list[Result] = []
    for chats in args.chats:
        await meter.settle()
        progress(f"{mode}: {chats} customers, one message a minute each, {args.window:.0f} s window")
        result = await run_row(
            base_url, meter, label=f"{chats:,}", chats=chats, interval=MESSAGE_INTERVAL, window=args.window
        )
        progress(
            f"  answered {len(result.completed)}/{len(result.measured)}, first token p95 "
            f"{ms(result.p('first_token_ms', 95))} ms, errors {result.errors}, dropped {result.load.dropped}"
        )
        rows.append(result)
    steps: list[Result] = []
    for rate in args.rates:
        await meter.settle()
        sockets = max(4, round(rate * CAPACITY_INTERVAL))
        progress(
            f"{mode}: capacity step {rate} turns/s ({sockets} customers, one message every {CAPACITY_INTERVAL:.0f} s)"
        )
        step = await run_row(
            base_url,
            meter,
            label=f"{rate} turns/s",
            chats=sockets,
            interval=sockets / rate,
            window=args.capacity_window,
        )
        progress(f"  first token p95 {ms(step.p('first_token_ms', 95))} ms, answered {len(step.completed)}")
        steps.append(step)
        if not step.p("first_token_ms", 95) <= FIRST_TOKEN_P95_MS:
            break
    return rows, steps


def capacity_of(steps: list[Result]) -> float | None:
    passing = [s.offered for s in steps if s.p("first_token_ms", 95) <= FIRST_TOKEN_P95_MS]
    return max(passing) if passing else None


def start_stack(stack: ExitStack, mode: str) -> tuple[Baton, Meter]:
    workspace = Workspace(f"chat-load-{mode}")
    stack.callback(workspace.remove)
    redis = None
    if mode == "production":
        redis = LocalRedis(workspace.path / "redis")
        redis.start()
        stack.callback(redis.stop)
    postgres = Postgres(workspace.path)
    stack.callback(lambda: postgres.running() and postgres.stop("immediate"))
    baton = Baton(workspace.path, stack_env(workspace, postgres, redis), seed=True)
    stack.callback(baton.stop)
    started = time.monotonic()
    baton.start()
    progress(
        f"{mode}: manage.py run serves on {baton.base_url} after {time.monotonic() - started:.0f} s ({workspace.path})"
    )
    return baton, Meter(baton, postgres, redis)


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt  # a stopped benchmark tears its stack down like Ctrl+C


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["production", "embedded", "both"], default="both")
    parser.add_argument("--chats", type=int, nargs="+", help=f"customer rows (default {CHAT_ROWS})")
    parser.add_argument(
        "--window", type=float, help=f"measured seconds per row (default {WINDOW_SECONDS:.0f})"
    )
    parser.add_argument("--no-capacity", action="store_true", help="skip the capacity search")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 customers, 15 s, rates 2 and 5")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    args.chats = args.chats or ([50] if args.quick else list(CHAT_ROWS))
    args.window = args.window or (15.0 if args.quick else WINDOW_SECONDS)
    args.capacity_window = 6.0 if args.quick else CAPACITY_WINDOW
    args.rates = [] if args.no_capacity else ([2, 5] if args.quick else list(CAPACITY_RATES))
    modes = ["production", "embedded"] if args.mode == "both" else [args.mode]
    biggest = max([*args.chats, *(round(r * CAPACITY_INTERVAL) for r in args.rates)])
    raise_file_limit(biggest * 2 + 512)
    signal.signal(signal.SIGTERM, _interrupt)

    began = time.monotonic()
    measured: dict[str, tuple[list[Result], list[Result]]] = {}
    for mode in modes:
        with ExitStack() as stack:
            baton, meter = start_stack(stack, mode)
            try:
                measured[mode] = asyncio.run(measure_mode(mode, baton.base_url, meter, args))
            except BaseException:
                print(baton.log_tail())
                raise

    print(f"\nchat load — {', '.join(modes)}; {time.monotonic() - began:.0f} s in all\n")
    latency, resources, capacity_rows, notes = [], [], [], []
    for mode, (rows, steps) in measured.items():
        for r in rows:
            latency.append(latency_row(mode, r))
            resources.append(resource_row(mode, r))
        for s in steps:
            capacity_rows.append(
                [
                    mode,
                    f"{s.offered:g}",
                    s.chats,
                    f"{len(s.completed) / s.window:.1f}",
                    ms(s.p("first_token_ms", 95)),
                    ms(s.p("reply_ms", 95)),
                    s.errors,
                    ms(s.server_cpu_ms),
                    "ok" if s.p("first_token_ms", 95) <= FIRST_TOKEN_P95_MS else "over",
                ]
            )
        if steps:
            found = capacity_of(steps)
            shown = f"{found:g} turns/s" if found else f"< {steps[0].offered:g} turns/s"
            latency.append(
                [
                    mode,
                    "**capacity**",
                    shown,
                    "",
                    "",
                    "",
                    "",
                    f"first token p95 ≤ {FIRST_TOKEN_P95_MS} ms",
                    "",
                    "",
                    "",
                ]
            )
        notes += error_notes(mode, rows + steps)
    print(table(LATENCY_HEADERS, latency))
    print()
    print(table(RESOURCE_HEADERS, resources))
    if capacity_rows:
        print()
        print(
            table(
                [
                    "mode",
                    "turns/s offered",
                    "customers",
                    "turns/s answered",
                    "first token p95 ms",
                    "whole reply p95 ms",
                    "errors",
                    "server CPU ms/turn",
                    f"≤ {FIRST_TOKEN_P95_MS} ms",
                ],
                capacity_rows,
            )
        )
    checks = targets(measured)
    if checks:
        print()
        print(table(["target (production mode)", "measured", "verdict"], checks))
    for note in notes:
        print(f"- {note}")
    missed = any(row[2] == "MISSED" for row in checks)
    return 1 if args.strict and missed else 0


def targets(measured: dict[str, tuple[list[Result], list[Result]]]) -> list[list]:
    if "production" not in measured:
        return []
    rows, steps = measured["production"]
    checks = []
    at = next((r for r in rows if r.chats == TARGET_CHATS), None)
    if at is not None:
        first, reply = at.p("first_token_ms", 95), at.p("reply_ms", 95)
        checks += [
            [
                f"{TARGET_CHATS} customers: first token p95 < {FIRST_TOKEN_P95_MS} ms",
                f"{ms(first)} ms",
                first < FIRST_TOKEN_P95_MS,
            ],
            [
                f"{TARGET_CHATS} customers: whole reply p95 < {REPLY_P95_MS} ms",
                f"{ms(reply)} ms",
                reply < REPLY_P95_MS,
            ],
            [f"{TARGET_CHATS} customers: no errors", at.errors, at.errors == 0],
            [f"{TARGET_CHATS} customers: no dropped sockets", at.load.dropped, at.load.dropped == 0],
            [
                f"server CPU per offline-engine turn ≤ {CPU_PER_TURN_MS} ms ({TARGET_CHATS} customers)",
                f"{ms(at.server_cpu_ms)} ms",
                at.server_cpu_ms <= CPU_PER_TURN_MS,
            ],
        ]
    if steps:
        found = capacity_of(steps)
        checks.append(
            [
                f"capacity ≥ {CAPACITY_TARGET} turns/s (first token p95 ≤ {FIRST_TOKEN_P95_MS} ms)",
                f"{found:g} turns/s" if found else f"< {steps[0].offered:g} turns/s",
                bool(found and found >= CAPACITY_TARGET),
            ]
        )
    return [[name, value, "ok" if ok else "MISSED"] for name, value, ok in checks]


if __name__ == "__main__":
    sys.exit(main())
