"""Celery tasks of the orchestration layer: take ids, load, call a service.

Names are explicit and never change (the SMS ones keep the names they had in `conversations.tasks`),
so tasks already queued in Redis survive a deploy that moves the code.
"""

import uuid

from celery import shared_task

from conversations import delivery

from . import copilot
from .channels import sms


@shared_task(name="conversations.tasks.answer_sms", ignore_result=True)
def answer_sms(conversation_id: str, wait: bool = True) -> None:
    sms.answer_sms(conversation_id=uuid.UUID(conversation_id), wait=wait)


@shared_task(name="conversations.tasks.send_sms_reply", ignore_result=True)
def send_sms_reply(message_id: str) -> None:
    # No Celery retries: a send that fails for now stays pending in the outbox, which retries it.
    sms.send_reply_by_sms(message_id=uuid.UUID(message_id))


@shared_task(name="conversations.answer_waiting_texts", ignore_result=True)
def answer_waiting_texts() -> None:
    sms.answer_waiting_texts()


@shared_task(name="conversations.retry_due_deliveries", ignore_result=True)
def retry_due_deliveries() -> None:
    delivery.retry_due_deliveries()


@shared_task(name="handoff.draft_ai_reply", acks_late=True)
def draft_ai_reply(conversation_id: str, customer_message_id: str) -> None:
    """Record what the AI would answer (copilot for an agent, or shadow mode); nothing is sent."""
    copilot.record_ai_draft(conversation_id=conversation_id, customer_message_id=customer_message_id)
