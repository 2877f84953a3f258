"""Child processes that `run` (and the benchmarks) supervise: each dies with the process that started it."""

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def dies_with_parent() -> None:
    """Popen's preexec_fn for a supervised child (the worker, a web process, the local Redis).

    SIGTERM on the death of the thread that started it (Linux), so a `kill -9` of `run` leaves no
    child behind: the Celery worker's warm shutdown then stops its pool, whose children die with it.
    It starts at full priority (a restarted worker is what customers wait for); the worker's pool
    processes, which run the tasks, lower theirs (`deskapp.celery._ready_pool_process`).
    The prctl function is looked up at import, not here: after fork, before exec, only a call is safe.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
