"""Prometheus metrics: failures must be loud. Exposed at `/metrics`."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("baton_messages_total", "Messages stored", ["channel", "role"])
TURNS = Counter("baton_ai_turns_total", "AI turns run", ["outcome"])
LLM_ERRORS = Counter("baton_llm_errors_total", "LLM provider failures", ["provider"])
LLM_LATENCY = Histogram(
    "baton_llm_first_token_seconds",
    "Time from turn start to the first streamed token",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
HANDOFFS = Counter("baton_handoffs_total", "Handoffs started", ["reason"])
WEBSOCKETS = Gauge("baton_websocket_connections", "Open websocket connections", ["kind"])
SIGNALS = Counter("baton_signals_total", "Signals raised by operators", ["operator", "label"])
HANDOFF_PACKET_SECONDS = Histogram(
    "baton_handoff_packet_seconds",
    "Time from a handoff's trigger to its packet being stored and published",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2),
)
