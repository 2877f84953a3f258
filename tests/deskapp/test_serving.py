"""`run`'s web processes on one address: new connections are shared between them."""

import socket
import time

import psutil
import pytest

from tests.live_server import running_web_processes

pytestmark = pytest.mark.django_db(transaction=True)

BURST = 24


def accepted_by_each(port: int) -> list[int]:
    """How many connections to `port` each web process (a Daphne child of this process) holds."""
    servers = [p for p in psutil.Process().children(recursive=True) if "daphne" in " ".join(p.cmdline())]
    return [
        sum(1 for c in p.net_connections(kind="tcp") if c.laddr.port == port and c.status == "ESTABLISHED")
        for p in servers
    ]


def test_a_burst_of_connections_is_shared_by_every_web_process():
    # Eight calls dialled at once all went to one process while the other sat idle (one shared socket).
    with running_web_processes(count=2) as address:
        host, port = address.rsplit(":", 1)
        clients = [socket.create_connection((host, int(port))) for _ in range(BURST)]
        try:
            deadline = time.monotonic() + 10
            while sum(counts := accepted_by_each(int(port))) < BURST and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sum(counts) == BURST, counts
            assert len(counts) == 2 and min(counts) >= 2, f"connections per process: {counts}"
        finally:
            for client in clients:
                client.close()
