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
TWILIO_REJECTED = Counter(
    "baton_twilio_rejected_total", "Twilio webhooks and handshakes refused for a bad signature", ["endpoint"]
)
VOICE_RELAY_ERRORS = Counter("baton_voice_relay_errors_total", "`error` messages from ConversationRelay")
VOICE_INTERRUPTS = Counter("baton_voice_interrupts_total", "Voice replies the caller cut short")
SMS_SENT = Counter("baton_sms_sent_total", "SMS parts handed to Twilio", ["outcome"])
