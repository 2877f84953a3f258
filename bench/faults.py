"""Fault injection: web chat and SMS customers talk to a real stack while it breaks.

The stack is the product's own: `manage.py run` (Daphne and the Celery worker it starts) with
REDIS_URL on a `redis-server` of this benchmark's, an embedded PostgreSQL of its own (DATABASE_URL),
and the loopback fakes of OpenAI (the default use case's LLM provider, 2 s timeout, no retries)
and Twilio (records every SMS sent). Web chat customers reconnect after a dropped socket and
resend what was not acknowledged with the same client_id; SMS customers are posted signed webhooks
and Twilio's retry (same MessageSid) follows any non-2xx answer.

While they talk, in turn: Redis is restarted, PostgreSQL is restarted, the LLM times out, answers
500 and streams a tool call with malformed JSON arguments (for customers of their own, so the
others keep an AI to talk to), and last the Celery worker is killed with SIGKILL.
After each fault the benchmark measures how long until /healthz answers 200 and both a new web
chat and a new SMS customer get an answer. At the end it counts, from the database and from what
the customers and the Twilio fake received: customer messages sent, stored, answered or escalated,
lost, duplicated; replies stored, delivered, duplicated.

Targets (exit 1 when one is missed): no customer message lost, duplicated or left unanswered; every
reply delivered exactly once; every LLM failure escalated with reason `llm_failure` and the holding
reply delivered; recovery under 10 s after each fault. Prints Markdown tables. Knobs: BENCH_WEB,
BENCH_SMS (customers, 6 each), BENCH_KEEP=1 (keep the temp folder and its logs).
"""

import asyncio
import json
import os
import random
import re
import secrets
import signal
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from _stack import Baton, LocalRedis, Postgres, Workspace, free_port  # noqa: E402
from _throwaway import table  # noqa: E402

WEB_CUSTOMERS = int(os.environ.get("BENCH_WEB", "6"))
SMS_CUSTOMERS = int(os.environ.get("BENCH_SMS", "6"))
THINK_SECONDS = (1.0, 2.5)  # between an answer and the customer's next message
REPLY_WAIT = 15.0  # a customer waits this long for an answer before writing again
ANSWER_WITHIN = REPLY_WAIT  # an answer after that, or only to a later message, leaves this one unanswered
BASELINE_SECONDS = 8.0
DOWN_SECONDS = 3.0  # Redis and PostgreSQL stay down this long
SETTLE_SECONDS = 4.0  # traffic between a recovery and the next fault
RECOVERY_CAP = 30.0
RECOVERY_TARGET = 10.0
DRAIN_SECONDS = 30.0
LLM_TIMEOUT = 2.0  # the provider's timeout_seconds; the fake waits longer
FAULT_CUSTOMERS = 2  # per channel and LLM fault
LLM_FAULTS = ("timeout", "http_500", "malformed_tool_call")
TWILIO_SID = "AC" + "f" * 32
TWILIO_TOKEN = secrets.token_hex(16)
BASELINE, WORKER, REDIS, POSTGRES = "baseline", "worker SIGKILL", "Redis restart", "PostgreSQL restart"
LLM_PHASES = {
    "timeout": "LLM timeout",
    "http_500": "LLM 500",
    "malformed_tool_call": "LLM malformed tool call",
}
DRAIN = "drain (no new messages)"
REF = re.compile(r"\(ref ([a-z0-9]+)-(\d+)\)")

QUESTIONS = [
    "What are your opening hours on weekends?",
    "Do you ship to Canada?",
    "How long does standard delivery take?",
    "Can I pay with a gift card?",
    "Is the blue backpack waterproof?",
    "Which sizes does the rain jacket come in?",
    "Do you have a store in Chicago?",
    "How do I change the email on my account?",
    "Are the hiking boots true to size?",
    "What is the warranty on headphones?",
    "Can I pick up my order in person?",
    "Does the desk lamp use LED bulbs?",
    "What colors does the office chair come in?",
    "Is there a student discount?",
    "How heavy is the camping tent?",
    "Can I add a gift message to a parcel?",
    "Do the wireless earbuds work with Android phones?",
    "When will the wool sweaters be back in stock?",
    "Is the coffee grinder easy to clean?",
    "What batteries does the bike light take?",
    "Are your water bottles dishwasher safe?",
    "Which laptop sleeve fits a fourteen inch screen?",
    "How do I track a parcel?",
    "Do you sell replacement straps for the watch?",
    "Is the yoga mat made of natural rubber?",
    "Can the sofa cover be washed?",
    "What is the return window for shoes?",
    "Do you offer express shipping on weekends?",
    "Is the kettle cordless?",
    "How many people fit in the large tent?",
]


def now() -> float:
    return time.time()


@dataclass
class Sent:
    key: str  # client_id (web chat) or MessageSid (SMS)
    channel: str
    tag: str
    phase: str
    text: str
    at: float
    accepted: bool = False  # acked (web) or 2xx (SMS)


