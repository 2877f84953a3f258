import ctypes
import logging
import os
import signal
import sys

from celery import Celery
from celery.signals import task_failure, worker_init, worker_process_init, worker_ready, worker_shutdown

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
def _load_embedding_model(**_) -> None:
    # In the main process, at full priority, before the pool forks: pool processes start with the
    # model, so a restarted worker's first customer does not wait seconds for it.
    from infra.embeddings import warm_up

    warm_up()


@worker_process_init.connect
def _ready_pool_process(**_) -> None:
    from infra.embeddings import warm_up

    lower_worker_priority()
    warm_up()  # a no-op when forked from a main process that loaded it


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


_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def prepare_supervised_worker() -> None:
    """Popen's preexec_fn for the worker `run` supervises: it dies with `run`.

    Its start-up runs at full priority (a restarted worker is what customers wait for); its pool
    processes, which run the tasks, lower theirs (`_ready_pool_process`).

    SIGTERM on the death of the thread that started it (Linux), so a `kill -9` of `run` leaves
    no worker behind: Celery's warm shutdown then stops its pool, whose children die with it.
    The prctl function is looked up at import, not here: after fork, before exec, only a call is safe.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
