"""Celery tasks of the insights app: take ids, load, call a service."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def draft_shadow_reply(conversation_id: str, customer_message_id: str) -> None:
    from handoff.copilot import record_shadow_draft

    record_shadow_draft(conversation_id=conversation_id, customer_message_id=customer_message_id)


@shared_task
def evaluate_alerts() -> None:
    services.evaluate_alert_rules()


@shared_task
def close_idle_conversations() -> None:
    services.close_idle_conversations()
