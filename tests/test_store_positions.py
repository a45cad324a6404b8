"""The fleet view (``drone_positions``) on SQLite and PostgreSQL: a sample never replaces a newer one,
whatever order writers race in, and readers see other writers' rows after their cursor."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from dispatch.store import Store
from dispatch.store.positions import Position

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _pos(drone_id: str, second: float, body: str | None = None) -> Position:
    ts = T0 + timedelta(seconds=second)
    return Position(drone_id, ts, body or f'{{"s":{second}}}', received_at=ts + timedelta(milliseconds=50))


async def test_an_older_sample_never_replaces_a_newer_one(store: Store) -> None:
    await store.positions.upsert_latest([_pos("D01", 10), _pos("D02", 10)], writer="a")
    # D01 older (ignored), D02 the same ts (ignored), D03 new; D04 twice in one batch (newest kept).
    await store.positions.upsert_latest(
        [_pos("D01", 9, "old"), _pos("D02", 10, "same"), _pos("D03", 1), _pos("D04", 7), _pos("D04", 3)],
        writer="b",
    )
    rows = {p.drone_id: p for p in await store.positions.changed_since(None)}
    assert rows["D01"].ts == T0 + timedelta(seconds=10) and rows["D01"].writer == "a"
    assert rows["D02"].sample != "same" and rows["D02"].writer == "a"
    assert rows["D03"].writer == "b"
    assert rows["D04"].ts == T0 + timedelta(seconds=7)
    assert rows["D01"].received_at == T0 + timedelta(seconds=10, milliseconds=50)
    await store.positions.upsert_latest([_pos("D01", 11)], writer="b")
    rows = {p.drone_id: p for p in await store.positions.changed_since(None)}
    assert rows["D01"].ts == T0 + timedelta(seconds=11) and rows["D01"].writer == "b"


async def test_racing_writers_leave_the_newest_sample_of_every_drone(store: Store) -> None:
    drones = [f"D{i:03d}" for i in range(50)]
    rng = random.Random(3)
    batches = []
    for writer in ("a", "b", "c"):
        for _ in range(6):
            batches.append((writer, [_pos(d, rng.uniform(0, 100)) for d in rng.sample(drones, 30)]))
    newest: dict[str, datetime] = {}
    for _, batch in batches:
        for p in batch:
            newest[p.drone_id] = max(newest.get(p.drone_id, p.ts), p.ts)
    rng.shuffle(batches)
    await asyncio.gather(*(store.positions.upsert_latest(b, writer=w) for w, b in batches))
    rows = await store.positions.changed_since(None)
    assert {p.drone_id: p.ts for p in rows} == newest


async def test_a_reader_sees_what_others_wrote_after_its_cursor(store: Store) -> None:
    await store.positions.upsert_latest([_pos("D01", 1), _pos("D02", 1)], writer="leader")
    await store.positions.upsert_latest([_pos("D03", 1)], writer="standby")
    first = await store.positions.changed_since(None, exclude_writer="leader")
    assert [p.drone_id for p in first] == ["D03"]
    cursor = max(p.stamp_us for p in first)
    assert abs(cursor - await store.positions.clock_us()) < 60_000_000  # the database's clock, in us
    assert await store.positions.changed_since(cursor, exclude_writer="leader") == []
    await store.positions.upsert_latest([_pos("D01", 2), _pos("D03", 0.5)], writer="standby")
    later = await store.positions.changed_since(cursor, exclude_writer="leader")
    # D01 now comes from the standby; D03's older sample changed nothing, so it is not read again.
    assert [p.drone_id for p in later] == ["D01"]
    assert later[0].stamp_us >= cursor
