import pytest
from django.utils import timezone

from infra import event_types
from infra.groups import supervisors_group
from insights import services
from insights.models import AlertEvent, AlertRule
from tests.fakes.webhook_server import WebhookReceiver
from tests.insights import builders as b

pytestmark = pytest.mark.django_db(transaction=True)


def escalation_rule(**fields) -> AlertRule:
    return AlertRule.objects.create(
        name="AI escalations",
        metric=AlertRule.Metric.ESCALATION_RATE,
        threshold=0.3,
        window_minutes=30,
        min_samples=4,
        **fields,
    )


def ai_conversations(n: int, *, escalated: int) -> None:
    for i in range(n):
        b.conversation(
            arm="ai", created_at=timezone.now(), handoff_reason="customer_request" if i < escalated else None
        )


def test_an_alert_fires_and_clears_on_the_board_and_by_webhook():
    board = b.GroupListener(supervisors_group())
    with WebhookReceiver() as hook:
        rule = escalation_rule(webhook_url=hook.url)
        ai_conversations(5, escalated=3)  # 60% of AI conversations handed off

        fired = services.evaluate_alert_rule(rule=rule)
        assert fired.changed and fired.value == pytest.approx(0.6) and fired.samples == 5
        rule.refresh_from_db()
        assert (rule.state, rule.last_value) == ("firing", pytest.approx(0.6))
        alert = board.events(event_types.ALERT_CHANGED)
        assert [(a["rule"], a["state"], a["value"]) for a in alert] == [("AI escalations", "firing", 0.6)]
        assert hook.event.wait(5)
        assert hook.received[0]["state"] == "firing" and hook.received[0]["metric"] == "escalation_rate"
        assert hook.received[0]["threshold"] == 0.3 and hook.received[0]["window_minutes"] == 30

        # Still firing: no second notification.
        assert not services.evaluate_alert_rule(rule=rule).changed
        assert board.events(event_types.ALERT_CHANGED) == [] and len(hook.received) == 1

        hook.event.clear()
        ai_conversations(7, escalated=0)  # 3 of 12: 25%
        cleared = services.evaluate_alert_rule(rule=rule)
        assert cleared.changed and cleared.value == pytest.approx(0.25)
        assert [a["state"] for a in board.events(event_types.ALERT_CHANGED)] == ["ok"]
        assert hook.event.wait(5) and hook.received[1]["state"] == "ok"

    events = list(AlertEvent.objects.order_by("created_at").values_list("state", "webhook_status"))
    assert events == [("firing", "delivered: HTTP 200"), ("ok", "delivered: HTTP 200")]


def test_too_few_samples_never_fire():
    rule = escalation_rule()
    ai_conversations(3, escalated=3)  # 100%, but over 3 conversations only
    result = services.evaluate_alert_rule(rule=rule)
    assert result.value == 1.0 and not result.changed
    rule.refresh_from_db()
    assert rule.state == "ok" and not AlertEvent.objects.exists()


def test_a_failing_webhook_is_recorded_and_the_alert_still_reaches_the_board():
    board = b.GroupListener(supervisors_group())
    with WebhookReceiver(status=500) as hook:
        rule = escalation_rule(webhook_url=hook.url)
        ai_conversations(4, escalated=4)
        services.evaluate_alert_rules()
        assert hook.event.wait(5)
    assert AlertEvent.objects.get().webhook_status == "failed: HTTP 500"
    assert [a["state"] for a in board.events(event_types.ALERT_CHANGED)] == ["firing"]
    rule.refresh_from_db()
    assert rule.state == "firing"


def test_unreachable_webhook_does_not_break_evaluation():
    with WebhookReceiver() as hook:
        url = hook.url  # closed when the block ends: nothing listens there any more
    rule = escalation_rule(webhook_url=url)
    ai_conversations(4, escalated=4)
    services.evaluate_alert_rules()
    assert AlertEvent.objects.get().webhook_status.startswith("failed: ")
    rule.refresh_from_db()
    assert rule.state == "firing"


def test_llm_error_rate_counts_failed_turns_against_ai_replies():
    from conversations.models import Message

    rule = AlertRule.objects.create(
        name="LLM errors", metric=AlertRule.Metric.LLM_ERROR_RATE, threshold=0.1, min_samples=5
    )
    ok = b.conversation(arm="ai", created_at=timezone.now())
    for i in range(8):
        Message.objects.create(conversation=ok, role="ai", text=f"reply {i}", created_at=timezone.now())
    for _ in range(2):
        b.conversation(arm="ai", created_at=timezone.now(), handoff_reason="llm_failure")
    result = services.evaluate_alert_rule(rule=rule)
    assert result.value == pytest.approx(2 / 10) and result.samples == 10
    assert AlertRule.objects.get(pk=rule.pk).state == "firing"


def test_the_default_worker_alert_fires_on_a_missing_heartbeat_and_clears_when_it_beats(settings):
    import json
    import time

    import redis

    from infra import worker_health
    from insights.scheduler import evaluate_worker_alerts

    settings.CELERY_TASK_ALWAYS_EAGER = False  # a separate worker, as `make run` with REDIS_URL
    board = b.GroupListener(supervisors_group())
    services.ensure_default_alert_rules()
    services.ensure_default_alert_rules()  # every start of `run`: still one rule
    rule = AlertRule.objects.get()
    assert (rule.name, rule.metric, rule.threshold) == ("Background worker down", "worker_heartbeat_age", 30)

    # What the run process evaluates beside the worker: beat, inside the worker, died with it.
    evaluate_worker_alerts()
    rule.refresh_from_db()
    assert (rule.state, rule.last_value) == ("firing", None)
    assert [(a["rule"], a["state"]) for a in board.events(event_types.ALERT_CHANGED)] == [
        ("Background worker down", "firing")
    ]

    worker_health.write_heartbeat()
    evaluate_worker_alerts()
    rule.refresh_from_db()
    assert rule.state == "ok" and rule.last_value < 5

    stale = json.dumps({"at": time.time() - 120, "pid": 1, "hostname": "test"})
    redis.Redis.from_url(settings.REDIS_URL).set(worker_health.HEARTBEAT_KEY, stale)
    evaluate_worker_alerts()
    rule.refresh_from_db()
    assert rule.state == "firing" and rule.last_value == pytest.approx(120, abs=5)
    assert [a["state"] for a in board.events(event_types.ALERT_CHANGED)] == ["ok", "firing"]


def test_the_worker_alert_never_fires_when_tasks_run_in_process():
    services.ensure_default_alert_rules()
    services.evaluate_alert_rules()
    assert AlertRule.objects.get().state == "ok" and not AlertEvent.objects.exists()
