"""Requests in the store, on SQLite and PostgreSQL: filing, intake, transitions with audit, codes."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatch.lifecycle import REQUEST_TRANSITIONS, InvalidTransition, RequestState, required_details
from dispatch.store import Conflict, Forbidden, Intake, InvalidInput, NotFound, Place, Store
from tests.db_fixtures import AREA_TZ, SERVICE_CENTRE, audit_count, new_request

R = RequestState


async def test_create_get_and_list(seeded_store: Store) -> None:
    store = seeded_store
    a = (await store.requests.create(new_request(), actor="office:service-centre")).request
    b = (await store.requests.create(new_request(office="tax-bureau"), actor="office:tax-bureau")).request
    c = (
        await store.requests.create(new_request(), actor="office:service-centre", intake=Intake(True))
    ).request
    assert a.state == "submitted" and c.state == "accepted"
    got = await store.requests.get(a.id)
    assert got == a
    assert got.pickup == SERVICE_CENTRE and got.weight_kg == 0.3 and got.description == "business licence"
    assert got.deadline == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert [r.id for r in await store.requests.list(office_id="service-centre")] == [a.id, c.id]
    assert [r.id for r in await store.requests.list(states=["submitted"])] == [a.id, b.id]
    assert [r.id for r in await store.requests.list(office_id="service-centre", states=["accepted"])] == [
        c.id
    ]
    first = await store.requests.list(limit=2)
    rest = await store.requests.list(limit=2, after_id=first[-1].id)
    assert [r.id for r in first + rest] == [a.id, b.id, c.id]
    with pytest.raises(NotFound):
        await store.requests.get("req_missing")
    with pytest.raises(InvalidInput, match="unknown request state"):
        await store.requests.list(states=["lost"])


async def test_times_come_back_timezone_aware_utc(seeded_store: Store) -> None:
    req = (await seeded_store.requests.create(new_request(), actor="t")).request
    got = await seeded_store.requests.get(req.id)
    for moment in (got.ready_at, got.deadline, got.created_at, got.updated_at):
        assert moment is not None and moment.utcoffset() == timedelta(0)
    assert got.ready_at == datetime(2026, 12, 1, 9, 0, tzinfo=AREA_TZ)


async def test_intake_rejection_is_recorded_with_its_reason(seeded_store: Store) -> None:
    created = await seeded_store.requests.create(
        new_request(),
        actor="dispatcher",
        intake=Intake(False, "dropoff inside no-fly zone", {"zone": "radar"}),
    )
    req = created.request
    assert req.state == "rejected" and req.state_reason == "dropoff inside no-fly zone"
    assert req.intake == {
        "accepted": False,
        "reason": "dropoff inside no-fly zone",
        "details": {"zone": "radar"},
    }
    timeline = await seeded_store.requests.timeline(req.id)
    assert [e.action for e in timeline.entries] == ["submitted", "transition"]
    assert timeline.entries[1].payload == {
        "from": "submitted",
        "to": "rejected",
        "details": {"zone": "radar", "reason": "dropoff inside no-fly zone"},
    }
    with pytest.raises(InvalidInput, match="needs a reason"):
        await seeded_store.requests.create(new_request(), actor="d", intake=Intake(False))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"office_id": "nowhere"}, "unknown office 'nowhere'"),
        ({"weight_kg": 0}, "weight_kg must be a finite number > 0"),
        ({"weight_kg": float("nan")}, "weight_kg must be a finite number > 0"),
        ({"priority": "whenever"}, "priority must be one of"),
        ({"pickup": Place(200.0, 37.0)}, r"pickup.lon 200.0 is out of range"),
        ({"dropoff": Place(114.34, 36.11, "no-such-pad")}, "dropoff.pad_id names unknown pad"),
        ({"dropoff": Place(114.34, 36.11, "zhangde-road")}, "is not where pad 'zhangde-road' is"),
        ({"deadline": datetime(2026, 12, 1, 8, 0, tzinfo=AREA_TZ)}, "is not after ready_at"),
        ({"ready_at": datetime(2026, 12, 1, 9, 0)}, "ready_at must be timezone-aware"),
    ],
)
async def test_bad_requests_are_refused_and_nothing_is_written(
    seeded_store: Store, changes: dict[str, Any], message: str
) -> None:
    before = await audit_count(seeded_store)
    with pytest.raises(InvalidInput, match=message):
        await seeded_store.requests.create(replace(new_request(), **changes), actor="t")
    assert await seeded_store.requests.list() == []
    assert await audit_count(seeded_store) == before


def _walks() -> list[list[RequestState]]:
    """State paths from submitted that together use every allowed transition."""
    return [
        [R.SUBMITTED, R.ACCEPTED, R.PLANNED, R.DISPATCHED, R.PICKED_UP, R.DELIVERED],
        [R.SUBMITTED, R.REJECTED],
        [R.SUBMITTED, R.CANCELLED],
        [R.SUBMITTED, R.ACCEPTED, R.CANCELLED],
        [R.SUBMITTED, R.ACCEPTED, R.PLANNED, R.CANCELLED],
        [R.SUBMITTED, R.ACCEPTED, R.PLANNED, R.ACCEPTED, R.PLANNED, R.DISPATCHED, R.CANCELLED],
        [R.SUBMITTED, R.ACCEPTED, R.PLANNED, R.DISPATCHED, R.ACCEPTED],
        [R.SUBMITTED, R.ACCEPTED, R.PLANNED, R.DISPATCHED, R.PICKED_UP, R.FAILED, R.RETURNED],
        [R.SUBMITTED, R.ACCEPTED, R.UNSERVED],
        [R.SUBMITTED, R.ACCEPTED, R.PLANNED, R.UNSERVED],
    ]


def test_the_walks_cover_every_allowed_transition() -> None:
    used = {(a, b) for walk in _walks() for a, b in itertools.pairwise(walk)}
    assert used == {(s, d) for s, targets in REQUEST_TRANSITIONS.items() for d in targets}


def _details(src: RequestState, dst: RequestState) -> dict[str, object]:
    values = {
        "reason": f"{src}->{dst}",
        "drone_id": "D01",
        "lon": 114.416,
        "lat": 36.1115,
        "location": "service-centre",
    }
    return {k: values[k] for k in required_details(src, dst)}


async def test_every_allowed_transition_is_stored_and_audited(seeded_store: Store) -> None:
    store = seeded_store
    for walk in _walks():
        req = (await store.requests.create(new_request(), actor="office")).request
        for src, dst in itertools.pairwise(walk):
            before = req.updated_at
            req = await store.requests.transition(req.id, dst, actor="dispatcher", details=_details(src, dst))
            assert req.state == dst and req.updated_at >= before
        timeline = await store.requests.timeline(req.id)
        assert [(e.payload["from"], e.payload["to"]) for e in timeline.entries[1:]] == list(
            itertools.pairwise(walk)
        )
        assert all(e.actor == "dispatcher" for e in timeline.entries[1:])
    assert (await store.verify_audit()).ok


@pytest.mark.parametrize(
    ("walk", "forbidden"),
    [
        ([], R.PLANNED),
        ([], R.DELIVERED),
        ([R.ACCEPTED], R.DISPATCHED),
        ([R.ACCEPTED, R.PLANNED, R.DISPATCHED, R.PICKED_UP], R.CANCELLED),
        ([R.ACCEPTED, R.PLANNED, R.DISPATCHED, R.PICKED_UP], R.ACCEPTED),
        ([R.REJECTED], R.ACCEPTED),
        ([R.CANCELLED], R.SUBMITTED),
    ],
)
async def test_forbidden_transitions_raise_and_write_nothing(
    seeded_store: Store, walk: list[RequestState], forbidden: RequestState
) -> None:
    store = seeded_store
    req = (await store.requests.create(new_request(), actor="office")).request
    state = R.SUBMITTED
    for dst in walk:
        req = await store.requests.transition(req.id, dst, actor="d", details=_details(state, dst))
        state = dst
    before = await audit_count(store)
    with pytest.raises(InvalidTransition, match=f"cannot go from {state} to {forbidden}"):
        await store.requests.transition(req.id, forbidden, actor="d", details={"reason": "try"})
    assert (await store.requests.get(req.id)).state == state
    assert await audit_count(store) == before


async def test_missing_details_and_stale_expectations_write_nothing(seeded_store: Store) -> None:
    store = seeded_store
    req = (await store.requests.create(new_request(), actor="office")).request
    before = await audit_count(store)
    with pytest.raises(InvalidTransition, match="requires detail"):
        await store.requests.transition(req.id, R.REJECTED, actor="d")
    with pytest.raises(Conflict, match="is submitted, not accepted"):
        await store.requests.transition(req.id, R.PLANNED, actor="d", expected_state="accepted")
    with pytest.raises(NotFound):
        await store.requests.transition("req_missing", R.ACCEPTED, actor="d")
    assert await audit_count(store) == before
    assert (await store.requests.get(req.id)).state == R.SUBMITTED


async def test_idempotency_key_returns_the_same_request(seeded_store: Store) -> None:
    store = seeded_store
    first = await store.requests.create(new_request(key="k-1"), actor="office")
    count = await audit_count(store)
    again = await store.requests.create(new_request(key="k-1"), actor="office")
    assert first.created and not again.created
    assert again.request == first.request
    assert await audit_count(store) == count
    other_office = await store.requests.create(new_request(office="tax-bureau", key="k-1"), actor="office")
    assert other_office.created and other_office.request.id != first.request.id
    with pytest.raises(Conflict, match="with a different body"):
        await store.requests.create(new_request(key="k-1", weight_kg=1.5), actor="office")
    assert len(await store.requests.list()) == 2


async def test_concurrent_retries_with_one_key_create_one_request(seeded_store: Store) -> None:
    results = await asyncio.gather(
        *(seeded_store.requests.create(new_request(key="race"), actor="office") for _ in range(6))
    )
    assert sum(r.created for r in results) == 1
    assert len({r.request.id for r in results}) == 1
    assert len(await seeded_store.requests.list()) == 1
    assert (await seeded_store.verify_audit()).ok


async def test_codes_are_six_digits_shown_only_to_the_filing_office(seeded_store: Store) -> None:
    store = seeded_store
    req = (await store.requests.create(new_request(), actor="office")).request
    codes = await store.requests.codes_for_office(req.id, "service-centre")
    assert len(codes.pickup_code) == 6 and codes.pickup_code.isdigit()
    assert len(codes.recipient_code) == 6 and codes.recipient_code.isdigit()
    assert await store.requests.codes_for_mission(req.id) == codes
    with pytest.raises(Forbidden):
        await store.requests.codes_for_office(req.id, "tax-bureau")
    assert await store.requests.verify_code(req.id, "recipient", codes.recipient_code)
    wrong = f"{(int(codes.recipient_code) + 1) % 1_000_000:06d}"
    assert not await store.requests.verify_code(req.id, "recipient", wrong)
    timeline = await store.requests.timeline(req.id)
    assert codes.recipient_code not in repr(timeline.entries)
    assert not hasattr(req, "recipient_code")


async def test_concurrent_transitions_do_not_fork_the_chain(seeded_store: Store) -> None:
    """20 transitions from separate sessions at once: one linear chain, every entry verifies."""
    store = seeded_store
    ids = [(await store.requests.create(new_request(), actor="office")).request.id for _ in range(20)]
    before = await audit_count(store)
    results = await asyncio.gather(*(store.requests.transition(i, R.ACCEPTED, actor="intake") for i in ids))
    assert all(r.state == R.ACCEPTED for r in results)
    report = await store.verify_audit()
    assert report.ok, report.problem
    assert report.count == before + 20
    racing = await asyncio.gather(
        *(store.requests.transition(ids[0], R.PLANNED, actor="planner") for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in racing) == 1
    assert all(isinstance(r, InvalidTransition) for r in racing if isinstance(r, BaseException))
    assert (await store.verify_audit()).count == before + 21


async def test_details_without_a_canonical_form_are_refused(seeded_store: Store) -> None:
    req = (await seeded_store.requests.create(new_request(), actor="office")).request
    with pytest.raises(InvalidInput, match="no canonical JSON form"):
        await seeded_store.requests.transition(req.id, R.ACCEPTED, actor="d", details={"score": float("nan")})
    assert (await seeded_store.requests.get(req.id)).state == R.SUBMITTED


async def test_intake_recorded_after_filing(seeded_store: Store) -> None:
    store = seeded_store
    req = (await store.requests.create(new_request(), actor="office")).request
    accepted = await store.requests.record_intake(
        req.id, Intake(True, details={"distance_m": 2210.5}), actor="intake"
    )
    assert accepted.state == R.ACCEPTED
    assert accepted.intake == {"accepted": True, "reason": None, "details": {"distance_m": 2210.5}}
    with pytest.raises(InvalidTransition, match="cannot go from accepted to rejected"):
        await store.requests.record_intake(req.id, Intake(False, "too heavy"), actor="intake")
    assert (await store.requests.get(req.id)).intake == accepted.intake
    with pytest.raises(InvalidInput, match="needs a reason"):
        await store.requests.record_intake(req.id, Intake(False), actor="intake")
