"""Claiming ``submitted`` requests for intake: each is decided exactly once, and on PostgreSQL two
dispatchers claim disjoint sets at the same time (``FOR UPDATE SKIP LOCKED``) without waiting."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from dispatch.store import Intake, InvalidInput, RequestView, Store, open_store
from tests.db_fixtures import audit_count, new_request


async def _file(store: Store, n: int) -> list[str]:
    ids = []
    for i in range(n):
        created = await store.requests.create(new_request(key=f"k{i}"), actor="office")
        ids.append(created.request.id)
    return ids


def _accept(views: list[RequestView]) -> list[Intake]:
    return [Intake(True, details={"eta": "soon"}) for _ in views]


async def test_claims_decide_every_submitted_request_once(seeded_store: Store) -> None:
    ids = await _file(seeded_store, 7)

    async def decide(views: list[RequestView]) -> list[Intake]:
        return [Intake(i % 2 == 0, None if i % 2 == 0 else "overweight", {}) for i, _ in enumerate(views)]

    first = await seeded_store.requests.decide_submitted(decide, actor="d1", limit=4)
    second = await seeded_store.requests.decide_submitted(decide, actor="d2", limit=4)
    assert await seeded_store.requests.decide_submitted(decide, actor="d3") == []
    assert [v.id for v in first + second] == ids  # oldest first, none twice
    assert Counter(v.state for v in first) == {"accepted": 2, "rejected": 2}
    assert {v.state_reason for v in first if v.state == "rejected"} == {"overweight"}
    assert (await seeded_store.verify_audit()).ok


async def test_a_claim_can_leave_the_latest_filings_to_their_filers(seeded_store: Store) -> None:
    # The dispatcher's tick sweeps requests left ``submitted``; the ones its own filings stored
    # since the oldest filing in progress began are on their way through intake already.
    older = await _file(seeded_store, 2)
    since = seeded_store.db.now()
    newer = (await seeded_store.requests.create(new_request(key="late"), actor="office")).request.id

    async def decide(views: list[RequestView]) -> list[Intake]:
        return _accept(views)

    claimed = await seeded_store.requests.decide_submitted(decide, actor="d1", filed_before=since)
    assert [v.id for v in claimed] == older
    assert (await seeded_store.requests.get(newer)).state == "submitted"
    assert [v.id for v in await seeded_store.requests.decide_submitted(decide, actor="d1")] == [newer]


async def test_a_failed_decision_records_nothing(seeded_store: Store) -> None:
    ids = await _file(seeded_store, 2)

    async def broken(views: list[RequestView]) -> list[Intake]:
        raise RuntimeError("intake worker died")

    with pytest.raises(RuntimeError, match="worker died"):
        await seeded_store.requests.decide_submitted(broken, actor="d1")

    async def short(views: list[RequestView]) -> list[Intake]:
        return _accept(views)[:1]

    with pytest.raises(InvalidInput, match="1 intake decisions for 2"):
        await seeded_store.requests.decide_submitted(short, actor="d1")
    assert [(await seeded_store.requests.get(r)).state for r in ids] == ["submitted", "submitted"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_dispatchers_claim_disjoint_sets_at_once(seeded_store: Store, db_url: str) -> None:
    ids = await _file(seeded_store, 12)
    other = await open_store(db_url)  # a second dispatcher process: its own engine and connections
    try:
        a_holds = asyncio.Event()
        b_done = asyncio.Event()

        async def slow(views: list[RequestView]) -> list[Intake]:
            a_holds.set()
            await asyncio.wait_for(b_done.wait(), 10)  # A keeps its rows locked until B is done
            return _accept(views)

        async def quick(views: list[RequestView]) -> list[Intake]:
            return _accept(views)

        a = asyncio.create_task(seeded_store.requests.decide_submitted(slow, actor="dispatcher-a", limit=5))
        await asyncio.wait_for(a_holds.wait(), 10)
        b = await asyncio.wait_for(other.requests.decide_submitted(quick, actor="dispatcher-b"), 10)
        b_done.set()
        a_views = await a
    finally:
        await other.close()
    a_ids, b_ids = [v.id for v in a_views], [v.id for v in b]
    assert a_ids == ids[:5] and b_ids == ids[5:], "B skipped A's locked rows instead of waiting"
    for rid in ids:
        timeline = await seeded_store.requests.timeline(rid)
        assert [e.payload.get("to") for e in timeline.entries if e.action == "transition"] == ["accepted"]
    assert (await seeded_store.verify_audit()).ok


async def test_a_batch_of_decisions_is_recorded_at_once_and_skips_decided_ones(seeded_store: Store) -> None:
    ids = await _file(seeded_store, 3)
    await seeded_store.requests.record_intake(ids[1], Intake(False, "overweight", {}), actor="other")
    before = await audit_count(seeded_store)
    decisions = [
        (ids[0], Intake(True, details={})),
        (ids[1], Intake(True, details={})),
        (ids[2], Intake(False, "unreachable", {})),
    ]
    views = await seeded_store.requests.record_intakes(decisions, actor="dispatcher")
    assert [(v.state, v.state_reason) for v in views] == [
        ("accepted", None),
        ("rejected", "overweight"),
        ("rejected", "unreachable"),
    ]
    assert await audit_count(seeded_store) == before + 2  # the one decided before is untouched
    with pytest.raises(InvalidInput, match="needs a reason"):
        await seeded_store.requests.record_intakes([(ids[0], Intake(False, None, {}))], actor="d")


async def test_writers_of_one_store_do_not_deadlock_on_the_audit_chain(seeded_store: Store) -> None:
    # Each batch locks a request, appends to the audit chain (locking its head), then locks the
    # next: two batches over the same requests in opposite orders deadlocked on PostgreSQL until
    # one store's writers took turns (seen under load in python -m bench system).
    ids = await _file(seeded_store, 20)
    pairs = [(ids[k], ids[k + 1]) for k in range(0, len(ids), 2)]
    accept = Intake(True, details={})
    batches = [
        seeded_store.requests.record_intakes([(a, accept), (b, accept)], actor=f"d{k}")
        for k, (x, y) in enumerate(pairs)
        for a, b in ((x, y), (y, x))
    ]
    results = await asyncio.gather(*batches)
    assert all(v.state == "accepted" for views in results for v in views)
    for rid in ids:
        timeline = await seeded_store.requests.timeline(rid)
        assert [e.payload.get("to") for e in timeline.entries if e.action == "transition"] == ["accepted"]
    assert (await seeded_store.verify_audit()).ok
