"""Solver worker processes die with the process that started them (no orphans after SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import REPO

PARENT = textwrap.dedent(
    """
    import os, sys, time
    from routing.processes import spawn_pool

    def worker_pid():
        return os.getpid()

    def block():
        time.sleep(3600)

    if __name__ == "__main__":
        pool = spawn_pool(1)
        pid = pool.submit(worker_pid).result(timeout=60)
        pool.submit(block)
        print(pid, flush=True)
        time.sleep(3600)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; it only waits for its (new) parent to reap it.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_worker_exits_when_its_parent_is_killed(tmp_path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a condition with a deadline, not a sleep as synchronisation
        assert not _alive(worker), "the pool worker outlived its killed parent"
    finally:
        parent.kill()
