"""Failpoints: what ``DRONEDISPATCH_FAILPOINTS`` arms, and that an armed point really SIGKILLs the
process on the hit it names (no clean-up runs) while any other point does nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from dispatch.service.failpoints import ENV, parse
from tests.conftest import REPO

PROGRAM = """
import atexit
from dispatch.service.failpoints import failpoint
atexit.register(lambda: print("atexit ran", flush=True))
for i in range(1, 4):
    print(f"hit {i}", flush=True)
    failpoint("other")
    try:
        failpoint("here")
    finally:
        print(f"finally {i}", flush=True)
print("survived", flush=True)
"""


def run(spec: str | None) -> subprocess.CompletedProcess[str]:
    """The program above with ``DRONEDISPATCH_FAILPOINTS`` set to ``spec`` (unset if None)."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if spec is not None:
        env[ENV] = spec
    return subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_parse() -> None:
    assert parse("") == {}
    assert parse("plan.solved") == {"plan.solved": 1}
    assert parse(" a , b=3,,") == {"a": 1, "b": 3}
    with pytest.raises(ValueError):
        parse("a=0")
    with pytest.raises(ValueError):
        parse("a=x")


def test_unarmed_points_do_nothing() -> None:
    done = run(None)
    assert done.returncode == 0 and "survived" in done.stdout and "failpoint" not in done.stdout
    assert run("elsewhere").returncode == 0


def test_armed_point_kills_on_the_named_hit_without_clean_up() -> None:
    done = run("here=2")
    assert done.returncode == -signal.SIGKILL
    # Killed inside the second hit: its ``finally`` and the atexit handler never ran.
    assert done.stdout.splitlines() == ["hit 1", "finally 1", "hit 2", "failpoint here"]
