import pytest
from channels.db import database_sync_to_async
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from conversations.models import Conversation
from conversations.services import close_conversation
from tests.builders import connect_chat, receive_until, say, start_chat
from tests.insights import builders as b

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLES = {
    "customer_messages": ("baton_messages_total", {"channel": "webchat", "role": "customer"}),
    "ai_messages": ("baton_messages_total", {"channel": "webchat", "role": "ai"}),
    "system_messages": ("baton_messages_total", {"channel": "webchat", "role": "system"}),
    "turns_replied": ("baton_ai_turns_total", {"outcome": "replied"}),
    "turns_handoff": ("baton_ai_turns_total", {"outcome": "handoff"}),
    "handoffs_customer": ("baton_handoffs_total", {"reason": "customer_request"}),
    "handoffs_rollout": ("baton_handoffs_total", {"reason": "rollout"}),
    "first_tokens": ("baton_llm_first_token_seconds_count", {}),
    "chat_sockets": ("baton_websocket_connections", {"kind": "chat"}),
    "closed_resolved_ai": ("baton_conversations_closed_total", {"outcome": "resolved", "handler": "ai"}),
    "closed_abandoned_human": (
        "baton_conversations_closed_total",
        {"outcome": "abandoned", "handler": "human"},
    ),
}


def snapshot() -> dict[str, float]:
    return {key: REGISTRY.get_sample_value(name, labels) or 0.0 for key, (name, labels) in SAMPLES.items()}


def delta(before: dict[str, float]) -> dict[str, float]:
    after = snapshot()
    return {key: after[key] - before[key] for key in SAMPLES if after[key] != before[key]}


async def test_metric_counts_after_scripted_conversations(offline_use_case):
    before = snapshot()
    # 1. An AI conversation: one answer, then the customer asks for a person; it ends resolved.
    session = await database_sync_to_async(start_chat)()
    chat = await connect_chat(session["token"])
    assert delta(before) == {"chat_sockets": 1}
    await say(chat, "Is shipping free?", "m-1")
    await chat.send_json_to(
        {"type": "message", "text": "I want to talk to a real person", "client_id": "m-2"}
    )
    await receive_until(chat, "handoff")
    await chat.disconnect()
    conversation = await database_sync_to_async(Conversation.objects.get)(id=session["conversation_id"])
    await database_sync_to_async(close_conversation)(conversation=conversation, outcome="resolved")
    # 2. A conversation the slice gives to a person: queued at its first message, abandoned.
    offline_use_case.live_percentages = {"webchat": 0}
    await database_sync_to_async(offline_use_case.save)()
    human = await database_sync_to_async(start_chat)()
    chat = await connect_chat(human["token"])
    await chat.send_json_to({"type": "message", "text": "Hello?", "client_id": "h-1"})
    await receive_until(chat, "handoff")
    await chat.disconnect()
    conversation = await database_sync_to_async(Conversation.objects.get)(id=human["conversation_id"])
    await database_sync_to_async(close_conversation)(conversation=conversation, outcome="abandoned")

    assert delta(before) == {
        "customer_messages": 3,
        "ai_messages": 1,
        "system_messages": 2,  # "a person is coming", twice
        "turns_replied": 1,
        "turns_handoff": 1,
        "handoffs_customer": 1,
        "handoffs_rollout": 1,
        "first_tokens": 1,
        "closed_resolved_ai": 1,
        "closed_abandoned_human": 1,
    }


def test_metrics_endpoint_serves_prometheus_text_with_the_queue():
    b.conversation(arm="human", handoff_reason="rollout")
    b.conversation(arm="ai", handoff_reason="customer_request")
    response = Client().get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in (
        "baton_messages_total",
        "baton_ai_turns_total",
        "baton_llm_errors_total",
        "baton_llm_first_token_seconds",
        "baton_action_failures_total",
        "baton_handoffs_total",
        "baton_queue_wait_seconds",
        "baton_websocket_connections",
    ):
        assert f"# TYPE {name}" in text
    assert 'baton_queue_waiting{reason="rollout"} 1.0' in text
    assert 'baton_queue_waiting{reason="customer_request"} 1.0' in text
    assert "baton_queue_oldest_wait_seconds " in text


@override_settings(BATON_METRICS_TOKEN="scrape-secret")
def test_metrics_can_require_a_bearer_token():
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def scrape() -> str:
    response = Client().get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def test_metrics_report_the_worker_from_its_heartbeat_and_the_task_backlog(settings):
    import redis

    from infra import worker_health

    settings.CELERY_TASK_ALWAYS_EAGER = False  # a separate worker, as `make run` with REDIS_URL
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush("celery", "a", "b")
    text = scrape()
    assert "baton_worker_up 0.0" in text
    assert "baton_task_queue_depth 2.0" in text

    worker_health.write_heartbeat()
    text = scrape()
    assert "baton_worker_up 1.0" in text
    assert "baton_worker_heartbeat_age_seconds " in text
    assert "# TYPE baton_worker_restarts_total counter" in text  # counted by `run`'s supervisor


def test_metrics_count_task_failures_by_task_name():
    from handoff.tasks import summarize_handoff

    summarize_handoff.apply(args=[987654])  # no such handoff: the task fails
    summarize_handoff.apply(args=[987655])
    assert 'baton_task_failures_total{task="handoff.summarize_handoff"} 2.0' in scrape()
