"""A real Daphne process serving Baton on a free port, against the test database."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from deskapp.celery import lower_worker_priority
from deskapp.management.commands.run import worker_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or db.get("OPTIONS", {}).get("host") or "localhost"
    from urllib.parse import quote

    return (
        f"postgresql://{quote(db.get('USER') or '')}:{quote(db.get('PASSWORD') or '')}@/{db['NAME']}?host={quote(host)}"
        + (f"&port={db['PORT']}" if db.get("PORT") else "")
    )


def _server_env(extra_env: dict[str, str] | None) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "deskapp.settings_test",
        "DATABASE_URL": test_database_url(),
        # Servers keep their connections as in production; they exit before the test database is flushed.
        "BATON_DB_CONN_MAX_AGE": "60",
        **(extra_env or {}),
    }


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def running_celery_worker(extra_env: dict[str, str] | None = None) -> Iterator[None]:
    """A real Celery worker on the test database, for runs that set BATON_CELERY_EAGER=0 (benchmarks)."""
    env = {**_server_env(extra_env), "BATON_CELERY_EAGER": "0"}
    process = subprocess.Popen(
        worker_command(concurrency=1, beat=False),
        cwd=ROOT,
        env=env,
        preexec_fn=lower_worker_priority,  # as `make run` starts it
    )
    try:
        yield
    finally:
        _stop(process)


@contextmanager
def running_daphne(extra_env: dict[str, str] | None = None, quiet: bool = False) -> Iterator[str]:
    port = free_port()
    env = {**_server_env(extra_env), "BATON_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        + (["-v", "0"] if quiet else [])  # no access log (benchmarks)
        + ["deskapp.asgi:application"],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Daphne exited with {process.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # serving; a 503 names something else that is down (e.g. no worker yet)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Daphne did not answer within 60 s") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)


@contextmanager
def running_web_processes(extra_env: dict[str, str] | None = None, count: int = 1) -> Iterator[str]:
    """`count` web processes as `run` starts them (deskapp/serving.py), on a free port, against the test database."""
    from deskapp.serving import WebProcesses

    port = free_port()
    web = WebProcesses(
        host="127.0.0.1", port=port, count=count, env={**_server_env(extra_env), "BATON_PORT": str(port)}
    )
    web.start()
    try:
        web.wait_until_serving(timeout=90)
        yield f"127.0.0.1:{port}"
    finally:
        web.stop()
