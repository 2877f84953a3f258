"""The in-process stand-in for Celery beat when `make run` has no Redis: one daemon thread.

It runs the same periodic tasks on the same intervals as `CELERY_BEAT_SCHEDULE`.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections

from conversations import delivery
from handoff import services as handoff_services

from . import services
from .models import AlertRule

logger = logging.getLogger(__name__)


def _run_due(jobs: list[list], now: float) -> None:
    for job in jobs:
        interval, due, task = job
        if now < due:
            continue
        job[1] = now + interval
        try:
            task()
        except Exception:
            logger.exception("periodic task %s failed", getattr(task, "__name__", task))
        finally:
            close_old_connections()


def start_periodic_thread(stop: threading.Event | None = None) -> tuple[threading.Event, threading.Thread]:
    """Start the periodic tasks in a daemon thread; set the returned event to stop it."""
    now = time.monotonic()
    jobs = [
        [settings.BATON_ALERT_INTERVAL_SECONDS, now, services.evaluate_alert_rules],
        [settings.BATON_IDLE_CHECK_SECONDS, now, services.close_idle_conversations],
        [settings.BATON_WAITING_CHECK_SECONDS, now, handoff_services.check_waiting_conversations],
        [settings.BATON_DELIVERY_RETRY_SECONDS, now, delivery.retry_due_deliveries],
    ]
    return _start(jobs, "baton-periodic", stop)


def evaluate_worker_alerts() -> None:
    services.evaluate_alert_rules(only_metrics=[AlertRule.Metric.WORKER_HEARTBEAT_AGE])


def start_worker_alert_thread(
    stop: threading.Event | None = None,
) -> tuple[threading.Event, threading.Thread]:
    """Evaluate the worker-heartbeat alert in this process (`run`, beside the Celery worker it supervises).

    Beat evaluates every rule, but beat runs inside the worker: a dead worker would never raise its
    own alert. This thread lives in the web process, so the alert fires while that process serves.
    """
    interval = settings.BATON_ALERT_INTERVAL_SECONDS
    # The first look after one interval: a worker starting with `run` has not beaten yet.
    jobs = [[interval, time.monotonic() + interval, evaluate_worker_alerts]]
    return _start(jobs, "baton-worker-alert", stop)


def _start(
    jobs: list[list], name: str, stop: threading.Event | None
) -> tuple[threading.Event, threading.Thread]:
    stop = stop or threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                _run_due(jobs, time.monotonic())
                stop.wait(1.0)
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return stop, thread
