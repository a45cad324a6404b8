"""Intake under a burst: concurrent filings are decided together, with the same verdicts as one by one."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest

from airspace.zones import load_zones
from dispatch.service.intake import assess, assess_many
from dispatch.service.intake_batch import IntakeBatcher
from dispatch.store.directory import load_pads
from fleet.description import load_fleet
from routing.requests import Request
from tests.conftest import EXAMPLES


async def test_concurrent_items_share_a_batch_and_keep_their_order() -> None:
    release = asyncio.Event()
    seen: list[list[int]] = []

    async def decide(batch: list[int]) -> list[int]:
        seen.append(batch)
        await release.wait()
        return [x * 10 for x in batch]

    batcher: IntakeBatcher[int] = IntakeBatcher(decide)
    first = asyncio.create_task(batcher.decide(1))
    while not seen:  # the first batch is being decided
        await asyncio.sleep(0)
    rest = [asyncio.create_task(batcher.decide(i)) for i in (2, 3, 4)]
    release.set()
    assert await first == 10
    assert [await t for t in rest] == [20, 30, 40]
    assert seen == [[1], [2, 3, 4]] and batcher.batches == 2


async def test_idle_waits_for_every_queued_batch() -> None:
    # The planner waits for this: a burst of filings goes through intake before the round.
    release = asyncio.Event()
    seen: list[list[int]] = []

    async def decide(batch: list[int]) -> list[int]:
        seen.append(batch)
        await release.wait()
        return batch

    batcher: IntakeBatcher[int] = IntakeBatcher(decide)
    await asyncio.wait_for(batcher.idle(), 1)  # nothing queued: at once
    first = asyncio.create_task(batcher.decide(1))
    while not seen:
        await asyncio.sleep(0)
    rest = [asyncio.create_task(batcher.decide(i)) for i in (2, 3)]
    idle = asyncio.create_task(batcher.idle())
    await asyncio.sleep(0)
    assert not idle.done()
    release.set()
    await asyncio.wait_for(idle, 1)
    assert first.done() and all(t.done() for t in rest) and seen == [[1], [2, 3]]


async def test_a_failed_batch_fails_its_waiters_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def decide(batch: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("worker died")
        return batch

    batcher: IntakeBatcher[int] = IntakeBatcher(decide)
    with pytest.raises(ValueError, match="worker died"):
        await batcher.decide(1)
    assert await batcher.decide(2) == 2


async def test_a_caller_that_gives_up_does_not_stop_the_decision() -> None:
    release = asyncio.Event()
    decided: list[int] = []

    async def decide(batch: list[int]) -> list[int]:
        await release.wait()
        decided.extend(batch)
        return batch

    batcher: IntakeBatcher[int] = IntakeBatcher(decide)
    impatient = asyncio.create_task(batcher.decide(7))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await batcher.decide(8) == 8
    assert decided == [7, 8]


def test_assess_many_gives_the_verdicts_of_assess_one_by_one() -> None:
    zones = load_zones(EXAMPLES / "zones.geojson")
    fleet = load_fleet(EXAMPLES / "fleet.json")
    pads = {k: (p.lon, p.lat) for k, (_, p) in load_pads(EXAMPLES / "pads.json").items()}
    now = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
    rng = random.Random(4)
    requests = []
    for i in range(12):
        a, b = rng.sample(sorted(pads), 2)  # crane-site (in a zone) may be drawn: a rejection
        weight = rng.choice((0.3, 0.8, 9.0))  # 9 kg: overweight
        due = now + timedelta(minutes=rng.choice((5, 60, 240)))  # 5 min: deadline infeasible
        requests.append(Request(f"r{i}", pads[a], pads[b], weight, "normal", now, due))
    batch = assess_many(zones, fleet, requests, now)
    single = [assess(zones, fleet, r, now) for r in requests]
    assert {v.reason for v in single} - {None}, "the sample must include refusals"
    assert any(v.accepted for v in single)
    for got, want in zip(batch, single, strict=True):
        assert (got.request_id, got.accepted, got.reason, got.drone_id) == (
            want.request_id,
            want.accepted,
            want.reason,
            want.drone_id,
        )
        if want.eta is not None:
            assert got.eta is not None and abs((got.eta - want.eta).total_seconds()) < 1e-3
    assert assess_many(zones, fleet, [], now) == []


async def test_urgent_items_are_decided_before_the_others_queued_with_them() -> None:
    release = asyncio.Event()
    seen: list[list[int]] = []

    async def decide(batch: list[int]) -> list[int]:
        seen.append(batch)
        await release.wait()
        return batch

    # Odd numbers are urgent.
    batcher: IntakeBatcher[int] = IntakeBatcher(decide, urgent=lambda x: x % 2 == 1)
    first = asyncio.create_task(batcher.decide(2))
    while not seen:
        await asyncio.sleep(0)
    rest = [asyncio.create_task(batcher.decide(i)) for i in (4, 5, 6, 7)]
    await asyncio.sleep(0)
    assert sorted(batcher.pending()) == [2, 4, 5, 6, 7]
    release.set()
    assert await first == 2 and [await t for t in rest] == [4, 5, 6, 7]
    assert seen == [[2], [5, 7], [4, 6]]
    assert batcher.pending() == []


async def test_settled_waits_for_urgent_work_only_once_urgent_work_was_decided() -> None:
    # The planner begins a round when intake is idle, or when an urgent filing has been decided
    # and no other urgent one waits: the ordinary ones still in intake go to the next round.
    gates: dict[int, asyncio.Event] = {}
    seen: list[list[int]] = []

    async def decide(batch: list[int]) -> list[int]:
        seen.append(batch)
        gate = gates.setdefault(len(seen), asyncio.Event())
        await gate.wait()
        return batch

    batcher: IntakeBatcher[int] = IntakeBatcher(decide, urgent=lambda x: x % 2 == 1)
    await asyncio.wait_for(batcher.settled(), 1)  # nothing queued: at once
    ordinary = asyncio.create_task(batcher.decide(2))
    while not seen:
        await asyncio.sleep(0)
    waiting = asyncio.create_task(batcher.settled())
    more = [asyncio.create_task(batcher.decide(i)) for i in (3, 4)]
    await asyncio.sleep(0)
    gates.setdefault(1, asyncio.Event()).set()  # the ordinary batch [2] ends; [3] (urgent) begins
    await ordinary
    while len(seen) < 2:
        await asyncio.sleep(0)
    assert seen[1] == [3] and not waiting.done()
    gates.setdefault(2, asyncio.Event()).set()  # the urgent one is decided; [4] is being decided
    await asyncio.wait_for(waiting, 1)
    assert not more[1].done() and batcher.pending() == [4]
    # Once reported, an urgent decision does not end the next wait: that one waits for [4].
    again = asyncio.create_task(batcher.settled())
    await asyncio.sleep(0)
    assert not again.done()
    gates.setdefault(3, asyncio.Event()).set()
    await asyncio.wait_for(again, 1)
    assert [await t for t in more] == [3, 4]
