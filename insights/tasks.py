"""Celery tasks of the insights app: take ids, load, call a service."""

from celery import shared_task

from . import services


@shared_task(name="insights.tasks.evaluate_alerts")
def evaluate_alerts() -> None:
    services.evaluate_alert_rules()


@shared_task(name="insights.tasks.close_idle_conversations")
def close_idle_conversations() -> None:
    services.close_idle_conversations()
