"""The local `redis-server` that `run` starts when REDIS_URL is unset, so several web processes share events."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

from infra.processes import dies_with_parent


def installed() -> bool:
    return shutil.which("redis-server") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRedis:
    """`redis-server` on a free loopback port, its data (append-only: queued tasks survive a restart) in `folder`."""

    def __init__(self, folder: Path, *, dies_with_starter: bool = True) -> None:
        self.folder = folder
        # False for a starter that restarts it from a passing thread (a benchmark's `asyncio.to_thread`):
        # the death signal follows the thread, not the process.
        self.dies_with_starter = dies_with_starter
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
            + ["--appendonly", "yes", "--save", "", "--logfile", str(self.folder / "redis.log")],
            # Its own session: Ctrl+C reaches `run`, which stops Redis last, after what uses it.
            start_new_session=True,
            # And it dies with `run`, even a `kill -9`'d one.
            preexec_fn=dies_with_parent if self.dies_with_starter else None,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start: see {self.folder / 'redis.log'}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
