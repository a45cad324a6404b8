"""The fleet view: the latest telemetry sample per drone, written by every dispatcher process.

Dispatcher processes of one service area split the drones' telemetry between them (an MQTT 5
shared subscription); each writes the latest sample of every drone it heard with
:meth:`PositionRepository.upsert_latest` (one statement per batch), and the leader reads what the
others wrote with :meth:`PositionRepository.changed_since`.

A sample never replaces a newer one (``ON CONFLICT ... DO UPDATE ... WHERE excluded.ts > ts``), so
writers racing with older and newer samples of one drone leave the newest. ``stamp_us`` is the
database's clock (microseconds since the epoch) at the write: the one clock every process shares.
A transaction that read the clock earlier may commit later than one that read it after, so a
reader must look back a margin behind its cursor (see :mod:`dispatch.service.fleet_view`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dispatch.store.database import Database
from dispatch.store.models import DronePositionRow

# Rows per INSERT: PostgreSQL takes at most 32,767 bind parameters in one statement (6 per row).
MAX_ROWS_PER_STATEMENT = 5000


@dataclass(frozen=True, slots=True)
class Position:
    """One drone's latest sample as a writer hands it in and a reader gets it back.

    ``sample`` is the telemetry body (JSON text of the protocol message), ``received_at`` the
    writer's clock when it heard it; ``stamp_us`` (database clock at the write) is set on reads.
    """

    drone_id: str
    ts: datetime
    sample: str
    received_at: datetime
    writer: str = ""
    stamp_us: int = 0


def _db_clock_us(dialect: str) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.statement_timestamp()) * 1_000_000, BigInteger)
    # SQLite: julianday('now') is fixed for the duration of one statement.
    return cast((func.julianday("now") - 2440587.5) * 86_400_000_000.0, BigInteger)


class PositionRepository:
    """Upsert and read the fleet view (table ``drone_positions``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert_latest(self, positions: Sequence[Position], *, writer: str) -> None:
        """Write each drone's sample unless the table already holds a newer (or the same) one for it.

        One statement per :data:`MAX_ROWS_PER_STATEMENT` rows, in one transaction. A drone given
        twice keeps its newest sample.
        """
        newest: dict[str, Position] = {}
        for p in positions:
            kept = newest.get(p.drone_id)
            if kept is None or p.ts > kept.ts:
                newest[p.drone_id] = p
        if not newest:
            return
        dialect = self._db.dialect
        insert: Any = pg_insert if dialect == "postgresql" else sqlite_insert
        table = DronePositionRow.__table__
        stamp = _db_clock_us(dialect)
        # Sorted by drone: concurrent writers lock the rows in one order (no deadlock).
        rows = [
            {"drone_id": p.drone_id, "ts": p.ts, "sample": p.sample, "received_at": p.received_at,
             "writer": writer, "stamp_us": stamp}
            for p in sorted(newest.values(), key=lambda p: p.drone_id)
        ]  # fmt: skip
        async with self._db.write() as session:
            for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
                stmt = insert(table).values(rows[start : start + MAX_ROWS_PER_STATEMENT])
                excluded = stmt.excluded
                stmt = stmt.on_conflict_do_update(
                    index_elements=[table.c.drone_id],
                    set_={c: excluded[c] for c in ("ts", "sample", "received_at", "writer", "stamp_us")},
                    where=excluded.ts > table.c.ts,
                )
                await session.execute(stmt)

    async def changed_since(
        self, after_us: int | None, *, exclude_writer: str | None = None, limit: int = 100_000
    ) -> list[Position]:
        """Rows written after database time ``after_us`` (all rows for None), oldest write first,
        leaving out those whose latest sample came from ``exclude_writer``."""
        t = DronePositionRow.__table__.c
        # Core rows, not ORM objects: the leader reads up to a whole fleet twice a second.
        query = select(t.drone_id, t.ts, t.sample, t.received_at, t.writer, t.stamp_us)
        if after_us is not None:
            query = query.where(t.stamp_us > after_us)
        if exclude_writer is not None:
            query = query.where(t.writer != exclude_writer)
        query = query.order_by(t.stamp_us).limit(limit)
        async with self._db.read() as session:
            rows = await session.execute(query)
            return [Position(*r) for r in rows]

    async def clock_us(self) -> int:
        """The database's clock now, in microseconds since the epoch (the unit of ``stamp_us``)."""
        async with self._db.read() as session:
            value = await session.scalar(select(_db_clock_us(self._db.dialect)))
            return int(value or 0)
