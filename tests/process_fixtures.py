"""``dronedispatch run`` as a real child process, for the tests that kill it (crash recovery,
failover, failpoints): start it on a database, a broker prefix and a shared simulated clock, and
follow what it prints.

::

    seen: dict[str, list[str]] = {}          # request id -> states printed, by every process
    async with dispatcher_process(db_url, broker, prefix, client_id, clock, log, seen=seen) as first:
        await first.wait_for(ids, "delivered", timeout_s=60)

A process armed with ``failpoints=`` (see :mod:`dispatch.service.failpoints`) kills itself there;
:meth:`DispatcherProcess.wait_killed_at` checks it did, at that point.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import BinaryIO

from dispatch.commands.run import READY_LINE
from dispatch.service.failpoints import ENV as FAILPOINTS_ENV
from dispatch.service.failpoints import LINE as FAILPOINT_LINE
from dispatch.service.fleet_view import parse_stats_line
from dispatch.service.leadership import STANDBY_LINE
from dispatch.store import Store
from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from tests.conftest import REPO


class DispatcherProcess:
    """One ``dronedispatch run`` process and what it printed: ready, standby, the failpoint it hit,
    and ``request ID STATE`` lines (into ``seen``, which several processes may share)."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        seen: dict[str, list[str]] | None = None,
        changed: asyncio.Event | None = None,
    ) -> None:
        self.proc = proc
        self.seen: dict[str, list[str]] = {} if seen is None else seen
        self.changed = changed or asyncio.Event()  # set on every request line (shareable too)
        self.ready = asyncio.Event()
        self.standby = asyncio.Event()
        self.failpoint: str | None = None
        self.stats: list[dict[str, str]] = []  # its ``stats ...`` lines (``--stats-every``), parsed
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().strip()
            if line == READY_LINE:
                self.ready.set()
            elif line == STANDBY_LINE:
                self.standby.set()
            elif line.startswith(f"{FAILPOINT_LINE} "):
                self.failpoint = line.split(maxsplit=1)[1]
            elif line.startswith("request "):
                _, rid, state = line.split()
                self.seen.setdefault(rid, []).append(state)
                self.changed.set()
            elif (fields := parse_stats_line(line)) is not None:
                self.stats.append(fields)
                self.changed.set()

    async def until(self, done: Callable[[], bool], timeout_s: float) -> None:
        """Until ``done()`` is true, re-checked after every request line (TimeoutError otherwise)."""

        async def _wait() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(_wait(), timeout_s)

    async def wait_for(self, ids: Collection[str], state: str, timeout_s: float) -> None:
        """Until every request in ``ids`` was reported in ``state`` (by any process sharing ``seen``)."""
        await self.until(lambda: all(state in self.seen.get(r, []) for r in ids), timeout_s)

    async def wait_killed_at(self, failpoint: str, timeout_s: float) -> None:
        """Until the process died; it must have printed ``failpoint NAME`` and died of SIGKILL."""
        await asyncio.wait_for(self.proc.wait(), timeout_s)
        await asyncio.wait_for(self.reader, 10)  # everything it printed before it died is read
        assert self.failpoint == failpoint and self.proc.returncode == -signal.SIGKILL, (
            f"expected a SIGKILL at failpoint {failpoint}; it hit {self.failpoint},"
            f" exit status {self.proc.returncode}"
        )

    async def stop(self) -> None:
        """SIGTERM (unless it already ended) and wait for it; stop reading. A process that does not
        stop within 30 s fails the test, and is killed first: left running, it would load the
        machine under every test after it."""
        try:
            if self.proc.returncode is None:
                self.proc.terminate()
                try:
                    await asyncio.wait_for(self.proc.wait(), 30)
                except TimeoutError:
                    self.proc.kill()
                    await asyncio.wait_for(self.proc.wait(), 10)
                    raise AssertionError("the dispatcher did not stop within 30 s of its SIGTERM") from None
        finally:
            self.reader.cancel()


async def add_unprinted(store: Store, ids: Collection[str], seen: dict[str, list[str]]) -> None:
    """After a process was killed: add to ``seen`` each request's state in the store when it is not
    the last one printed (a kill between a commit and its ``request ID STATE`` line loses the line,
    and no other process will print that transition again)."""
    for rid in ids:
        state = (await store.requests.get(rid)).state
        states = seen.setdefault(rid, [])
        if not states or states[-1] != state:
            states.append(state)


async def start_dispatcher(
    db_url: str,
    broker: BrokerAddress,
    prefix: str,
    client_id: str,
    clock: SharedClock,
    log: BinaryIO,
    *,
    seen: dict[str, list[str]] | None = None,
    changed: asyncio.Event | None = None,
    plan_seconds: float = 0.3,
    tick_s: float = 20.0,
    failpoints: str | None = None,
    extra: Sequence[str] = (),
) -> DispatcherProcess:
    """Start ``dronedispatch run --verbose`` (log on ``log``) on the shared clock; ``failpoints``
    arms :mod:`dispatch.service.failpoints` in it (none otherwise, whatever the test's environment);
    ``extra``: more arguments."""
    env = {k: v for k, v in os.environ.items() if k != FAILPOINTS_ENV}
    if failpoints is not None:
        env[FAILPOINTS_ENV] = failpoints
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatch.cli",
        "run",
        "--db",
        db_url,
        "--broker",
        broker.url,
        "--prefix",
        prefix,
        "--client-id",
        client_id,
        "--plan-seconds",
        str(plan_seconds),
        "--tick-s",
        str(tick_s),
        "--verbose",
        *clock.to_args(),
        *extra,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    return DispatcherProcess(proc, seen, changed)


@asynccontextmanager
async def dispatcher_process(
    db_url: str,
    broker: BrokerAddress,
    prefix: str,
    client_id: str,
    clock: SharedClock,
    log: BinaryIO,
    *,
    seen: dict[str, list[str]] | None = None,
    failpoints: str | None = None,
    tick_s: float = 20.0,
    wait_ready: bool = True,
) -> AsyncIterator[DispatcherProcess]:
    """:func:`start_dispatcher`, ready (unless ``wait_ready`` is false); stopped on the way out
    (SIGTERM, unless the test killed it or it killed itself)."""
    process = await start_dispatcher(
        db_url, broker, prefix, client_id, clock, log, seen=seen, failpoints=failpoints, tick_s=tick_s
    )
    try:
        if wait_ready:
            await asyncio.wait_for(process.ready.wait(), 60)
        yield process
    finally:
        await process.stop()
