"""Who handles a new conversation: the use case's mode and traffic slice, decided by a stable hash.

A pure function, so the decision can be tested over thousands of customers without a database.
The bucket depends only on the use case and the customer, never on the channel or time, so a
customer never flips between the AI and a person; widening a slice only moves customers from
human to AI, never back.
"""

import hashlib
from dataclasses import dataclass

AI = "ai"
HUMAN = "human"


@dataclass(frozen=True)
class Assignment:
    handler: str  # "ai" | "human"
    reason: str  # why, stored on the conversation
    shadow: bool = False  # the AI drafts what it would answer; a person replies
    bucket: int | None = None


def bucket_for(*, use_case_slug: str, customer_key: str) -> int:
    """A stable bucket 0..99 for this customer in this use case."""
    digest = hashlib.sha256(f"{use_case_slug}:{customer_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def assign_handler(
    *, mode: str, live_percentages: dict[str, int] | None, channel: str, use_case_slug: str, customer_key: str
) -> Assignment:
    """The handler of a new conversation for `mode` ("off" | "shadow" | "live") and the channel's live share."""
    if mode == "off":
        return Assignment(HUMAN, "off: humans handle this use case")
    if mode == "shadow":
        return Assignment(HUMAN, "shadow mode: a person replies, the AI drafts", shadow=True)
    share = (live_percentages or {}).get(channel, 100)
    bucket = bucket_for(use_case_slug=use_case_slug, customer_key=customer_key)
    if bucket < share:
        return Assignment(AI, f"live {share}% slice: bucket {bucket} < {share}", bucket=bucket)
    return Assignment(HUMAN, f"live {share}% slice: bucket {bucket} >= {share}", bucket=bucket)
