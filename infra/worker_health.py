"""The background worker's liveness, kept in Redis so every process reads the same answer.

The worker writes a heartbeat every few seconds from a thread of its main process and counts
task failures; the web process reads them for `/healthz`, `/metrics` and the heartbeat alert.
Counters in the worker's own memory would never reach a scrape of the web process.
"""

import collections
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "baton:worker:heartbeat"
FAILURES_KEY = "baton:worker:task_failures"
# Long enough to say "no heartbeat for 2 h" after an outage; short enough not to linger for ever.
HEARTBEAT_TTL_SECONDS = 24 * 3600
# kombu's Redis transport keeps one list per queue and priority step (0 is the bare name).
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)

_clients: dict[str, redis.Redis] = {}
_local_failures: collections.Counter[str] = collections.Counter()


def _client() -> redis.Redis:
    url = settings.REDIS_URL
    if url not in _clients:
        # Short timeouts: a health check must answer even when Redis does not.
        _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _clients[url]


def worker_expected() -> bool:
    """Whether background work runs in a separate Celery worker (REDIS_URL set and tasks not eager)."""
    return bool(settings.REDIS_URL) and not settings.CELERY_TASK_ALWAYS_EAGER


def write_heartbeat() -> None:
    """Record that the worker is alive now (called from the worker's heartbeat thread)."""
    value = json.dumps({"at": time.time(), "pid": os.getpid(), "hostname": socket.gethostname()})
    _client().set(HEARTBEAT_KEY, value, ex=HEARTBEAT_TTL_SECONDS)


def mark_worker_exited(*, reason: str) -> None:
    """Record at once that the worker process is gone (its supervisor saw it exit), until a new one beats.

    Its last heartbeat is kept, so the age (and the alert) still counts from it.
    """
    client = _client()
    raw = client.get(HEARTBEAT_KEY)
    beat = json.loads(raw) if raw else {"at": None}
    beat["exited"] = reason
    client.set(HEARTBEAT_KEY, json.dumps(beat), ex=HEARTBEAT_TTL_SECONDS)


def start_heartbeat_thread(interval: float | None = None) -> tuple[threading.Event, threading.Thread]:
    """Write the heartbeat every `interval` seconds in a daemon thread; set the returned event to stop.

    A thread of the worker's main process rather than a beat task: a busy pool must not look dead.
    """
    interval = interval or settings.BATON_WORKER_HEARTBEAT_SECONDS
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                write_heartbeat()
            except Exception as exc:  # Redis away for a moment: the next beat tries again
                logger.warning("worker heartbeat not written: %s", exc)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="baton-worker-heartbeat", daemon=True)
    thread.start()
    return stop, thread


def _last_heartbeat() -> tuple[float | None, str | None]:
    raw = _client().get(HEARTBEAT_KEY)
    if raw is None:
        return None, None
    beat = json.loads(raw)
    age = max(time.time() - float(beat["at"]), 0.0) if beat.get("at") is not None else None
    return age, beat.get("exited")


def heartbeat_age() -> float | None:
    """Seconds since the worker's last heartbeat; None when there is none at all. Raises if Redis fails."""
    return _last_heartbeat()[0]


def queue_depth() -> int:
    """Tasks waiting in the broker for a worker (every priority list of every queue workers take)."""
    names = [
        name
        for queue in settings.BATON_WORKER_QUEUES.split(",")
        for name in (queue, *(f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS))
    ]
    pipe = _client().pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    return sum(pipe.execute())


def record_task_failure(*, task: str) -> None:
    """Count one failed task run under its task name (Celery's task_failure signal)."""
    if not settings.REDIS_URL:  # tasks run in this process: so does the scrape
        _local_failures[task] += 1
        return
    _client().hincrby(FAILURES_KEY, task, 1)


def task_failures() -> dict[str, int]:
    """Failed task runs so far, by task name, as every worker process counted them."""
    if not settings.REDIS_URL:
        return dict(_local_failures)
    return {name.decode(): int(count) for name, count in _client().hgetall(FAILURES_KEY).items()}


@dataclass(frozen=True)
class WorkerStatus:
    state: str  # "ok", "in-process", or "down: …" naming why
    up: bool
    heartbeat_age: float | None
    backlog: int | None


def worker_status() -> WorkerStatus:
    """The worker as `/healthz` reports it: up when its heartbeat is fresher than the max age."""
    if not worker_expected():
        return WorkerStatus(state="in-process", up=True, heartbeat_age=None, backlog=None)
    try:
        age, exited = _last_heartbeat()
        backlog = queue_depth()
    except Exception as exc:
        logger.warning("worker status: Redis did not answer: %s", exc)
        return WorkerStatus(state=f"down: {type(exc).__name__}", up=False, heartbeat_age=None, backlog=None)
    if exited:
        return WorkerStatus(state=f"down: {exited}", up=False, heartbeat_age=age, backlog=backlog)
    if age is None:
        return WorkerStatus(state="down: no heartbeat", up=False, heartbeat_age=None, backlog=backlog)
    if age > settings.BATON_WORKER_HEARTBEAT_MAX_AGE_SECONDS:
        return WorkerStatus(
            state=f"down: no heartbeat for {age:.0f} s", up=False, heartbeat_age=age, backlog=backlog
        )
    return WorkerStatus(state="ok", up=True, heartbeat_age=age, backlog=backlog)
