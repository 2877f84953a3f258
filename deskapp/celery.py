import logging
import os

from celery import Celery
from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskapp.settings")

logger = logging.getLogger(__name__)

app = Celery("baton")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_heartbeat_stop = None


@worker_ready.connect
def _start_heartbeat(**_) -> None:
    # Only a real worker beats (never the web process running tasks eagerly); /healthz reads it.
    global _heartbeat_stop
    from infra.worker_health import start_heartbeat_thread

    _heartbeat_stop, _ = start_heartbeat_thread()


@worker_init.connect
def _load_models(**_) -> None:
    # In the main process, at full priority, before the pool forks: pool processes start with the
    # embedding model and the LLM client, so a restarted worker's first customer does not wait for them.
    from conversations import llm
    from infra.embeddings import warm_up

    warm_up()
    llm.warm_up()


@worker_process_init.connect
def _ready_pool_process(**_) -> None:
    from infra.embeddings import warm_up

    lower_worker_priority()
    warm_up()  # a no-op when forked from a main process that loaded it


@task_prerun.connect
def _check_old_connections(sender=None, **_) -> None:
    # What the fixup would do with CELERY_DB_REUSE_MAX unset, but keeping connections that are fine.
    if sender is None or getattr(sender.request, "is_eager", False):
        return  # an eager task runs inside its caller's transaction: its connections are the caller's
    from infra.db import before_database_work

    before_database_work()


@task_postrun.connect
def _close_old_connections(sender=None, **_) -> None:
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from infra.db import after_database_work

    after_database_work()


@worker_shutdown.connect
def _stop_heartbeat(**_) -> None:
    if _heartbeat_stop is not None:
        _heartbeat_stop.set()


@task_failure.connect
def _count_task_failure(sender=None, **_) -> None:
    # Sent in the pool process that ran the task: counted in Redis, where /metrics reads it.
    from infra.worker_health import record_task_failure

    try:
        record_task_failure(task=getattr(sender, "name", None) or "unknown")
    except Exception as exc:  # Celery logs the failure itself; a lost count must not add another error
        logger.warning("task failure of %s not counted: %s", getattr(sender, "name", sender), exc)


WORKER_NICENESS = 10


def lower_worker_priority() -> None:
    """Background work yields the CPU: run in a pool process (or before a worker starts, Popen's preexec_fn).

    On a small machine the worker's extraction and summaries would otherwise take CPU from the
    Daphne process in the middle of a voice turn; the worker still gets every idle cycle.
    """
    current = os.nice(0)
    if current < WORKER_NICENESS:
        os.nice(WORKER_NICENESS - current)
