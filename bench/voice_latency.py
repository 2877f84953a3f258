"""Voice latency: Baton's own overhead between Twilio ConversationRelay and the LLM.

200 turns over the relay websocket of the web processes `make run` starts (one Daphne per core), against a loopback OpenAI-compatible server
that streams its first token at once, so what is measured is Baton: storing the message, operators,
building the context (memory recall included: every caller is a returning customer with an earlier
conversation and a dozen observations), the LLM request and the first speakable piece.
Memory extraction runs where it runs in production with Redis: in a Celery worker process.
Then 200 interrupted turns: how long after the caller's `interrupt` text tokens still arrive.
Last, 200 turns over eight calls at once, a turn about every second each: they must answer as fast
as one call (the same first-token target).

Runs on its own throwaway database and Redis database; prints a table. `--strict` exits 1 on a miss.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskapp.settings_test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ["BENCH_OPENAI_KEY"] = "sk-bench"
# As deployed with Redis (`make run`): background work (memory extraction) runs in a Celery worker.
os.environ["BATON_CELERY_EAGER"] = "0"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from deskapp.serving import web_process_count  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply  # noqa: E402
from tests.live_server import running_celery_worker, running_web_processes  # noqa: E402
from tests.twilio.relay_client import RelayClient  # noqa: E402

TARGET_FIRST_TOKEN_MS = 50
TARGET_INTERRUPT_MS = 20
TURNS_PER_CALL = 10
WARMUP_TURNS = 5
# Calls at once, each caller taking a turn about every second; the first-token target holds for them too.
CONCURRENT_CALLS = 8
CONCURRENT_FIRST_CALL = 501


CALLER_LINES = [
    "Hi, I'm calling about order number {n}, where is it?",
    "It was supposed to arrive on the {d}th and it still hasn't.",
    "Can you tell me when the package for order {n} will get here?",
    "I paid {n} cents extra for express shipping on that one.",
    "My address is {n} Maple Street, apartment {d}.",
    "Is there any way to change the delivery to the {d}th?",
    "The tracking page for {n} has said the same thing for {d} days.",
    "OK, and what about the second item, the one for {d} dollars?",
    "Could I get a refund if it doesn't come by the {d}th?",
    "Alright, thanks, one last thing about order {n}.",
]


PAST_OBSERVATIONS = [
    "Ordered a pair of trail running shoes, order {n}, size 10.",
    "Prefers deliveries left with the building concierge.",
    "Complained that order {m} arrived two days late last month.",
    "Asked to be contacted by text message rather than email.",
    "Returned a rain jacket from order {m} because it was too small.",
    "Pays with a Visa card ending in {d:02d}.",
    "Lives at {n} Maple Street, apartment {d}.",
    "Got a 10 percent goodwill voucher after the late delivery.",
    "Usually chooses express shipping for gifts.",
    "Mentioned a birthday on the {d}th and wanted the order before it.",
    "Was unhappy about being transferred twice on an earlier call.",
    "Subscribed to the newsletter for running gear.",
]


def caller_number(call: int) -> str:
    return f"+1415555{call:04d}"


def seed_returning_caller(call: int) -> None:
    """A caller Baton already knows: an earlier text conversation and what memory kept from it.

    Every caller is a returning customer, so each turn pays for recall by meaning as well.
    """
    from conversations.models import Conversation
    from conversations.services import open_conversation, resolve_customer
    from memory.services import add_observations

    customer = resolve_customer(identities=[("phone", caller_number(call))])
    earlier = open_conversation(customer=customer, channel=Conversation.Channel.SMS)
    n, m, d = 100_000 + call * 97, 90_000 + call * 31, call % 28 + 1
    items = [{"text": line.format(n=n, m=m, d=d), "kind": "fact"} for line in PAST_OBSERVATIONS]
    add_observations(customer_id=customer.id, items=items, conversation_id=earlier.id)


def caller_utterance(call: int, turn: int) -> str:
    """A different sentence every turn, as callers say: no turn is helped by an earlier one's caches."""
    line = CALLER_LINES[turn % len(CALLER_LINES)]
    return line.format(n=100_000 + call * 97 + turn, d=(call + turn) % 28 + 1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def first_token_turns(address: str, turns: int) -> list[float]:
    samples: list[float] = []
    call = 0
    total = turns + WARMUP_TURNS
    while len(samples) < turns:
        call += 1
        relay = await RelayClient.connect(address)
        await relay.setup(f"CA{call:032d}", caller=caller_number(call))
        for turn in range(TURNS_PER_CALL):
            started = time.perf_counter()
            await relay.prompt(caller_utterance(call, turn))
            frame = await relay.receive()
            elapsed = (time.perf_counter() - started) * 1000
            assert frame["type"] == "text", frame
            while not frame["last"]:
                frame = await relay.receive()
            total -= 1
            if total < turns:
                samples.append(elapsed)
            if len(samples) >= turns:
                break
        await relay.close()
    return samples


async def concurrent_turns(address: str, turns: int) -> list[float]:
    """`CONCURRENT_CALLS` calls at once; in each, the caller speaks again 0.5-1.5 s after a reply ends."""
    samples: list[float] = []
    per_call = -(-turns // CONCURRENT_CALLS)

    async def one_call(call: int) -> None:
        relay = await RelayClient.connect(address)
        await relay.setup(f"CA{call:032d}", caller=caller_number(call))
        for turn in range(per_call):
            await asyncio.sleep(0.5 + ((call * 7 + turn * 13) % 11) / 10)
            started = time.perf_counter()
            await relay.prompt(caller_utterance(call, turn))
            frame = await relay.receive()
            samples.append((time.perf_counter() - started) * 1000)
            while not frame["last"]:
                frame = await relay.receive()
        await relay.close()

    await asyncio.gather(*(one_call(CONCURRENT_FIRST_CALL + i) for i in range(CONCURRENT_CALLS)))
    return samples[:turns]


async def interrupt_turns(address: str, fake: FakeOpenAI, turns: int) -> tuple[list[float], int]:
    samples: list[float] = []
    late_tokens = 0
    call = 10_000
    while len(samples) < turns:
        call += 1
        relay = await RelayClient.connect(address)
        await relay.setup(f"CA{call:032d}", caller=f"+1628555{call % 10000:04d}")
        for turn in range(TURNS_PER_CALL):
            fake.script(Reply(text=" ".join(f"word{i}" for i in range(80)), chunk_delay=0.002))
            await relay.prompt(caller_utterance(call, turn))
            first = await relay.receive()
            assert first["type"] == "text", first
            interrupted_at = time.perf_counter()
            await relay.interrupt(first["token"])
            last_at = interrupted_at
            # Tokens the server had already put on the wire still arrive; anything later is a failure to stop.
            while True:
                try:
                    frame = await relay.receive(timeout=0.15)
                except TimeoutError:
                    break
                if frame["type"] == "text":
                    late_tokens += 1
                    last_at = time.perf_counter()
            samples.append((last_at - interrupted_at) * 1000)
            if len(samples) >= turns:
                break
        await relay.close()
    return samples, late_tokens


def row(name: str, samples: list[float], target: float | None) -> tuple[str, bool]:
    p50, p95 = statistics.median(samples), percentile(samples, 95)
    ok = target is None or p95 < target
    goal, result = ("—", "info") if target is None else (f"< {target:>3} ms", "ok" if ok else "MISSED")
    return (
        f"| {name:<34} | {len(samples):>5} | {p50:>7.1f} | {p95:>7.1f} | {max(samples):>7.1f} "
        f"| {goal:<8} | {result:<6} |",
        ok,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    settings.DATABASES["default"]["TEST"]["NAME"] = "baton_bench_voice"
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        from conversations.models import UseCase
        from handoff.defaults import seed_handoff_defaults

        seed_handoff_defaults()  # the operators and escalation rules every install starts with
        calls = (args.turns + WARMUP_TURNS) // TURNS_PER_CALL + 1
        concurrent = range(CONCURRENT_FIRST_CALL, CONCURRENT_FIRST_CALL + CONCURRENT_CALLS)
        for call in [*range(1, calls + 1), *concurrent]:
            seed_returning_caller(call)

        with FakeOpenAI(default=Reply(text="Your order shipped yesterday and arrives Friday.")) as fake:
            provider = fake.llm_provider(
                api_key_env="BENCH_OPENAI_KEY", name="bench-loopback", model="gpt-bench"
            )
            UseCase.objects.create(slug="bench", name="Bench", is_default=True, llm_provider=provider)
            # Served as `make run` serves: one web process per core on one address.
            with running_celery_worker(), running_web_processes(count=web_process_count()) as address:
                first = asyncio.run(first_token_turns(address, args.turns))
                interrupts, late = asyncio.run(interrupt_turns(address, fake, args.turns))
                at_once = asyncio.run(concurrent_turns(address, args.turns))
    finally:
        teardown_databases(old_config, verbosity=0)

    lines = [
        f"voice latency over /ws/voice/relay ({args.turns} turns each, {WARMUP_TURNS} warm-up turns "
        f"not counted, {TURNS_PER_CALL} turns per call, loopback LLM, {os.cpu_count()} cores, "
        f"{web_process_count()} web processes)",
        "| metric                             |     n | p50 ms  | p95 ms  | max ms  | target   | result |",
        "|------------------------------------|-------|---------|---------|---------|----------|--------|",
    ]
    results = [
        row("prompt -> first text token", first, TARGET_FIRST_TOKEN_MS),
        row("interrupt -> last text token", interrupts, TARGET_INTERRUPT_MS),
        row(f"first token, {CONCURRENT_CALLS} calls at once", at_once, TARGET_FIRST_TOKEN_MS),
    ]
    lines += [line for line, _ in results]
    lines.append(f"text tokens that arrived after an interrupt (already in flight): {late}")
    print("\n".join(lines))
    return 1 if args.strict and not all(ok for _, ok in results) else 0


if __name__ == "__main__":
    sys.exit(main())
