"""Sessions for the repositories: read transactions, write transactions and the clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dispatch.store.engine import WRITE_OPTION


def utc_now() -> datetime:
    """Wall-clock time, tz-aware UTC (the default clock)."""
    return datetime.now(UTC)


class Database:
    """An engine, its session factories and the clock every timestamp is read from."""

    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._now = now
        # One snapshot per read transaction, so a multi-statement read (audit verify) is consistent.
        read_engine = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if self.dialect == "postgresql"
            else engine
        )
        self._read = async_sessionmaker(read_engine, expire_on_commit=False, autoflush=True)
        # Write transactions take SQLite's write lock at BEGIN (see engine.py); harmless elsewhere.
        self._write = async_sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False, autoflush=True
        )
        # This process's writers queue here, in order, one transaction at a time.
        # SQLite has one writer at a time anyway: queued here rather than each holding a pooled
        # connection while it backs off in SQLite's busy handler (sleeps of up to 100 ms a try):
        # under a burst of filings that back-off, not the work, was the wait. Other processes on
        # the same file still meet the busy handler (SQLITE_BUSY_TIMEOUT_MS).
        # PostgreSQL: almost every write appends to the audit chain, whose head row each locks in
        # the middle of its transaction, after rows of its own. Two writers of one process could
        # take those in opposite orders and deadlock (seen at 1,000 drones in python -m bench
        # system: an intake batch, which holds the head while it locks its next request, against
        # a mission's dispatch): the loser's transaction failed, its filing got a 503 or its
        # mission was never sent. They would have waited for the head in turn anyway.
        self._write_lock = asyncio.Lock()

    def now(self) -> datetime:
        """The current time from the injected clock, checked to be tz-aware."""
        moment = self._now()
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("the store's clock returned a naive datetime; it must be timezone-aware")
        return moment.astimezone(UTC)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed on success and rolled back on any error."""
        async with self._write_lock, self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session in a read transaction (one consistent snapshot on SQLite and PostgreSQL)."""
        async with self._read() as session, session.begin():
            yield session