@dataclass
class Run:
    baton: Baton
    twilio: object
    openai: object
    sent: dict[str, Sent] = field(default_factory=dict)
    phase: str = BASELINE
    phases: list[tuple[str, float, float]] = field(default_factory=list)
    recovery: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fault_kind: dict[str, str] = field(default_factory=dict)  # customer tag -> LLM fault it gets
    faults_served: list[tuple[str, str, float]] = field(default_factory=list)
    talking: asyncio.Event = field(default_factory=asyncio.Event)  # set: customers keep writing
    closing: bool = False
    web: list["WebCustomer"] = field(default_factory=list)
    sms: list["SmsCustomer"] = field(default_factory=list)
    replies_made: int = 0
    sms_seen: list[float] = field(default_factory=list)  # when each of twilio.sent appeared
    lock: threading.Lock = field(default_factory=threading.Lock)
    probe_phones: int = 0
    redis_notes: list[str] = field(default_factory=list)

    def record(self, key: str, channel: str, tag: str, text: str) -> Sent:
        item = self.sent.get(key)
        if item is None:
            item = self.sent[key] = Sent(key, channel, tag, self.phase, text, now())
        return item


def progress(run: Run, text: str) -> None:
    stored = sum(1 for s in run.sent.values() if s.accepted)
    print(
        f"  [{time.strftime('%H:%M:%S')}] {text}  (customer messages sent {len(run.sent)}, accepted {stored})",
        flush=True,
    )


# --- the fake LLM: answers agent turns with a unique reply, or with this customer's fault -----------


def make_responder(run: Run, base_instructions: str):
    from tests.fakes.openai_server import Reply

    def respond(body: dict) -> Reply | None:
        messages = body.get("messages") or []
        if not messages or not str(messages[0].get("content") or "").startswith(base_instructions):
            return None  # summaries, extraction: the default reply
        last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        match = REF.search(str(last.get("content") or "")) if last else None
        tag = match.group(1) if match else "?"
        kind = run.fault_kind.get(tag)
        if kind:
            with run.lock:
                run.faults_served.append((tag, kind, now()))
            if kind == "timeout":
                return Reply(text="This answer comes too late.", delay=LLM_TIMEOUT + 2)
            if kind == "http_500":
                return Reply(status=500)
            return Reply(tool_calls=[{"name": "lookup_order", "arguments": '{"order_id": "#W12'}])
        with run.lock:
            run.replies_made += 1
            n = run.replies_made
        return Reply(text=f"Answer {n} for {tag}: thanks, noted.")

    return respond


# --- customers ------------------------------------------------------------------------------------


class WebCustomer:
    """One web chat visitor: a session, one socket kept open (reconnect + resend), messages, frames."""

    def __init__(self, run: Run, tag: str, http) -> None:
        self.run, self.tag, self.http = run, tag, http
        self.conversation_id = ""
        self.ws_url = ""
        self.socket = None
        self.unacked: dict[str, str] = {}
        self.frames: Counter[str] = Counter()  # message_id -> times received
        self.texts: dict[str, tuple[str, str]] = {}
        self.heard = asyncio.Event()
        self.first_reply_at: float | None = None
        self.holding_at: float | None = None
        self.reconnects = 0
        self.errors: Counter[str] = Counter()
        self.done = False

    async def open_session(self) -> None:
        while not self.done:
            try:
                response = await self.http.post(
                    f"{self.run.baton.base_url}/api/chat/sessions",
                    json={"name": f"Bench {self.tag}"},
                    timeout=5,
                )
                if response.status_code == 201:
                    session = response.json()
                    self.conversation_id, self.ws_url = session["conversation_id"], session["ws_url"]
                    return
            except Exception:
                pass
            await asyncio.sleep(0.5)

    async def keep_connected(self) -> None:
        import websockets

        await self.open_session()
        while not self.done:
            try:
                async with websockets.connect(self.ws_url, open_timeout=5, close_timeout=1) as socket:
                    self.socket = socket
                    for client_id, text in list(self.unacked.items()):
                        await self._send(client_id, text)
                    async for raw in socket:
                        self.handle(json.loads(raw))
            except Exception:
                pass
            finally:
                self.socket = None
            if self.done:
                return
            self.reconnects += 1
            await asyncio.sleep(0.5)

    def handle(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ack":
            self.unacked.pop(frame.get("client_id"), None)
            sent = self.run.sent.get(frame.get("client_id"))
            if sent:
                sent.accepted = True
        elif kind == "message":
            message_id = frame.get("message_id", "")
            self.frames[message_id] += 1
            self.texts[message_id] = (frame.get("role", ""), frame.get("text", ""))
            if frame.get("role") in ("ai", "agent", "system"):
                self.first_reply_at = self.first_reply_at or now()
                if frame.get("text") == HOLDING_REPLY and self.holding_at is None:
                    self.holding_at = now()
                self.heard.set()
        elif kind == "handoff":
            self.heard.set()
        elif kind == "error":
            self.errors[frame.get("code", "")] += 1

    async def _send(self, client_id: str, text: str) -> None:
        socket = self.socket
        if socket is None:
            return  # sent again when the socket is back
        with suppress(Exception):
            await socket.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))

    async def say(self, n: int) -> None:
        text = f"{QUESTIONS[(n * 7 + sum(map(ord, self.tag))) % len(QUESTIONS)]} (ref {self.tag}-{n})"
        client_id = f"{self.tag}-{n}-{uuid.uuid4().hex[:6]}"
        self.run.record(client_id, "webchat", self.tag, text)
        self.unacked[client_id] = text
        self.heard.clear()
        await self._send(client_id, text)
        with suppress(TimeoutError):
            await asyncio.wait_for(self.heard.wait(), REPLY_WAIT)

    async def resend_unacked(self) -> None:
        for client_id, text in list(self.unacked.items()):
            await self._send(client_id, text)


