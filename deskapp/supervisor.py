"""Keep one child process (the Celery worker) running for `run`: restart it when it exits, leave no orphans.

The child starts in its own session, so it is the leader of a process group holding everything it
forks (Celery's pool, the embedded beat). When the leader exits, the group is killed before the
leader is reaped: a `kill -9` of the worker's main process then leaves no pool or beat process
behind, and the group id cannot have been reused by another process meanwhile.
"""

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2


class Supervisor:
    """Run `command`, restarting it after it exits with an exponential backoff; `stop()` ends it.

    The backoff doubles from `backoff_initial` up to `backoff_max` while the child keeps dying
    young, and starts again from `backoff_initial` once it has stayed up `stable_seconds`.
    `on_exit(returncode, delay)` is called on each unplanned exit, before the wait.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        name: str,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        preexec_fn: Callable[[], None] | None = None,
        pass_fds: Sequence[int] = (),
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_seconds: float = 60.0,
        stop_timeout: float = 10.0,
        on_exit: Callable[[int, float], None] | None = None,
    ) -> None:
        self.command = list(command)
        self.name = name
        self.env = env
        self.cwd = cwd
        self.preexec_fn = preexec_fn
        self.pass_fds = tuple(pass_fds)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_seconds = stable_seconds
        self.stop_timeout = stop_timeout
        self.on_exit = on_exit
        self.restarts = 0
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process else None

    def start(self, timeout: float = 10.0) -> None:
        """Start the child and the thread that watches it; returns once the first child runs."""
        # The watching thread spawns every child: a parent-death signal set in preexec_fn follows
        # the thread that forked, and this one lives until stop().
        self._thread = threading.Thread(target=self._watch, name=f"supervise-{self.name}", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError(f"{self.name} did not start within {timeout:.0f} s")

    def stop(self) -> int | None:
        """Stop watching, ask the child to finish (SIGTERM), then kill its whole group; its return code."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        process = self._process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode  # already reaped, group killed
        # The leader only (Celery's warm shutdown stops its own pool and beat), by pid: it is unreaped.
        os.kill(process.pid, signal.SIGTERM)
        if not _exited(process.pid, timeout=self.stop_timeout):
            logger.warning("%s did not stop within %.0f s: killing it", self.name, self.stop_timeout)
        _kill_group(process.pid)
        return process.wait()

    def _spawn(self) -> subprocess.Popen:
        process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            preexec_fn=self.preexec_fn,
            pass_fds=self.pass_fds,
            start_new_session=True,
        )
        logger.info("%s started (pid %s)", self.name, process.pid)
        return process

    def _watch(self) -> None:
        delay = self.backoff_initial
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self._process = self._spawn()
            except OSError:
                logger.exception("%s could not be started", self.name)
                self._process = None
            self._started.set()
            if self._process is not None:
                if not self._wait_for_exit(self._process.pid):
                    return  # stop() ends the child
                # The leader is a zombie until reaped: its group id is still ours to kill.
                _kill_group(self._process.pid)
                returncode = self._process.wait()
            else:
                returncode = -1
            if time.monotonic() - started >= self.stable_seconds:
                delay = self.backoff_initial
            self.restarts += 1
            logger.error(
                "%s (pid %s) exited with %s after %.1f s; restarting in %.1f s",
                self.name,
                self.pid,
                describe_exit(returncode),
                time.monotonic() - started,
                delay,
            )
            if self.on_exit is not None:
                try:
                    self.on_exit(returncode, delay)
                except Exception:
                    logger.exception("%s: on_exit hook failed", self.name)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.backoff_max)

    def _wait_for_exit(self, pid: int) -> bool:
        """Block until the child exits (True, left unreaped) or stop() is called (False)."""
        while not self._stopping.is_set():
            if _exited(pid, timeout=0):
                return True
            self._stopping.wait(POLL_SECONDS)
        return False


def _exited(pid: int, *, timeout: float) -> bool:
    """Whether the child `pid` has exited, waiting up to `timeout`; it is left unreaped (a zombie)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is already empty


def describe_exit(returncode: int) -> str:
    """A return code in words: `code 3`, `signal SIGKILL`."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"
