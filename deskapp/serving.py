"""The web processes `run` serves with: several Daphne processes on one address, one per core.

Daphne, uvicorn, granian and gunicorn with uvicorn workers measured alike here (README, Load: serving);
the process count made the difference, not the server, so the server stays the one the suite tests.
"""

import os
import socket
import sys
import time
import urllib.error
import urllib.request

from deskapp.supervisor import Supervisor
from infra.processes import dies_with_parent

APP = "deskapp.served:application"


def web_process_count() -> int:
    """BATON_WEB_PROCESSES, else one per core."""
    return max(1, int(os.environ.get("BATON_WEB_PROCESSES") or os.cpu_count() or 1))


class WebProcesses:
    """`count` supervised Daphne processes serving one address, each on a listening socket of its own
    (SO_REUSEPORT) that the kernel hands an even share of new connections; a process that exits is
    restarted on its socket, whose waiting connections it then accepts, while the others go on serving.

    Not one shared socket: every process sharing one is woken by a new connection and the first awake
    takes all that are waiting, so a burst (eight calls dialled at once) went whole to one process
    while the other sat idle (measured: README, Voice).
    """

    def __init__(self, *, host: str, port: int, count: int, env: dict[str, str]) -> None:
        self.host = host
        self.sockets = [socket.create_server((host, port), backlog=2048, reuse_port=True)]
        self.port = port = self.sockets[0].getsockname()[1]  # the port chosen, when asked for any (0)
        self.sockets += [
            socket.create_server((host, port), backlog=2048, reuse_port=True) for _ in range(count - 1)
        ]
        self.supervisors = []
        for n, listening in enumerate(self.sockets):
            fd = listening.fileno()
            os.set_inheritable(fd, True)
            self.supervisors.append(
                Supervisor(
                    [sys.executable, "-m", "daphne", "--fd", str(fd), "-v", "0", APP],
                    name=f"web {n + 1}",
                    env=env,
                    pass_fds=(fd,),
                    preexec_fn=dies_with_parent,  # each dies with `run`, even a `kill -9`'d one
                    backoff_initial=0.2,
                )
            )

    def start(self) -> None:
        for supervisor in self.supervisors:
            supervisor.start()

    def wait_until_serving(self, timeout: float = 180) -> None:
        """Until /healthz answers: each process loads the embedding model before it accepts connections."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}:{self.port}/healthz", timeout=5).close()
                return
            except urllib.error.HTTPError:
                return  # serving; a 503 names what else is down, which /healthz shows
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no web process answered within {timeout:.0f} s") from None
                time.sleep(0.2)

    @property
    def pids(self) -> list[int]:
        return [s.pid for s in self.supervisors if s.pid]

    def stop(self) -> None:
        for supervisor in self.supervisors:
            supervisor.stop()
        for listening in self.sockets:
            listening.close()
