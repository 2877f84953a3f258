"""Channels group names: who receives what is decided here and nowhere else.

A customer's socket joins only `conversation_group`. Signals and internal notes go to staff
groups (`supervisors_group`, `queue_group`, `agent_group`), never to a conversation group.
"""

import uuid


def conversation_group(conversation_id: uuid.UUID | str) -> str:
    return f"conversation.{conversation_id}"


def conversation_staff_group(conversation_id: uuid.UUID | str) -> str:
    return f"conversation-staff.{conversation_id}"


def supervisors_group() -> str:
    return "supervisors"


def queue_group(queue_id: int | str) -> str:
    return f"queue.{queue_id}"


def agent_group(user_id: int | str) -> str:
    return f"agent.{user_id}"
