"""Celery tasks of the conversations app: take ids, load, call a service."""

import uuid

from celery import shared_task

from .channels import sms


@shared_task(ignore_result=True)
def answer_sms(conversation_id: str) -> None:
    sms.answer_sms(conversation_id=uuid.UUID(conversation_id))


@shared_task(
    ignore_result=True,
    autoretry_for=(sms.TransientSmsError,),
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=6,
)
def send_sms_reply(message_id: str) -> None:
    sms.send_reply_by_sms(message_id=uuid.UUID(message_id))