class SmsCustomer:
    """One texting customer: signed webhooks (retried with the same MessageSid), replies read from the Twilio fake."""

    def __init__(self, run: Run, tag: str, phone: str, http) -> None:
        self.run, self.tag, self.phone, self.http = run, tag, phone, http
        self.first_reply_at: float | None = None
        self.pending: dict[str, str] = {}  # MessageSid -> text, not yet answered 2xx

    @property
    def holding_at(self) -> float | None:
        """When the Twilio fake was asked to send this customer the holding reply (the notice may come first)."""
        for index, sms in enumerate(list(self.run.twilio.sent)):
            if sms.get("To") == self.phone and sms.get("Body") == HOLDING_REPLY:
                return self.run.sms_seen[index] if index < len(self.run.sms_seen) else now()
        return None

    def received(self) -> list[dict]:
        return [s for s in list(self.run.twilio.sent) if s.get("To") == self.phone]

    async def post(self, sid: str, text: str) -> bool:
        return await post_sms(self.run, self.http, sid=sid, phone=self.phone, text=text)

    async def deliver(self, sid: str, text: str) -> None:
        self.pending[sid] = text
        delay = 0.5
        while sid in self.pending and not self.run.closing:
            if await self.post(sid, text):
                self.pending.pop(sid, None)
                self.run.sent[sid].accepted = True
                return
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 4.0)

    async def say(self, n: int) -> None:
        text = f"{QUESTIONS[(n * 11 + sum(map(ord, self.tag))) % len(QUESTIONS)]} (ref {self.tag}-{n})"
        sid = "SM" + uuid.uuid4().hex
        self.run.record(sid, "sms", self.tag, text)
        before = len(self.received())
        await self.deliver(sid, text)
        deadline = time.monotonic() + REPLY_WAIT
        while time.monotonic() < deadline and not self.run.closing:
            replies = self.received()
            if len(replies) > before:
                self.first_reply_at = self.first_reply_at or now()
                return
            await asyncio.sleep(0.2)


async def post_sms(run: Run, http, *, sid: str, phone: str, text: str) -> bool:
    from twilio.request_validator import RequestValidator

    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": TWILIO_SID,
        "MessagingServiceSid": "",
        "From": phone,
        "To": "+18885550123",
        "Body": text,
        "NumMedia": "0",
        "NumSegments": "1",
        "FromCountry": "US",
        "ApiVersion": "2010-04-01",
    }
    url = f"{run.baton.base_url}/twilio/sms/incoming"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    try:
        response = await http.post(
            url,
            content=urlencode(params),
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
            timeout=10,
        )
        return 200 <= response.status_code < 300
    except Exception:
        return False


async def watch_twilio(run: Run) -> None:
    """Timestamps every SMS the Twilio fake is asked to send (its records carry none)."""
    while True:
        seen = len(run.twilio.sent)
        if seen > len(run.sms_seen):
            run.sms_seen.extend([now()] * (seen - len(run.sms_seen)))
        await asyncio.sleep(0.1)


async def talk(run: Run, customer, messages: int | None = None) -> None:
    """Write, wait for the answer (or REPLY_WAIT), think, write again, while the run is talking."""
    n = 0
    await asyncio.sleep(random.uniform(0, THINK_SECONDS[1]))
    while run.talking.is_set() and (messages is None or n < messages):
        n += 1
        await customer.say(n)
        await asyncio.sleep(random.uniform(*THINK_SECONDS))


# --- recovery probes --------------------------------------------------------------------------------


async def probe_web(run: Run, http) -> bool:
    import websockets

    try:
        response = await http.post(
            f"{run.baton.base_url}/api/chat/sessions", json={"name": "Probe"}, timeout=3
        )
        if response.status_code != 201:
            return False
        async with websockets.connect(response.json()["ws_url"], open_timeout=3, close_timeout=1) as socket:
            await socket.send(
                json.dumps({"type": "message", "text": "Are you there? (ref probe-1)", "client_id": "p1"})
            )
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                frame = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
                if frame.get("type") == "message" and frame.get("role") in ("ai", "system"):
                    return True
    except Exception:
        return False
    return False


