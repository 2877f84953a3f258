"""Database calls from async code: each websocket connection keeps to one of a few database threads.

Channels' `database_sync_to_async` sends every call of a process to one thread, so turns that
arrive together wait for each other's queries (and for each other's round trips to PostgreSQL).
One thread per connection is worse: hundreds of threads fighting over the interpreter lock. So a
process has a few lanes, each one thread; `DatabaseLanes` gives every websocket connection one of
them for its whole life, and `database_sync_to_async` sends that connection's calls there, in the
order they were made. HTTP requests get lanes of their own (a slow admin page must not hold up a
chat): Django would otherwise run each request on a new thread, and each such thread's persistent
connection stays open until the thread is collected, until PostgreSQL refuses more ("too many
clients"). Code outside a server (tasks, commands, tests) keeps Channels' default.
"""

import contextvars
import itertools
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync, ThreadSensitiveContext
from channels.db import DatabaseSyncToAsync
from django.db import close_old_connections, connections

# A connection that answered a call this recently is not health-checked again before the next one.
TRUSTED_FOR_SECONDS = 1.0


class Lane(Executor):
    """One thread running the calls sent to it in order.

    Not a one-worker ThreadPoolExecutor: the interpreter joins those threads at exit, and a call
    caught by shutdown (an `on_commit` event send waiting on the stopped event loop) would then
    hold a stopping server forever. A lane's thread is a daemon, started by its first call (so a
    process that forks after import, like a pre-forking server, starts its own).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        self._calls.put((future, fn, args, kwargs))
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
        return future

    def _run(self) -> None:
        while True:
            future, fn, args, kwargs = self._calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the awaiting coroutine, as an executor does
                future.set_exception(exc)
            else:
                future.set_result(result)


def before_database_work() -> None:
    """Before a call or task: `close_old_connections`, but a connection that answered within
    TRUSTED_FOR_SECONDS is not health-checked before its next query.

    With CONN_HEALTH_CHECKS every `close_old_connections` makes the next query send a `SELECT 1`
    first, and Channels closes old connections around each call (Celery around each task): a round
    trip, and PostgreSQL's work, for each of a turn's half dozen calls. A connection that failed since
    it last answered (`errors_occurred`) is still checked, and one older than CONN_MAX_AGE still closed.
    """
    close_old_connections()
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        answered = getattr(conn, "_answered_at", -math.inf)
        if conn.connection is not None and not conn.errors_occurred and now - answered < TRUSTED_FOR_SECONDS:
            conn.health_check_done = True


def after_database_work() -> None:
    """After a call or task: `close_old_connections`, then note the connections still open and without
    errors as having just answered."""
    close_old_connections()
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.errors_occurred:
            conn._answered_at = now


class _TrustingCall(DatabaseSyncToAsync):
    """Channels' `DatabaseSyncToAsync`, without the health check of a connection that just answered."""

    def thread_handler(self, loop, *args, **kwargs):
        before_database_work()
        try:
            return SyncToAsync.thread_handler(self, loop, *args, **kwargs)
        finally:
            after_database_work()


_lane: contextvars.ContextVar[Lane | None] = contextvars.ContextVar("db_lane", default=None)


def database_sync_to_async(func: Callable[..., Any], *, thread_sensitive: bool = True) -> DatabaseSyncToAsync:
    """`channels.db.database_sync_to_async`, on the calling connection's lane when it has one.

    `thread_sensitive=False`: on a thread of the default pool instead, beside the lane (work that
    must not wait behind the connection's own calls, nor hold them up).
    """
    if not thread_sensitive:
        return _TrustingCall(func, thread_sensitive=False)
    lane = _lane.get()
    # Inside `async_to_sync` called from a lane's own thread, that thread is busy waiting: a call
    # sent to its lane would never run. asgiref runs such calls on the waiting thread itself.
    if lane is None or getattr(AsyncToSync.executors, "current", None) is not None:
        return DatabaseSyncToAsync(func)
    return _TrustingCall(func, thread_sensitive=False, executor=lane)


def beside_lane(func: Callable[..., Any]) -> DatabaseSyncToAsync:
    """For work after a connection's reply (the operators on it): on a thread of the default pool when
    the connection has a lane, so its next calls (the customer's next message) need not wait for it.

    Outside a server (tasks, tests) it is `database_sync_to_async(func)`: on the thread, and in the
    transaction, that the rest of the caller's database work sees.
    """
    if _lane.get() is None:
        return database_sync_to_async(func)
    return database_sync_to_async(func, thread_sensitive=False)


def _lanes(count: int, name: str) -> "itertools.cycle[Lane]":
    return itertools.cycle([Lane(f"db-{name}-{n}") for n in range(count)])


class DatabaseLanes:
    """ASGI middleware: each websocket connection, and each HTTP request, gets one of `count` database
    threads (of its kind) in turn."""

    def __init__(self, app, count: int) -> None:
        self.app = app
        self._sockets = _lanes(count, "socket")
        self._requests = _lanes(count, "http")

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            # Django's own thread-sensitive calls go to the lane: an outer context with an executor wins.
            async with ThreadSensitiveContext(executor=next(self._requests)):
                return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            # Set in this connection's task: its handlers and the tasks they start (its AI turns) inherit it.
            _lane.set(next(self._sockets))
        return await self.app(scope, receive, send)
