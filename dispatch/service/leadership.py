"""One dispatcher leads a service area at a time: a PostgreSQL advisory lock, or a lock file on SQLite.

On PostgreSQL any number of dispatcher processes may start; one holds the area's session-level
advisory lock and leads, the others wait on it as hot standbys. The lock lives on a dedicated
connection opened for nothing else: a pooled connection would go back to the pool (and keep the
lock) when "closed", or carry it to unrelated work. When the leader dies, even by SIGKILL, its
connection closes, PostgreSQL releases the lock and one standby takes over at once; it then
rebuilds its view from the database and the drones' retained state like any restarted dispatcher.

A leader that loses its lock connection can no longer be sure it leads (a standby may already have
taken over), so :attr:`Lease.lost` is set and the process must stop commanding drones.

SQLite is a single-machine, single-writer store: a second dispatcher on the same file is refused
with a clear error (an exclusive ``flock`` on ``<database>.dispatcher.lock``, released by the
kernel when the holder dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from dispatch.store.engine import resolve_url

DEFAULT_AREA = "default"

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has ended (its cancellation is not raised here)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class LeadershipError(RuntimeError):
    """This process cannot lead the service area."""


class AlreadyRunning(LeadershipError):
    """SQLite mode: another dispatcher already runs on this database file."""


@dataclass(slots=True)
class Lease:
    """Held while this process leads ``area``; ``lost`` is set if the lock can no longer be trusted."""

    area: str
    how: str  # "postgresql advisory lock" | "sqlite lock file"
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    why_lost: str = ""
    backend_pid: int | None = None  # PostgreSQL: the server process holding the lock (for operators)


def advisory_key(area: str, schema: str | None) -> int:
    """The signed 64-bit advisory-lock key of a service area (advisory locks are per database, so
    the schema is part of the key)."""
    digest = hashlib.sha256(f"dronedispatch/leader/{schema or ''}/{area}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def leadership(
    db_url: str | None,
    area: str = DEFAULT_AREA,
    *,
    on_standby: Callable[[], None] | None = None,
    check_every_s: float = 2.0,
) -> AsyncIterator[Lease]:
    """Lead ``area`` for the duration of the block (waiting as a standby on PostgreSQL while another
    process leads, calling ``on_standby`` once); raise :class:`AlreadyRunning` on a busy SQLite file."""
    url, schema = resolve_url(db_url)
    if url.get_backend_name() == "sqlite":
        async with _sqlite_lease(Path(str(url.database)), area) as lease:
            yield lease
        return
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    async with _pg_lease(dsn, advisory_key(area, schema), area, on_standby, check_every_s) as lease:
        yield lease


STANDBY_LINE = "standby: another dispatcher leads this service area; waiting to take over"
LEASE_LOST_STATUS = 3


async def run_as_leader(
    db_url: str | None,
    lead: Callable[[Lease], Coroutine[Any, Any, int]],
    stop: asyncio.Event,
    *,
    area: str = DEFAULT_AREA,
    program: str = "dronedispatch",
    while_standby: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Wait for the leadership of ``area`` (printing :data:`STANDBY_LINE` while another process
    leads), then run ``lead(lease)`` and return its exit status.

    ``while_standby()`` runs from the moment this process finds another leading until it leads
    (it is cancelled, and awaited, before ``lead`` starts) or is told to stop. If it fails, the
    failure is logged and the process goes on waiting.

    A standby told to ``stop`` leaves the queue quietly (0). If the lease is lost while leading,
    ``lead`` is cancelled at once and the status is :data:`LEASE_LOST_STATUS`: a standby may already
    lead, so this process must not command anything more.
    """
    leading = asyncio.Event()
    standing_by: list[asyncio.Task[None]] = []

    def on_standby() -> None:
        print(STANDBY_LINE, flush=True)
        if while_standby is not None:
            standing_by.append(asyncio.create_task(_logged(while_standby()), name=f"standby-{area}"))

    async def end_standby() -> None:
        for task in standing_by:
            await cancel_and_wait(task)
        standing_by.clear()

    async def hold() -> int:
        async with leadership(db_url, area, on_standby=on_standby) as lease:
            await end_standby()
            leading.set()
            work = asyncio.create_task(lead(lease))
            lost = asyncio.create_task(lease.lost.wait())
            try:
                await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
            if work.done():
                return work.result()
            await cancel_and_wait(work)
            print(f"{program}: leadership lost ({lease.why_lost}); stopping", file=sys.stderr, flush=True)
            return LEASE_LOST_STATUS

    holder = asyncio.create_task(hold())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({holder, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not holder.done() and not leading.is_set():
        await cancel_and_wait(holder)  # a standby asked to stop
        await end_standby()
        return 0
    try:
        return await holder
    finally:
        await end_standby()


async def _logged(work: Awaitable[None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the standby's work failed; still waiting to lead")


@asynccontextmanager
async def _sqlite_lease(db_path: Path, area: str) -> AsyncIterator[Lease]:
    lock_path = db_path.with_name(db_path.name + ".dispatcher.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise AlreadyRunning(
                f"another dispatcher (pid {holder}) already runs on the SQLite database {db_path}; SQLite"
                " mode runs one dispatcher — use PostgreSQL to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield Lease(area, "sqlite lock file")
    finally:
        os.close(fd)  # closing the descriptor releases the flock


async def probe_until_lost(probe: Callable[[], Awaitable[object]], every_s: float) -> str:
    """Run ``probe()`` every ``every_s`` seconds (each within twice that) until one fails; return
    why. Cancelling it ends it, also when the cancel comes just as a probe ends: Python 3.11's
    ``asyncio.wait_for`` then returns the probe's result instead, and a stop waiting for this
    loop waited for ever (a dispatcher outlived its SIGTERM so)."""
    while True:
        await asyncio.sleep(every_s)  # a liveness probe period, not synchronisation
        try:
            async with asyncio.timeout(every_s * 2):
                await probe()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return f"the leader-lock connection failed: {exc!r}"


@asynccontextmanager
async def _pg_lease(
    dsn: str, key: int, area: str, on_standby: Callable[[], None] | None, check_every_s: float
) -> AsyncIterator[Lease]:
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise LeadershipError(f"cannot open the leader-lock connection: {exc}") from exc
    lease = Lease(area, "postgresql advisory lock", backend_pid=conn.get_server_pid())
    watchdog: asyncio.Task[None] | None = None
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
            if on_standby is not None:
                on_standby()
            await conn.execute("SELECT pg_advisory_lock($1)", key)  # blocks until the leader is gone

        async def watch() -> None:
            lease.why_lost = await probe_until_lost(lambda: conn.fetchval("SELECT 1"), check_every_s)
            lease.lost.set()

        watchdog = asyncio.create_task(watch(), name=f"leader-lock-{area}")
        yield lease
    finally:
        if watchdog is not None:
            await cancel_and_wait(watchdog)
        with contextlib.suppress(Exception):
            await conn.close(timeout=5)  # ends the session: PostgreSQL releases the lock
