"""Handoff latency: operators per message, and trigger → packet stored and published (offline summarizer).

Runs against a throwaway database on the configured PostgreSQL and the configured channel layer
(Redis when REDIS_URL is set). Prints a table; exits 1 when the p95 budgets are missed:
all operators on one message well under an LLM call (< 100 ms), trigger → packet < 300 ms.
"""

import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskapp.settings")
os.environ["BATON_LOG_LEVEL"] = "WARNING"

import django  # noqa: E402

django.setup()

from _throwaway import throwaway_database  # noqa: E402
from django.conf import settings  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
HISTORY_TURNS = 6  # customer + AI messages before the trigger: a 12-message conversation
OPERATOR_BUDGET_MS = 100
PACKET_BUDGET_MS = 300

settings.CELERY_TASK_ALWAYS_EAGER = True

# Distinct customer turns, so the "repeats themselves" operator does not escalate the history itself.
HISTORY = [
    "Hi, I placed order {order} last week for a desk lamp.",
    "It still says pending, when will it ship?",
    "Also my email changed, it is now customer{n}@example.com.",
    "Could the lamp go to my office at 12 Main St instead?",
    "The zip code there is 10001 if that matters.",
    "And is shipping still free for that address?",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def row(name: str, values: list[float], budget: float | None) -> tuple[str, bool]:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    ok = budget is None or p95 < budget
    verdict = "—" if budget is None else ("ok" if ok else "OVER")
    line = f"| {name:<48} | {len(values):>4} | {p50:>8.1f} | {p95:>8.1f} | {max(values):>8.1f} | {f'< {budget}' if budget else '':>7} | {verdict:>4} |"
    return line, ok


def main() -> int:
    from conversations.models import LLMProvider, Message, UseCase
    from conversations.services import Inbound, record_reply
    from handoff import operators as ops
    from handoff import selectors, services
    from handoff.defaults import seed_handoff_defaults
    from handoff.models import Operator
    from infra import event_types, events
    from infra.embeddings import warm_up
    from orchestration.pipeline import accept_customer_message

    with throwaway_database("baton_bench_handoff"):
        provider = LLMProvider.objects.create(name="offline-bench", kind="offline")
        UseCase.objects.create(slug="bench", name="Bench", is_default=True, llm_provider=provider)
        seed_handoff_defaults()
        started = time.perf_counter()
        warm_up()
        model_load_ms = (time.perf_counter() - started) * 1000

        published_at: dict[int, float] = {}
        real_send = events._send

        def timed_send(groups, event_type, payload, on_failed=None):
            real_send(groups, event_type, payload, on_failed)
            if event_type == event_types.PACKET_READY and payload["packet"]["summary"]["status"] == "ready":
                published_at.setdefault(payload["handoff_id"], time.perf_counter())

        events._send = timed_send

        def conversation_with_history(n: int):
            address = f"+1415555{n:04d}"
            conversation = None
            for turn in range(HISTORY_TURNS):
                accepted = accept_customer_message(
                    Inbound(
                        channel="sms",
                        identity_channel="phone",
                        address=address,
                        text=HISTORY[turn].format(order=f"#W{2611340 + n}", n=n),
                        external_id=f"b-{n}-{turn}",
                    )
                )
                conversation = accepted.conversation
                record_reply(
                    conversation_id=conversation.id,
                    role=Message.Role.AI,
                    text=f"Order #W{2611340 + n} is pending; I can change its address once you confirm.",
                )
            return address, conversation

        operator_ms, per_kind = [], {k: [] for k in Operator.Kind.values}
        pipeline_ms, trigger_ms, message_trigger_ms = [], [], []
        customer_ops = selectors.enabled_operators(applies_to=Operator.AppliesTo.CUSTOMER)
        for n in range(ROUNDS):
            address, conversation = conversation_with_history(n)
            earlier = tuple(
                Message.objects.filter(conversation=conversation, role="customer").values_list(
                    "text", flat=True
                )
            )
            view = ops.MessageView(
                text=f"Honestly I'm getting frustrated, this is attempt {n} and nobody has answered me {uuid.uuid4().hex[:6]}",
                role="customer",
                conversation_id=conversation.id,
                previous_customer_texts=earlier,
            )
            t0 = time.perf_counter()
            for operator in customer_ops:
                k0 = time.perf_counter()
                ops.run_operator(operator, view)
                per_kind[operator.kind].append((time.perf_counter() - k0) * 1000)
            operator_ms.append((time.perf_counter() - t0) * 1000)

            # A whole non-escalating message: redaction, store, operators, rules.
            t0 = time.perf_counter()
            accept_customer_message(
                Inbound(
                    channel="sms",
                    identity_channel="phone",
                    address=address,
                    text=f"My card is 4111 1111 1111 1111, is that fine for the order {n}?",
                    external_id=f"b-{n}-card",
                )
            )
            pipeline_ms.append((time.perf_counter() - t0) * 1000)

            if n % 2 == 0:
                # Trigger = the handoff is decided (start_handoff called) → packet stored and published.
                t0 = time.perf_counter()
                handoff = services.start_handoff(conversation_id=conversation.id, reason="customer_request")
                trigger_ms.append((published_at[handoff.pk] - t0) * 1000)
            else:
                # Trigger = the customer's message arrives → operators, rule, handoff, packet published.
                t0 = time.perf_counter()
                accepted = accept_customer_message(
                    Inbound(
                        channel="sms",
                        identity_channel="phone",
                        address=address,
                        text="I want to talk to a real person now",
                        external_id=f"b-{n}-human",
                    )
                )
                handoff = selectors.live_handoff(accepted.conversation.id)
                assert handoff is not None and not accepted.ai_should_reply
                message_trigger_ms.append((published_at[handoff.pk] - t0) * 1000)
        events._send = real_send

    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(
        f"handoff latency — {ROUNDS} conversations of {2 * HISTORY_TURNS} messages, offline summarizer, {layer}"
    )
    print(f"embedding model load (once per process, before measuring): {model_load_ms:.0f} ms")
    print(
        "| measurement                                      |    n |  p50 ms  |  p95 ms  |  max ms  |  budget | p95  |"
    )
    print(
        "|--------------------------------------------------|------|----------|----------|----------|---------|------|"
    )
    checks = []
    for name, values, budget in [
        ("all customer operators on one message", operator_ms, OPERATOR_BUDGET_MS),
        *[(f"  {kind} operators", v, None) for kind, v in per_kind.items() if v],
        ("message accepted (redact+store+operators+rules)", pipeline_ms, None),
        ("trigger → packet stored + published", trigger_ms, PACKET_BUDGET_MS),
        ("customer message → packet stored + published", message_trigger_ms, PACKET_BUDGET_MS),
    ]:
        line, ok = row(name, values, budget)
        print(line)
        checks.append(ok)
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
