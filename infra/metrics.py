"""The Prometheus metrics registry: failures must be loud. Exposed at `/metrics`.

Counters live in each process; what the database already knows (the human queue right now)
is read at scrape time by `insights.database_metrics`, so several processes never disagree about it.
"""

import logging

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from infra import worker_health

logger = logging.getLogger(__name__)

MESSAGES = Counter("baton_messages_total", "Messages stored", ["channel", "role"])
TURNS = Counter("baton_ai_turns_total", "AI turns run", ["outcome"])
LLM_ERRORS = Counter("baton_llm_errors_total", "LLM provider failures", ["provider"])
LLM_LATENCY = Histogram(
    "baton_llm_first_token_seconds",
    "Time from turn start to the first streamed token",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
HANDOFFS = Counter("baton_handoffs_total", "Handoffs started", ["reason"])
ACTIONS = Counter("baton_action_invocations_total", "Action invocations by how they ended", ["status"])
WEBSOCKETS = Gauge("baton_websocket_connections", "Open websocket connections", ["kind"])
SIGNALS = Counter("baton_signals_total", "Signals raised by operators", ["operator", "label"])
HANDOFF_PACKET_SECONDS = Histogram(
    "baton_handoff_packet_seconds",
    "Time from a handoff's trigger to its packet being stored and published",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2),
)
ACTION_FAILURES = Counter("baton_action_failures_total", "Actions that failed (error or timeout)", ["action"])
QUEUE_WAIT = Histogram(
    "baton_queue_wait_seconds",
    "Time a handoff waited in the human queue before an agent accepted it",
    ["queue"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
CONVERSATIONS_CLOSED = Counter(
    "baton_conversations_closed_total",
    "Conversations closed, by outcome and assigned handler",
    ["outcome", "handler"],
)
SHADOW_DRAFTS = Counter("baton_shadow_drafts_total", "AI drafts recorded in shadow mode", ["outcome"])
ALERTS_FIRING = Gauge("baton_alerts_firing", "Alert rules currently firing (as of the last evaluation)")


def observe_queue_wait(*, queue: str, seconds: float) -> None:
    """Record how long a handoff waited before an agent accepted it (call from `accept_handoff`)."""
    QUEUE_WAIT.labels(queue=queue or "default").observe(max(seconds, 0.0))


TWILIO_REJECTED = Counter(
    "baton_twilio_rejected_total", "Twilio webhooks and handshakes refused for a bad signature", ["endpoint"]
)
VOICE_RELAY_ERRORS = Counter("baton_voice_relay_errors_total", "`error` messages from ConversationRelay")
VOICE_INTERRUPTS = Counter("baton_voice_interrupts_total", "Voice replies the caller cut short")
SMS_SENT = Counter("baton_sms_sent_total", "SMS parts handed to Twilio", ["outcome"])
DELIVERIES = Counter(
    "baton_deliveries_total",
    "Customer-visible messages handed to their channel: sent, retry (a transient failure) or failed",
    ["channel", "outcome"],
)


# The background worker. Its own counters live in its process, which nothing scrapes, so what it
# reports (heartbeat, failures) is kept in Redis and read here at scrape time (infra/worker_health.py).
WORKER_RESTARTS = Counter(
    "baton_worker_restarts_total", "Background workers that exited and were restarted by `run`"
)


class WorkerCollector:
    """baton_worker_up, the task backlog and task failures by task name, read from Redis per scrape."""

    def describe(self):
        # Registering asks for the names; answering from Redis then would block an import.
        return [
            GaugeMetricFamily("baton_worker_up", ""),
            GaugeMetricFamily("baton_worker_heartbeat_age_seconds", ""),
            GaugeMetricFamily("baton_task_queue_depth", ""),
            CounterMetricFamily("baton_task_failures", "", labels=["task"]),
        ]

    def collect(self):
        status = worker_health.worker_status()
        yield GaugeMetricFamily(
            "baton_worker_up",
            "1 when the background worker's heartbeat is fresh (or work runs in-process), else 0",
            value=1 if status.up else 0,
        )
        if status.heartbeat_age is not None:
            yield GaugeMetricFamily(
                "baton_worker_heartbeat_age_seconds",
                "Seconds since the background worker's last heartbeat",
                value=status.heartbeat_age,
            )
        if status.backlog is not None:
            yield GaugeMetricFamily(
                "baton_task_queue_depth", "Tasks waiting in the broker for a worker", value=status.backlog
            )
        failures = CounterMetricFamily("baton_task_failures", "Task runs that failed", labels=["task"])
        try:
            for task, count in sorted(worker_health.task_failures().items()):
                failures.add_metric([task], count)
        except Exception as exc:  # a scrape must answer even when Redis does not
            logger.warning("metrics: could not read task failures from Redis: %s", exc)
        yield failures


REGISTRY.register(WorkerCollector())