async def probe_sms(run: Run, http) -> bool:
    run.probe_phones += 1
    phone = f"+1415556{run.probe_phones:04d}"
    if not await post_sms(
        run, http, sid="SM" + uuid.uuid4().hex, phone=phone, text="Are you there? (ref probe-1)"
    ):
        return False
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if any(s.get("To") == phone for s in list(run.twilio.sent)):
            return True
        await asyncio.sleep(0.2)
    return False


async def recovery_seconds(run: Run, http, since: float) -> float | None:
    """Seconds from `since` (monotonic) until /healthz is 200 and a new web and SMS customer are answered."""
    found: list[float] = []

    async def attempt() -> None:
        status, _ = await asyncio.to_thread(run.baton.healthz, 2)
        if status != 200:
            return
        web, sms = await asyncio.gather(probe_web(run, http), probe_sms(run, http))
        if web and sms:
            found.append(time.monotonic() - since)

    tasks: list[asyncio.Task] = []
    while not found and time.monotonic() - since < RECOVERY_CAP:
        if sum(not t.done() for t in tasks) < 5:
            tasks.append(asyncio.create_task(attempt()))
        await asyncio.sleep(1.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return min(found) if found else None


# --- the faults -------------------------------------------------------------------------------------


def begin(run: Run, phase: str) -> None:
    if run.phases:
        name, start, _ = run.phases[-1]
        run.phases[-1] = (name, start, now())
    run.phase = phase
    run.phases.append((phase, now(), now()))
    progress(run, phase)


async def settle(run: Run, since: float) -> None:
    await asyncio.sleep(max(0.0, SETTLE_SECONDS - (time.monotonic() - since)))


async def after_fault(run: Run, http, phase: str, since: float) -> None:
    seconds = await recovery_seconds(run, http, since)
    run.recovery[phase] = seconds
    status, body = await asyncio.to_thread(run.baton.healthz, 2)
    shown = f"{seconds:.1f} s" if seconds is not None else f"not within {RECOVERY_CAP:.0f} s"
    workers = [w.pid for w in run.baton.worker_processes()]
    progress(
        run, f"{phase}: recovered {shown}; /healthz {status} {body.strip()[:120]}; worker pids {workers}"
    )
    if not workers and phase != WORKER:
        run.notes.append(f"{phase}: no Celery worker process is running afterwards (it exited)")
    await settle(run, time.monotonic())


async def kill_worker(run: Run, http) -> None:
    begin(run, WORKER)
    workers = run.baton.worker_processes()
    if not workers:
        run.notes.append("worker SIGKILL: no Celery worker process found under `manage.py run`")
        run.recovery[WORKER] = None
        return
    pool = []
    for worker in workers:
        with suppress(Exception):
            pool.extend(worker.children(recursive=True))
        os.kill(worker.pid, signal.SIGKILL)
    since = time.monotonic()
    progress(run, f"killed Celery worker pid {', '.join(str(w.pid) for w in workers)} (SIGKILL)")
    await after_fault(run, http, WORKER, since)
    orphans = [p.pid for p in pool if p.is_running() and p.status() != "zombie"]
    replaced = [w.pid for w in run.baton.worker_processes()]
    run.notes.append(
        f"worker SIGKILL: pool processes of the killed worker still running afterwards: {orphans or 'none'}; "
        f"worker processes now: {replaced or 'none'}"
    )


async def restart_redis(run: Run, http, redis: LocalRedis) -> None:
    begin(run, REDIS)
    redis.stop()
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(redis.start)
    await after_fault(run, http, REDIS, time.monotonic())


async def restart_postgres(run: Run, http, postgres: Postgres) -> None:
    begin(run, POSTGRES)
    await asyncio.to_thread(postgres.stop)
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(postgres.start)
    await after_fault(run, http, POSTGRES, time.monotonic())


async def llm_fault(run: Run, http, kind: str, background: list[asyncio.Task]) -> None:
    phase = LLM_PHASES[kind]
    begin(run, phase)
    short = {"timeout": "t", "http_500": "e", "malformed_tool_call": "m"}[kind]
    customers = []
    for i in range(FAULT_CUSTOMERS):
        web = WebCustomer(run, f"f{short}w{i}", http)
        sms = SmsCustomer(run, f"f{short}s{i}", f"+1415557{len(run.sms) + len(run.web):04d}", http)
        run.web.append(web)
        run.sms.append(sms)
        run.fault_kind[web.tag] = run.fault_kind[sms.tag] = kind
        background.append(asyncio.create_task(web.keep_connected()))
        customers += [web, sms]
    # Each writes twice: the first message meets the failure, the second arrives after the handoff.
    talkers = [asyncio.create_task(talk(run, c, messages=2)) for c in customers]
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline and not all(c.first_reply_at for c in customers):
        await asyncio.sleep(0.2)
    await after_fault(run, http, phase, time.monotonic())
    await asyncio.gather(*talkers, return_exceptions=True)


# --- counting ---------------------------------------------------------------------------------------


def phase_of(run: Run, at: float) -> str:
    phases = [p for p in run.phases if p[0] != "end"]
    for name, start, end in phases[:-1]:
        if start <= at < end:
            return name
    return phases[-1][0] if at >= phases[-1][1] else phases[0][0]


@dataclass
class Counts:
    sent: int = 0
    stored: int = 0
    answered: int = 0
    lost: int = 0
    duplicated: int = 0
    replies: int = 0
    delivered: int = 0
    replies_duplicated: int = 0


def database_view(run: Run) -> dict:
    """Everything the counts need from the database (read-only)."""
    from django.db import connection

    from conversations.models import Conversation, Message
    from handoff.models import Handoff

    connection.close()  # the bench's own connection did not survive the PostgreSQL restart
    keys = list(run.sent)
    customer_rows = list(
        Message.objects.filter(role=Message.Role.CUSTOMER, external_id__in=keys).values(
            "id", "external_id", "conversation_id", "created_at"
        )
    )
    conversation_ids = {r["conversation_id"] for r in customer_rows}
    conversation_ids |= {uuid.UUID(w.conversation_id) for w in run.web if w.conversation_id}
    replies = list(
        Message.objects.filter(
            conversation_id__in=conversation_ids,
            role__in=[Message.Role.AI, Message.Role.AGENT, Message.Role.SYSTEM],
        ).values("id", "conversation_id", "role", "text", "created_at")
    )
    handoffs = list(
        Handoff.objects.filter(conversation_id__in=conversation_ids).values(
            "conversation_id", "reason", "created_at"
        )
    )
    conversations = {
        c["id"]: c
        for c in Conversation.objects.filter(id__in=conversation_ids).values(
            "id", "channel", "escalation_reason"
        )
    }
    connection.close()
    return {
        "customer": customer_rows,
        "replies": replies,
        "handoffs": handoffs,
        "conversations": conversations,
    }


def count(run: Run, view: dict) -> tuple[dict[str, Counts], dict]:
    from orchestration.channels.sms import sms_bodies

    by_phase: dict[str, Counts] = defaultdict(Counts)
    stored_by_key: Counter[str] = Counter(r["external_id"] for r in view["customer"])
    first_stored: dict[str, dict] = {}
    for row in sorted(view["customer"], key=lambda r: r["created_at"]):
        first_stored.setdefault(row["external_id"], row)
    replies_by_conversation: dict[uuid.UUID, list[dict]] = defaultdict(list)
    for reply in view["replies"]:
        replies_by_conversation[reply["conversation_id"]].append(reply)
    handoffs_by_conversation: dict[uuid.UUID, list] = defaultdict(list)
    for handoff in view["handoffs"]:
        handoffs_by_conversation[handoff["conversation_id"]].append(handoff["created_at"])
    details: dict = {
        "lost": [],
        "duplicated": [],
        "unanswered": [],
        "undelivered": [],
        "duplicate_replies": [],
    }

    for key, item in run.sent.items():
        counts = by_phase[item.phase]
        counts.sent += 1
        stored = stored_by_key.get(key, 0)
        if not stored:
            counts.lost += 1
            details["lost"].append(item)
            continue
        counts.stored += 1
        if stored > 1:
            counts.duplicated += stored - 1
            details["duplicated"].append((item, stored))
        row = first_stored[key]
        at, conversation_id = row["created_at"], row["conversation_id"]
        handoffs = handoffs_by_conversation[conversation_id]
        following = [
            r["created_at"] for r in replies_by_conversation[conversation_id] if r["created_at"] > at
        ]
        first = min([*following, *(h for h in handoffs if h >= at)], default=None)
        late = (first - at).total_seconds() if first else None
        # Answered for the customer: within the time they wait; a later message's answer does not count.
        if any(h < at for h in handoffs) or (late is not None and late <= ANSWER_WITHIN):
            counts.answered += 1
        else:
            details["unanswered"].append((item, late))

    # Replies: web chat by message_id frames, SMS by the bodies the Twilio fake was asked to send.
    web_by_conversation = {uuid.UUID(w.conversation_id): w for w in run.web if w.conversation_id}
    sms_phone: dict[uuid.UUID, str] = {}
    sms_by_tag = {c.tag: c for c in run.sms}
    for key, row in first_stored.items():
        item = run.sent[key]
        if item.channel == "sms":
            sms_phone[row["conversation_id"]] = sms_by_tag[item.tag].phone
    sent_sms: Counter[tuple[str, str]] = Counter(
        (s.get("To", ""), s.get("Body", "")) for s in list(run.twilio.sent)
    )
    expected_sms: Counter[tuple[str, str]] = Counter()
    for reply in sorted(view["replies"], key=lambda r: r["created_at"]):
        counts = by_phase[phase_of(run, reply["created_at"].timestamp())]
        counts.replies += 1
        conversation_id = reply["conversation_id"]
        if conversation_id in web_by_conversation:
            times = web_by_conversation[conversation_id].frames.get(str(reply["id"]), 0)
            if times:
                counts.delivered += 1
            else:
                details["undelivered"].append(("webchat", web_by_conversation[conversation_id].tag, reply))
            if times > 1:
                counts.replies_duplicated += times - 1
                details["duplicate_replies"].append(("webchat", reply, times))
        elif conversation_id in sms_phone:
            phone = sms_phone[conversation_id]
            parts = sms_bodies(reply["text"])
            delivered = True
            for part in parts:
                expected_sms[(phone, part)] += 1
                if sent_sms[(phone, part)] < expected_sms[(phone, part)]:
                    delivered = False
            if delivered:
                counts.delivered += 1
            else:
                details["undelivered"].append(("sms", phone, reply))
    for (phone, body), times in sent_sms.items():
        extra = times - expected_sms.get((phone, body), 0)
        if extra > 0 and (phone, body) in expected_sms:
            # Charged to the phase of the last reply with that text.
            reply = max(
                (
                    r
                    for r in view["replies"]
                    if sms_phone.get(r["conversation_id"]) == phone and body in sms_bodies(r["text"])
                ),
                key=lambda r: r["created_at"],
            )
            by_phase[phase_of(run, reply["created_at"].timestamp())].replies_duplicated += extra
            details["duplicate_replies"].append(("sms", phone, body, times))
    return by_phase, details


def out_of_order(run: Run, view: dict) -> int:
    """SMS replies sent to Twilio after a reply of the same conversation that was stored later."""
    order: dict[tuple[str, str], int] = {}
    phones = {}
    for row in view["customer"]:
        item = run.sent[row["external_id"]]
        if item.channel == "sms":
            phones[row["conversation_id"]] = next(c.phone for c in run.sms if c.tag == item.tag)
    for rank, reply in enumerate(sorted(view["replies"], key=lambda r: r["created_at"])):
        if reply["conversation_id"] in phones:
            order.setdefault((phones[reply["conversation_id"]], reply["text"]), rank)
    inversions = 0
    latest: dict[str, int] = {}
    for sms in list(run.twilio.sent):
        rank = order.get((sms.get("To", ""), sms.get("Body", "")))
        if rank is None:
            continue
        phone = sms["To"]
        if rank < latest.get(phone, -1):
            inversions += 1
        latest[phone] = max(rank, latest.get(phone, -1))
    return inversions


def redis_backlog(run: Run, url: str) -> None:
    """What Celery left in Redis: tasks still queued, and tasks reserved by a worker and never acknowledged."""
    import redis

    try:
        client = redis.Redis.from_url(url)
        queued = Counter(json.loads(raw)["headers"]["task"] for raw in client.lrange("celery", 0, -1))
        unacked = Counter(json.loads(raw)[0]["headers"]["task"] for raw in client.hvals("unacked"))
        client.close()
    except Exception as exc:
        run.redis_notes.append(f"Celery backlog in Redis: could not read ({type(exc).__name__}: {exc})")
        return
    run.redis_notes.append(
        f"Celery backlog in Redis at the end: queued {dict(queued) or 'none'}; reserved by a worker, not acknowledged "
        f"(kombu gives them back only after visibility_timeout, 1 h by default): {dict(unacked) or 'none'}"
    )


def llm_rows(run: Run, view: dict) -> tuple[list[list], bool]:
    conversations_by_tag: dict[str, set] = defaultdict(set)
    for row in view["customer"]:
        conversations_by_tag[run.sent[row["external_id"]].tag].add(row["conversation_id"])
    reasons = defaultdict(set)
    for handoff in view["handoffs"]:
        reasons[handoff["conversation_id"]].add(handoff["reason"])
    served = {tag for tag, _, _ in run.faults_served}
    customers = {c.tag: c for c in [*run.web, *run.sms]}
    rows, ok = [], True
    for kind in LLM_FAULTS:
        for channel in ("webchat", "sms"):
            tags = [
                t
                for t, k in run.fault_kind.items()
                if k == kind and isinstance(customers[t], WebCustomer) == (channel == "webchat")
            ]
            hit = [t for t in tags if t in served]
            escalated = [
                t
                for t in hit
                if any(
                    view["conversations"][c]["escalation_reason"] == "llm_failure"
                    or "llm_failure" in reasons[c]
                    for c in conversations_by_tag[t]
                )
            ]
            holding = [t for t in hit if customers[t].holding_at]
            waits = [
                customers[t].holding_at - min(at for tag, _, at in run.faults_served if tag == t)
                for t in holding
            ]
            good = len(hit) == len(tags) > 0 and len(escalated) == len(hit) and len(holding) == len(hit)
            ok = ok and good
            rows.append(
                [
                    LLM_PHASES[kind],
                    channel,
                    f"{len(hit)}/{len(tags)}",
                    len(escalated),
                    len(holding),
                    f"{max(waits):.1f}" if waits else "—",
                    "ok" if good else "MISSED",
                ]
            )
    return rows, ok


# --- main ---------------------------------------------------------------------------------------------


async def drive(run: Run, redis: LocalRedis, postgres: Postgres) -> None:
    import httpx

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(limits=limits) as http:
        background: list[asyncio.Task] = [asyncio.create_task(watch_twilio(run))]
        for i in range(WEB_CUSTOMERS):
            run.web.append(WebCustomer(run, f"w{i}", http))
        for i in range(SMS_CUSTOMERS):
            run.sms.append(SmsCustomer(run, f"s{i}", f"+1415555{100 + i:04d}", http))
        # Warm: the worker's first task loads the embedding model; faults start on a stack that answers.
        since = time.monotonic()
        while (ready := await recovery_seconds(run, http, since)) is None and time.monotonic() - since < 180:
            pass
        if ready is None:
            raise RuntimeError("the stack never answered a web chat and an SMS probe within 180 s")
        progress(run, f"stack answers web chat and SMS ({ready:.1f} s after /healthz)")
        background += [asyncio.create_task(w.keep_connected()) for w in run.web]
        run.talking.set()
        begin(run, BASELINE)
        talkers = [asyncio.create_task(talk(run, c)) for c in [*run.web, *run.sms]]
        await asyncio.sleep(BASELINE_SECONDS)
        # The worker goes last: before `run` restarts it, SMS stays unanswered after the kill.
        await restart_redis(run, http, redis)
        await restart_postgres(run, http, postgres)
        for kind in LLM_FAULTS:
            await llm_fault(run, http, kind, background)
        await kill_worker(run, http)
        begin(run, DRAIN)
        run.talking.clear()
        await asyncio.gather(*talkers, return_exceptions=True)
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            waiting = [s for s in run.sent.values() if not s.accepted]
            if not waiting and await asyncio.to_thread(settled, run):
                break
            for web in run.web:
                await web.resend_unacked()
            await asyncio.sleep(2.0)
        begin(run, "end")
        run.closing = True
        for web in run.web:
            web.done = True
            if web.socket is not None:
                with suppress(Exception):
                    await web.socket.close()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


def settled(run: Run) -> bool:
    """Every stored customer message answered or escalated and every reply delivered (the drain can stop)."""
    try:
        by_phase, details = count(run, database_view(run))
    except Exception:
        return False
    return not details["unanswered"] and not details["undelivered"] and not details["lost"]


def report(run: Run, view: dict) -> bool:
    by_phase, details = count(run, view)
    headers = [
        "phase",
        "sent",
        "stored",
        f"answered or escalated ≤ {ANSWER_WITHIN:.0f} s",
        "lost",
        "duplicated",
        "replies stored",
        "replies delivered",
        "replies duplicated",
        "recovery s",
    ]
    rows, total = [], Counts()
    for name, _, _ in run.phases:
        if name == "end":
            continue
        c = by_phase.get(name, Counts())
        for attr in vars(total):
            setattr(total, attr, getattr(total, attr) + getattr(c, attr))
        if name in run.recovery:
            seconds = run.recovery[name]
            recovery = f"{seconds:.1f}" if seconds is not None else f"> {RECOVERY_CAP:.0f}"
        else:
            recovery = "—"
        rows.append(
            [
                name,
                c.sent,
                c.stored,
                c.answered,
                c.lost,
                c.duplicated,
                c.replies,
                c.delivered,
                c.replies_duplicated,
                recovery,
            ]
        )
    rows.append(
        [
            "**total**",
            total.sent,
            total.stored,
            total.answered,
            total.lost,
            total.duplicated,
            total.replies,
            total.delivered,
            total.replies_duplicated,
            "",
        ]
    )
    print()
    print(table(headers, rows))
    llm, llm_ok = llm_rows(run, view)
    print()
    print(
        table(
            [
                "LLM fault",
                "channel",
                "customers hit",
                "escalated llm_failure",
                "holding reply delivered",
                "s to holding reply",
                "ok",
            ],
            llm,
        )
    )
    recoveries = [(name, s) for name, s in run.recovery.items()]
    slow = [name for name, s in recoveries if s is None or s >= RECOVERY_TARGET]
    checks = [
        ("customer messages lost", total.lost, total.lost == 0),
        ("customer messages duplicated", total.duplicated, total.duplicated == 0),
        (
            f"stored but not answered or escalated within {ANSWER_WITHIN:.0f} s",
            total.stored - total.answered,
            total.stored == total.answered,
        ),
        ("replies not delivered", total.replies - total.delivered, total.replies == total.delivered),
        ("replies delivered twice", total.replies_duplicated, total.replies_duplicated == 0),
        (
            "LLM failures escalated (llm_failure) with the holding reply",
            "all" if llm_ok else "not all",
            llm_ok,
        ),
        (f"recovery under {RECOVERY_TARGET:.0f} s after each fault", ", ".join(slow) or "all", not slow),
    ]
    print()
    print(table(["target", "measured", "verdict"], [[n, m, "ok" if ok else "MISSED"] for n, m, ok in checks]))
    print()
    for note in run.notes:
        print(f"- {note}")
    reconnects = sum(w.reconnects for w in run.web)
    errors = sum((w.errors for w in run.web), Counter())
    print(
        f"- web chat: {reconnects} reconnects (unacknowledged messages resent with their client_id); "
        f"error frames: {dict(errors) or 'none'}"
    )
    print(f"- SMS: {out_of_order(run, view)} replies reached Twilio before a reply stored ahead of them")
    for note in run.redis_notes:
        print(f"- {note}")
    show = {
        "lost": [f"{s.channel} {s.tag} {s.key} ({s.phase})" for s in details["lost"]],
        "duplicated": [f"{s.channel} {s.tag} {s.key} ×{n} ({s.phase})" for s, n in details["duplicated"]],
        "unanswered": [
            f"{s.channel} {s.tag} {s.key} ({s.phase}): {s.text!r}, "
            + (f"first answer after {late:.0f} s" if late is not None else "never answered")
            for s, late in details["unanswered"]
        ],
        "undelivered": [
            f"{channel} {who} {r['role']} {r['id']} at {r['created_at']:%H:%M:%S} ({phase_of(run, r['created_at'].timestamp())}): {r['text'][:60]!r}"
            for channel, who, r in details["undelivered"]
        ],
        "duplicate replies": [str(d)[:160] for d in details["duplicate_replies"]],
    }
    for name, lines in show.items():
        if lines:
            print(f"- {name}:")
            for line in lines[:25]:
                print(f"    {line}")
            if len(lines) > 25:
                print(f"    … and {len(lines) - 25} more")
    return all(ok for _, _, ok in checks)


HOLDING_REPLY = ""


def _interrupt(*_) -> None:
    raise KeyboardInterrupt  # a stopped benchmark tears its stack down like Ctrl+C


def main() -> int:
    global HOLDING_REPLY
    signal.signal(signal.SIGTERM, _interrupt)
    workspace = Workspace("faults")
    with ExitStack() as stack:
        stack.callback(workspace.remove)
        print(f"faults: a real stack in {workspace.path}")
        redis = LocalRedis(workspace.path / "redis", dies_with_starter=False)
        redis.start()
        stack.callback(redis.stop)
        postgres = Postgres(workspace.path)
        stack.callback(lambda: postgres.running() and postgres.stop("immediate"))
        from tests.fakes.openai_server import FakeOpenAI
        from tests.fakes.twilio_server import FakeTwilio

        openai = stack.enter_context(FakeOpenAI())
        twilio = stack.enter_context(FakeTwilio(TWILIO_SID, TWILIO_TOKEN))
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "deskapp.settings",
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "BATON_HOST": "127.0.0.1",
            "BATON_PORT": str(port),
            "BATON_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "BATON_DATA_DIR": str(workspace.path / "baton"),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "DEMOSTORE_API_TOKEN": secrets.token_urlsafe(18),
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "BATON_LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "BATON_CELERY_EAGER": "0",
        }
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        from conversations.models import LLMProvider, UseCase
        from handoff.defaults import seed_handoff_defaults
        from handoff.wording import HOLDING_REPLY as holding
        from orchestration.runtime import BASE_INSTRUCTIONS

        HOLDING_REPLY = holding
        call_command("migrate", verbosity=0)
        provider = openai.llm_provider(api_key_env="", timeout_seconds=LLM_TIMEOUT, name="fake-openai")
        UseCase.objects.create(slug="faults", name="Faults", is_default=True, llm_provider=provider)
        seed_handoff_defaults()
        assert LLMProvider.objects.get(pk=provider.pk).max_retries == 0
        from django.db import connection

        connection.close()
        baton = Baton(workspace.path, env)
        run = Run(baton=baton, twilio=twilio, openai=openai)
        openai.respond = make_responder(run, BASE_INSTRUCTIONS[:60])
        started = time.monotonic()
        stack.callback(baton.stop)
        baton.start()
        print(f"  manage.py run is serving on {baton.base_url} after {time.monotonic() - started:.0f} s")
        try:
            asyncio.run(drive(run, redis, postgres))
        except BaseException:
            print(baton.log_tail())
            raise
        view = database_view(run)
        redis_backlog(run, redis.url)
        ok = report(run, view)
        if not ok:
            print("\nlast lines of the stack's log:\n" + baton.log_tail(25))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
