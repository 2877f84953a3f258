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
ACTIONS = Counter("baton_action_invocations_total", "Action invocations by how they ended", ["status"])
WEBSOCKETS = Gauge("baton_websocket_connections", "Open websocket connections", ["kind"])
