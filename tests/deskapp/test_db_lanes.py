"""Database lanes: a websocket connection's calls run in order on one thread; connections spread over lanes."""

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper

from infra import db
from infra.db import DatabaseLanes, database_sync_to_async


async def _connection(scope, receive, send):
    """A websocket connection making five database calls, recording the thread each ran on."""
    for n in range(5):
        await database_sync_to_async(lambda n=n: scope["seen"].append((n, threading.current_thread().name)))()


def test_a_connection_keeps_to_one_lane_in_order_and_connections_take_turns():
    lanes = DatabaseLanes(_connection, 2)
    scopes = [{"type": "websocket", "seen": []} for _ in range(2)]

    async def main():
        await asyncio.gather(*(lanes(scope, None, None) for scope in scopes))

    asyncio.run(main())
    threads = []
    for scope in scopes:
        assert [n for n, _ in scope["seen"]] == [0, 1, 2, 3, 4]
        names = {name for _, name in scope["seen"]}
        assert len(names) == 1
        threads.extend(names)
    assert threads[0] != threads[1]
    assert all(name.startswith("db-socket-") for name in threads)


def test_http_requests_run_django_sync_work_on_lanes_of_their_own():
    from asgiref.sync import sync_to_async

    async def app(scope, receive, send):
        scope["thread"] = await sync_to_async(lambda: threading.current_thread().name)()

    lanes = DatabaseLanes(app, 2)
    scope = {"type": "http"}
    asyncio.run(lanes(scope, None, None))
    assert scope["thread"].startswith("db-http-")


def test_a_call_caught_by_shutdown_does_not_hold_the_server_process(tmp_path):
    """A lane busy at exit (a commit hook waiting on the stopped event loop) must not keep a stopping
    server alive: the process exits."""
    script = tmp_path / "stuck_lane.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading
            from infra.db import Lane

            started = threading.Event()
            Lane("db-socket-0").submit(lambda: (started.set(), threading.Event().wait()))
            started.wait()
            """
        )
    )
    root = Path(__file__).resolve().parents[2]
    finished = subprocess.run(
        [sys.executable, str(script)], cwd=root, env={"PYTHONPATH": str(root)}, timeout=20
    )
    assert finished.returncode == 0


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_just_answered_is_not_health_checked_again(monkeypatch):
    """Channels closes old connections around every call, so each call's first query would cost a
    `SELECT 1` first; a connection that answered a moment ago skips it, one that failed does not."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)  # the test settings say 0
    monkeypatch.setattr(db, "TRUSTED_FOR_SECONDS", 0.3)
    checks = []
    is_usable = DatabaseWrapper.is_usable
    monkeypatch.setattr(DatabaseWrapper, "is_usable", lambda self: checks.append(1) or is_usable(self))

    def query():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 2")
            return cursor.fetchone()[0]

    def failing_query():
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column")

    seen = {}

    async def app(scope, receive, send):
        call = database_sync_to_async(query)
        for _ in range(4):
            assert await call() == 2
        seen["back to back"] = len(checks)
        await asyncio.sleep(0.4)
        await call()
        seen["after a pause"] = len(checks)
        with pytest.raises(DatabaseError):
            await database_sync_to_async(failing_query)()
        assert await call() == 2
        seen["after a failure"] = len(checks)
        await database_sync_to_async(connections.close_all)()

    asyncio.run(DatabaseLanes(app, 1)({"type": "websocket"}, None, None))
    assert seen == {"back to back": 0, "after a pause": 1, "after a failure": 2}
