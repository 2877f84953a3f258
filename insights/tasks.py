"""Celery tasks of the insights app: take ids, load, call a service."""

from celery import shared_task

from . import services


@shared_task
def evaluate_alerts() -> None:
    services.evaluate_alert_rules()


@shared_task
def close_idle_conversations() -> None:
    services.close_idle_conversations()
