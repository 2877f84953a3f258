import json
import logging
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from insights.logs import JsonFormatter
from insights.models import AlertRule
from insights.scheduler import start_periodic_thread
from tests.insights import builders as b


def test_beat_schedules_registered_tasks():
    from deskapp.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {
        "conversations.answer_waiting_texts",
        "conversations.retry_due_deliveries",
        "insights.tasks.evaluate_alerts",
        "insights.tasks.close_idle_conversations",
        "handoff.check_waiting_conversations",
    }
    assert scheduled <= set(app.tasks)


@pytest.mark.django_db(transaction=True)
def test_the_in_process_scheduler_evaluates_alerts_without_celery(settings):
    settings.BATON_ALERT_INTERVAL_SECONDS = 0.2
    rule = AlertRule.objects.create(
        name="Handoffs", metric=AlertRule.Metric.HANDOFFS, threshold=0, window_minutes=5, min_samples=1
    )
    b.conversation(arm="ai", created_at=timezone.now(), handoff_reason="customer_request")
    stop, thread = start_periodic_thread(threading.Event())
    try:
        deadline = time.monotonic() + 10
        while AlertRule.objects.get(pk=rule.pk).state != "firing":
            assert time.monotonic() < deadline, "the scheduler thread never evaluated the rule"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_json_logs_carry_the_conversation_id():
    conversation_id = uuid.uuid4()
    formatter = JsonFormatter()
    record = logging.LogRecord(
        "conversations.services",
        logging.INFO,
        __file__,
        1,
        "conversation %s closed: %s",
        (conversation_id, "resolved"),
        None,
    )
    line = json.loads(formatter.format(record))
    assert line["conversation_id"] == str(conversation_id)
    assert line["message"] == f"conversation {conversation_id} closed: resolved"
    assert (line["level"], line["logger"]) == ("INFO", "conversations.services")
    explicit = logging.LogRecord("x", logging.WARNING, __file__, 1, "turn failed", (), None)
    explicit.conversation_id = "abc"
    assert json.loads(formatter.format(explicit))["conversation_id"] == "abc"
