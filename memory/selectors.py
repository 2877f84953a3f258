"""Reads of the memory layer: recall by meaning and the customer profile.

These signatures are the contract other apps use (runtime context, handoff packet, Recall API).
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RecalledObservation:
    id: int
    text: str
    kind: str
    score: float
    created_at: datetime
    conversation_id: uuid.UUID | None
    message_external_ids: list[str] = field(default_factory=list)


def recall(*, customer_id: uuid.UUID, query: str, k: int = 10) -> list[RecalledObservation]:
    """The customer's observations most relevant to `query`, best first (memory issue: not built yet)."""
    return []


def profile_for(*, customer_id: uuid.UUID) -> dict:
    """The customer's reconciled profile: `{"traits": {...}, "summary": str}` (memory issue: not built yet)."""
    return {"traits": {}, "summary": ""}
