import json
import time

import pytest
import redis
from django.test import Client

from infra import worker_health

pytestmark = pytest.mark.django_db


@pytest.fixture
def separate_worker(settings):
    """As `make run` with REDIS_URL: tasks go to a Celery worker, which must be beating."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    return redis.Redis.from_url(settings.REDIS_URL)


def beat_at(client: redis.Redis, at: float) -> None:
    client.set(worker_health.HEARTBEAT_KEY, json.dumps({"at": at, "pid": 1, "hostname": "test"}))


def test_healthz_reports_database_and_channel_layer():
    response = Client().get("/healthz")
    assert response.status_code == 200
    # Tasks run in this process (eager): there is no worker to miss.
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "channel_layer": "ok",
        "worker": "in-process",
        "backlog": None,
    }


def test_healthz_answers_503_when_the_channel_layer_is_down(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = Client().get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json()["channel_layer"].startswith("error")
    assert response.json()["database"] == "ok"


def test_healthz_answers_503_naming_the_worker_when_no_heartbeat_was_ever_written(separate_worker):
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["worker"], body["database"], body["channel_layer"]) == (
        "error",
        "down: no heartbeat",
        "ok",
        "ok",
    )


def test_healthz_answers_503_when_the_worker_heartbeat_is_stale(separate_worker, settings):
    settings.BATON_WORKER_HEARTBEAT_MAX_AGE_SECONDS = 30
    beat_at(separate_worker, time.time() - 95)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"] == "down: no heartbeat for 95 s"


def test_healthz_is_ok_with_a_fresh_heartbeat_and_reports_the_backlog(separate_worker):
    worker_health.write_heartbeat()
    separate_worker.rpush("celery", "task-1", "task-2")
    separate_worker.rpush("celery\x06\x163", "task-3")  # a priority list of the same queue
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "channel_layer": "ok",
        "worker": "ok",
        "backlog": 3,
    }


def test_healthz_names_an_exited_worker_at_once_until_its_successor_beats(separate_worker):
    from prometheus_client import REGISTRY

    from deskapp.management.commands.run import worker_exited

    restarts = REGISTRY.get_sample_value("baton_worker_restarts_total") or 0
    worker_health.write_heartbeat()
    worker_exited(-9, 1.0)  # what `run`'s supervisor calls when the worker dies (kill -9)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"] == "down: worker exited with signal SIGKILL, restarting in 1 s"
    assert REGISTRY.get_sample_value("baton_worker_restarts_total") == restarts + 1

    worker_health.write_heartbeat()  # the restarted worker's first beat
    assert Client().get("/healthz").json()["worker"] == "ok"
