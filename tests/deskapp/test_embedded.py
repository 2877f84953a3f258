"""The embedded PostgreSQL stops when the last process using it exits, even after one was killed with -9."""

import os
import signal
import subprocess
import sys
import time

from tests.live_server import ROOT

USE_IT = "import sys; from deskapp.embedded import embedded_database_url; embedded_database_url(__import__('pathlib').Path(sys.argv[1])); print('up', flush=True); {}"


def use_database(data_dir, then: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", USE_IT.format(then), str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "up"
    return process


def test_the_server_stops_with_its_last_user_after_another_was_killed(tmp_path):
    data_dir = tmp_path / "pgdata"
    killed = use_database(data_dir, "__import__('time').sleep(600)")
    os.kill(killed.pid, signal.SIGKILL)  # never says it is done with the server
    killed.wait()
    assert (data_dir / "postmaster.pid").exists()

    try:
        use_database(data_dir, "pass").wait(timeout=60)  # a later user that exits normally
        deadline = time.monotonic() + 20
        while (data_dir / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (data_dir / "postmaster.pid").exists(), "the embedded PostgreSQL was left running"
    finally:
        if (data_dir / "postmaster.pid").exists():  # stop what the failure left behind
            os.kill(int((data_dir / "postmaster.pid").read_text().split()[0]), signal.SIGINT)
