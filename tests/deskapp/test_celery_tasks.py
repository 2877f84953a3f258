"""Celery task names are part of the deploy contract: tasks queued in Redis before a deploy must still run."""

import pytest

from deskapp.celery import app

# Each name is what the task was registered as when it was first queued; moving code never changes it.
STABLE_TASK_NAMES = {
    "conversations.answer_waiting_texts",
    "conversations.retry_due_deliveries",
    "conversations.tasks.answer_sms",
    "conversations.tasks.send_sms_reply",
    "handoff.check_waiting_conversations",
    "handoff.draft_ai_reply",
    "handoff.summarize_handoff",
    "insights.tasks.close_idle_conversations",
    "insights.tasks.evaluate_alerts",
    "memory.tasks.extract_observations",
}


def test_every_task_is_registered_under_its_stable_name():
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == STABLE_TASK_NAMES


def test_the_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled <= STABLE_TASK_NAMES


def test_what_a_customer_waits_for_is_queued_ahead_of_background_work():
    from deskapp.management.commands.run import worker_command

    app.loader.import_default_modules()

    def queue_of(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    assert queue_of("conversations.tasks.answer_sms") == "customer"
    assert queue_of("conversations.tasks.send_sms_reply") == "customer"
    assert queue_of("memory.tasks.extract_observations") == "celery"
    assert queue_of("handoff.summarize_handoff") == "celery"
    assert "--queues=customer,celery" in worker_command(), "workers read the customer queue first"
    assert app.conf.broker_transport_options["queue_order_strategy"] == "priority"


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_from_task_to_task(monkeypatch):
    """Celery's Django fixup would open a new PostgreSQL connection for every task; the worker keeps
    one, not health-checked again while it keeps answering."""
    from types import SimpleNamespace

    from celery.fixups.django import DjangoWorkerFixup
    from celery.signals import task_postrun, task_prerun
    from django.db import connection, connections
    from django.db.backends.postgresql.base import DatabaseWrapper
    from django.db.backends.signals import connection_created

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)  # the test settings say 0
    checks, opened = [], []
    is_usable = DatabaseWrapper.is_usable
    monkeypatch.setattr(DatabaseWrapper, "is_usable", lambda self: checks.append(1) or is_usable(self))
    count_opened = lambda **_: opened.append(1)  # noqa: E731
    connection_created.connect(count_opened)
    fixup = DjangoWorkerFixup(app)  # what a worker installs at start-up
    task = type("Task", (), {"name": "memory.tasks.extract_observations"})()  # a signal sender: hashable
    task.request = SimpleNamespace(is_eager=False)
    connection.close()
    try:
        for _ in range(3):
            fixup.on_task_prerun(sender=task)
            task_prerun.send(sender=task)
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            fixup.on_task_postrun(sender=task)
            task_postrun.send(sender=task)
    finally:
        connection_created.disconnect(count_opened)
    assert len(opened) == 1 and checks == []
