"""Writes for the handoff app, by concern: screening, monitoring (operators), rules, handoffs, packets,
replies, drafts, and the notify functions that publish their events.

The pipeline calls `screen_inbound_text` before a customer message is stored (redaction) and
`observe_customer_message` after (operators, rules, maybe a handoff); the runtime calls
`observe_ai_message` after it stores an AI message (policy operators).
"""

from .drafts import ignore_draft, record_draft_use, store_ai_draft
from .handoffs import (
    DEFAULT_QUEUE,
    HandoffError,
    accept_handoff,
    add_queue_member,
    hand_back_to_ai,
    reassign_handoff,
    resolve_handoff,
    start_handoff,
    take_over,
)
from .monitoring import (
    KNOWLEDGE_GAP,
    Observed,
    observe_ai_message,
    observe_customer_message,
    record_failed_delivery,
    record_knowledge_gap,
)
from .packets import build_packet, write_llm_summary
from .replies import add_agent_note, record_agent_reply, send_agent_reply
from .rules import check_waiting_conversations, evaluate_rules
from .screening import Screened, screen_inbound_text

__all__ = [
    "DEFAULT_QUEUE",
    "KNOWLEDGE_GAP",
    "HandoffError",
    "Observed",
    "Screened",
    "accept_handoff",
    "add_agent_note",
    "add_queue_member",
    "build_packet",
    "check_waiting_conversations",
    "evaluate_rules",
    "hand_back_to_ai",
    "ignore_draft",
    "observe_ai_message",
    "observe_customer_message",
    "reassign_handoff",
    "record_agent_reply",
    "record_draft_use",
    "record_failed_delivery",
    "record_knowledge_gap",
    "resolve_handoff",
    "screen_inbound_text",
    "send_agent_reply",
    "start_handoff",
    "store_ai_draft",
    "take_over",
    "write_llm_summary",
]
