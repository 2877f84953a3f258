"""`run` keeps the Celery worker alive: an exited worker is restarted and leaves no process behind."""

import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from deskapp.management.commands.run import worker_command
from deskapp.supervisor import Supervisor
from infra import worker_health
from tests.live_server import ROOT, _server_env


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def group_members(pgid: int) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.add(int(entry.name))
    return members


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


# A parent that forks a child which outlives it, as Celery's main process and its pool.
FORKING_PARENT = textwrap.dedent(
    """
    import os, sys, time
    child = os.fork()
    if child == 0:
        time.sleep(600)
        os._exit(0)
    with open(sys.argv[1], "a") as f:
        f.write(f"{os.getpid()} {child}\\n")
    time.sleep(600)
    """
)


def test_a_killed_process_is_restarted_and_its_children_do_not_survive(tmp_path):
    pids = tmp_path / "pids"
    exits = []
    supervisor = Supervisor(
        [sys.executable, "-c", FORKING_PARENT, str(pids)],
        name="forking parent",
        backoff_initial=0.1,
        on_exit=lambda code, delay: exits.append(code),
    )
    supervisor.start()
    try:
        first = wait_for(lambda: pids.exists() and pids.read_text().split(), 10, "the first parent wrote")
        parent, child = int(first[0]), int(first[1])
        assert supervisor.pid == parent and alive(child)

        os.kill(parent, signal.SIGKILL)
        wait_for(lambda: len(pids.read_text().splitlines()) == 2, 10, "a second parent started")
        second_parent, second_child = map(int, pids.read_text().splitlines()[1].split())
        assert supervisor.pid == second_parent and supervisor.restarts == 1
        assert exits == [-signal.SIGKILL]
        wait_for(lambda: not alive(child), 5, "the first parent's child died")
        assert alive(second_child)
    finally:
        supervisor.stop()
    wait_for(lambda: not alive(second_parent) and not alive(second_child), 5, "both stopped")


def test_a_process_that_keeps_exiting_is_restarted_with_a_growing_backoff():
    delays = []
    supervisor = Supervisor(
        [sys.executable, "-c", "raise SystemExit(3)"],
        name="failing",
        backoff_initial=0.05,
        backoff_max=0.2,
        on_exit=lambda code, delay: delays.append((code, delay)),
    )
    supervisor.start()
    try:
        wait_for(lambda: len(delays) >= 5, 30, "five restarts")
    finally:
        supervisor.stop()
    assert delays[:5] == [(3, 0.05), (3, 0.1), (3, 0.2), (3, 0.2), (3, 0.2)]


@pytest.mark.django_db(transaction=True)
def test_a_killed_celery_worker_is_restarted_beats_again_and_leaves_no_pool_or_beat(tmp_path):
    client = redis.Redis.from_url(settings.REDIS_URL)

    def heartbeat_pid() -> int | None:
        raw = client.get(worker_health.HEARTBEAT_KEY)
        return json.loads(raw)["pid"] if raw else None

    command = [arg for arg in worker_command() if not arg.startswith(("--schedule", "--concurrency"))]
    command += ["--concurrency=1", f"--schedule={tmp_path / 'celerybeat-schedule'}"]
    supervisor = Supervisor(
        command,
        name="celery worker",
        cwd=str(ROOT),
        env={**_server_env(None), "BATON_CELERY_EAGER": "0", "BATON_WORKER_HEARTBEAT_SECONDS": "0.5"},
        backoff_initial=0.5,
    )
    supervisor.start()
    try:
        first = supervisor.pid
        wait_for(lambda: heartbeat_pid() == first, 90, "the worker beat")
        # Its pool process and the embedded beat share its process group.
        old_group = wait_for(lambda: len(group_members(first)) >= 3 and group_members(first), 30, "pool up")

        os.kill(first, signal.SIGKILL)
        wait_for(lambda: supervisor.pid != first, 10, "a new worker started")
        wait_for(lambda: not any(alive(pid) for pid in old_group), 5, "the old pool and beat died")
        second = supervisor.pid
        wait_for(lambda: heartbeat_pid() == second, 90, "the new worker beat")
        assert supervisor.restarts == 1
        new_group = group_members(second)
    finally:
        supervisor.stop()
    wait_for(lambda: not any(alive(pid) for pid in new_group), 5, "the worker stopped with its pool")
