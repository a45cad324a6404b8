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

from sqlalchemy import BigInteger, ColumnElement, Table, cast, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dispatch.store.database import Database
from dispatch.store.models import DronePositionRow

# Rows per INSERT on SQLite, whose statements take at most 32,766 bind parameters (6 per row).
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


# PostgreSQL: one statement whose text never changes (arrays as parameters), so it is prepared
# once per connection; a multi-row VALUES of SQLAlchemy cost about 70 ms of CPU per 500 rows to
# compile, most of a writer's time at 1,000 samples a second.
_PG_UPSERT = text(
    """
    INSERT INTO drone_positions (drone_id, ts, sample, received_at, writer, stamp_us)
    SELECT u.drone_id, u.ts, u.sample, u.received_at, :writer,
           CAST(extract(epoch FROM statement_timestamp()) * 1000000 AS bigint)
    FROM unnest(CAST(:ids AS text[]), CAST(:ts AS timestamptz[]), CAST(:samples AS text[]),
                CAST(:received AS timestamptz[])) AS u(drone_id, ts, sample, received_at)
    ON CONFLICT (drone_id) DO UPDATE
    SET ts = excluded.ts, sample = excluded.sample, received_at = excluded.received_at,
        writer = excluded.writer, stamp_us = excluded.stamp_us
    WHERE excluded.ts > drone_positions.ts
    """
)


def _chunks(items: list[Position], size: int) -> list[list[Position]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


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

        One statement in one transaction (on SQLite one per :data:`MAX_ROWS_PER_STATEMENT` rows).
        A drone given twice keeps its newest sample.
        """
        newest: dict[str, Position] = {}
        for p in positions:
            kept = newest.get(p.drone_id)
            if kept is None or p.ts > kept.ts:
                newest[p.drone_id] = p
        if not newest:
            return
        # Sorted by drone: concurrent writers lock the rows in one order (no deadlock).
        ordered = sorted(newest.values(), key=lambda p: p.drone_id)
        async with self._db.write() as session:
            if self._db.dialect == "postgresql":
                await session.execute(
                    _PG_UPSERT,
                    {
                        "ids": [p.drone_id for p in ordered],
                        "ts": [p.ts for p in ordered],
                        "samples": [p.sample for p in ordered],
                        "received": [p.received_at for p in ordered],
                        "writer": writer,
                    },
                )
                return
            table = DronePositionRow.__table__
            assert isinstance(table, Table)  # a mapped class's __table__ is typed as any FromClause
            stamp = _db_clock_us(self._db.dialect)
            for chunk in _chunks(ordered, MAX_ROWS_PER_STATEMENT):
                stmt = sqlite_insert(table).values(
                    [
                        {
                            "drone_id": p.drone_id,
                            "ts": p.ts,
                            "sample": p.sample,
                            "received_at": p.received_at,
                            "writer": writer,
                            "stamp_us": stamp,
                        }
                        for p in chunk
                    ]
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=[table.c.drone_id],
                    set_={c: stmt.excluded[c] for c in ("ts", "sample", "received_at", "writer", "stamp_us")},
                    where=stmt.excluded.ts > table.c.ts,
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
