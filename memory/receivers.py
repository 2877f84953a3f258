"""Memory's part in what the conversations layer announces (`conversations.signals`)."""

import uuid

from .services import merge_customer_memory
from .tasks import enqueue_extraction


def extract_closed_conversation(sender, *, conversation_id: uuid.UUID, **kwargs) -> None:
    """A conversation closed: extract its last observations (the LLM pass runs at the end)."""
    enqueue_extraction(conversation_id, final=True)


def merge_memory_of_merged_customers(
    sender, *, survivor_id: uuid.UUID, merged_id: uuid.UUID, **kwargs
) -> None:
    merge_customer_memory(survivor_id=survivor_id, merged_id=merged_id)
