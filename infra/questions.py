"""What a customer's message asks: a question at all, and a question the help articles should answer.

One definition for the offline engine (answer from an article or decline) and the runtime (a
question no article answered is a knowledge gap).
"""

import re

from . import entities

# A message that asks something: a question mark at the end, or a question word first.
QUESTION = re.compile(r"\?\s*$|^\s*(what|when|where|why|how|do|does|is|are|can|could|will|would)\b", re.I)
# ... or asks it indirectly: "tell me if shipping is free", "I'd like to know how refunds work".
INDIRECT_QUESTION = re.compile(r"\b(tell me|let me know|explain|wondering|(want|like|need) to know)\b", re.I)
# The customer's own order, account or delivery: the dialogue over actions, not an article, answers.
_OWN = re.compile(
    r"\b(my|our)\s+(\w+\s+)?(order|orders|package|parcel|account|address|email|card|payment|refund|"
    r"return|exchange|items?|purchase|delivery|shipment|tracking|profile|password)\b",
    re.I,
)
# "Can you cancel it?": a request for an action, not a question about the rules.
_REQUEST = re.compile(
    r"^\s*(can|could|would|will)\s+you\b|^\s*please\b|\bi (want|need|would like|'d like)\b", re.I
)


def is_question(text: str) -> bool:
    return bool(QUESTION.search(text) or INDIRECT_QUESTION.search(text))


def asks_about_policy(text: str) -> bool:
    """A question about how the business works ("how long do refunds take?"), not about the customer's
    own order or account, and not a request to do something."""
    return (
        is_question(text)
        and not _OWN.search(text)
        and (INDIRECT_QUESTION.search(text) is not None or not _REQUEST.search(text))
        and not entities.order_ids(text)
    )
