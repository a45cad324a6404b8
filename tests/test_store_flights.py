"""Flights, legs and commands in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatch.lifecycle import InvalidTransition, RequestState
from dispatch.store import (
    Conflict,
    Intake,
    InvalidInput,
    NewFlight,
    NewLeg,
    NewRequest,
    NotFound,
    Place,
    Store,
    open_store,
)
from dispatch.store.directory import load_pads
from fleet.description import load_fleet
from tests.db_fixtures import EXAMPLES

PORT = [114.3955, 36.1052]
SERVICE_CENTRE = Place(114.3968, 36.1043, "service-centre")
ZHANGDE_ROAD = Place(114.416, 36.1115, "zhangde-road")
ETA = datetime(2026, 12, 1, 0, 10, tzinfo=UTC)


async def accepted_request(store: Store) -> str:
    new = NewRequest("service-centre", SERVICE_CENTRE, ZHANGDE_ROAD, 0.4)
    return (await store.requests.create(new, actor="office", intake=Intake(True))).request.id


def flight(mission_id: str, request_id: str, drone: str = "D01") -> NewFlight:
    return NewFlight(
        mission_id=mission_id,
        drone_id=drone,
        request_ids=(request_id,),
        plan={"energy_wh": 41.5, "distance_m": 4210.0},
        legs=(
            NewLeg("pickup", [PORT, [114.3968, 36.1043]], request_id, "service-centre", 150.2, ETA),
            NewLeg(
                "dropoff", [[114.3968, 36.1043], [114.405, 36.107], [114.416, 36.1115, 120.0]], request_id
            ),
            NewLeg("return", [[114.416, 36.1115], PORT], None, "port-service-centre", 1900.0),
        ),
    )


async def test_flight_round_trip_plans_its_requests(seeded_store: Store) -> None:
    store = seeded_store
    rid = await accepted_request(store)
    recorded = await store.flights.record(flight("M1", rid), actor="dispatcher")
    got = await store.flights.get("M1")
    assert got == recorded
    assert got.drone_id == "D01" and got.state == "planned" and got.request_ids == (rid,)
    assert got.plan == {"energy_wh": 41.5, "distance_m": 4210.0}
    assert [(leg.seq, leg.action, leg.request_id, leg.stop_id) for leg in got.legs] == [
        (0, "pickup", rid, "service-centre"),
        (1, "dropoff", rid, None),
        (2, "return", None, "port-service-centre"),
    ]
    assert got.legs[1].waypoints == [[114.3968, 36.1043], [114.405, 36.107], [114.416, 36.1115, 120.0]]
    assert got.legs[0].eta == ETA and got.legs[0].eta.utcoffset() == timedelta(0)
    assert got.legs[0].distance_m == 150.2 and got.legs[1].distance_m is None
    assert (await store.requests.get(rid)).state == RequestState.PLANNED
    timeline = await store.requests.timeline(rid)
    assert timeline.entries[-1].payload["details"] == {"mission_id": "M1", "drone_id": "D01"}
    assert [f.mission_id for f in await store.flights.carrying(rid)] == ["M1"]
    assert (await store.verify_audit()).ok


async def test_a_flight_is_all_or_nothing(seeded_store: Store) -> None:
    store = seeded_store
    rid = await accepted_request(store)
    submitted = (
        await store.requests.create(
            NewRequest("service-centre", SERVICE_CENTRE, ZHANGDE_ROAD, 0.2), actor="o"
        )
    ).request
    bad = NewFlight("M2", "D01", legs=flight("M2", rid).legs, request_ids=(rid, submitted.id))
    count = (await store.verify_audit()).count
    with pytest.raises(InvalidTransition, match="cannot go from submitted to planned"):
        await store.flights.record(bad, actor="dispatcher")
    with pytest.raises(NotFound):
        await store.flights.get("M2")
    assert (await store.requests.get(rid)).state == RequestState.ACCEPTED
    assert (await store.verify_audit()).count == count
    await store.flights.record(flight("M2", rid), actor="dispatcher")
    with pytest.raises(Conflict, match="already recorded"):
        await store.flights.record(flight("M2", rid), actor="dispatcher")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drone_id": "D99"}, "unknown drone 'D99'"),
        ({"legs": ()}, "at least one leg"),
        ({"legs": (NewLeg("transit", [PORT]),)}, "at least two"),
        ({"legs": (NewLeg("hover", [PORT, PORT]),)}, "action must be one of"),
        (
            {"legs": (NewLeg("pickup", [PORT, [114.34, float("nan")]], "x"),)},
            "not among the flight's request_ids",
        ),
        ({"legs": (NewLeg("transit", [PORT, [114.34, float("inf")]]),)}, "non-finite"),
        ({"legs": (NewLeg("dropoff", [PORT, PORT]),)}, "must name its request_id"),
    ],
)
async def test_bad_flights_are_refused(seeded_store: Store, change: dict[str, object], message: str) -> None:
    rid = await accepted_request(seeded_store)
    base = flight("M3", rid)
    fields = {f: getattr(base, f) for f in ("mission_id", "drone_id", "legs", "request_ids", "plan")} | change
    with pytest.raises(InvalidInput, match=message):
        await seeded_store.flights.record(NewFlight(**fields), actor="d")
    assert (await seeded_store.requests.get(rid)).state == RequestState.ACCEPTED


async def test_flight_transitions_are_checked_and_active_list_follows(seeded_store: Store) -> None:
    store = seeded_store
    a, b = await accepted_request(store), await accepted_request(store)
    await store.flights.record(flight("MA", a, "D01"), actor="d")
    await store.flights.record(flight("MB", b, "D04"), actor="d")
    assert (await store.flights.transition("MA", "commanded", actor="d")).state == "commanded"
    with pytest.raises(InvalidInput, match="with acknowledge"):
        await store.flights.transition("MA", "acked", actor="d")
    assert (await store.flights.acknowledge("MA", actor="d")).state == "acked"
    assert (await store.flights.transition("MA", "flying", actor="d")).state == "flying"
    with pytest.raises(InvalidTransition, match="cannot go from flying to planned"):
        await store.flights.transition("MA", "planned", actor="d")
    with pytest.raises(InvalidInput, match="with abort"):
        await store.flights.transition("MB", "aborted", actor="d")
    await store.flights.abort("MB", actor="d", reason="battery")
    assert [f.mission_id for f in await store.flights.list_active()] == ["MA"]
    assert [f.mission_id for f in await store.flights.list_active(drone_id="D04")] == []
    await store.flights.transition("MA", "completed", actor="d")
    assert await store.flights.list_active() == []
    with pytest.raises(NotFound):
        await store.flights.transition("nope", "commanded", actor="d")
    assert (await store.verify_audit()).ok


async def test_commands_are_idempotent_by_cmd_id(seeded_store: Store) -> None:
    store = seeded_store
    rid = await accepted_request(store)
    await store.flights.record(flight("M1", rid), actor="d")
    first = await store.flights.record_command(
        cmd_id="c-1", drone_id="D01", kind="mission", payload={"mission_id": "M1", "legs": 3}, mission_id="M1"
    )
    again = await store.flights.record_command(
        cmd_id="c-1", drone_id="D01", kind="mission", payload={"ignored": True}, mission_id="M1"
    )
    assert first.created and not again.created and again.command == first.command
    assert again.command.payload == {"mission_id": "M1", "legs": 3}
    with pytest.raises(Conflict, match="already recorded as mission"):
        await store.flights.record_command(
            cmd_id="c-1", drone_id="D02", kind="mission", payload={}, mission_id="M1"
        )
    assert [c.cmd_id for c in await store.flights.pending_commands()] == ["c-1"]

    sent = await store.flights.mark_command_sent("c-1")
    resent = await store.flights.mark_command_sent("c-1")
    assert sent.sent_at is not None and resent.sent_at == sent.sent_at
    acked = await store.flights.mark_command_acked("c-1", "ack", "accepted")
    assert acked.result == "ack" and acked.acked_at is not None and acked.acked_at.utcoffset() == timedelta(0)
    assert await store.flights.mark_command_acked("c-1", "ack") == acked
    with pytest.raises(Conflict, match="already answered ack"):
        await store.flights.mark_command_acked("c-1", "nack")
    assert await store.flights.pending_commands() == []
    assert (await store.flights.get("M1")).commands == (acked,)
    assert await store.flights.get_command("c-1") == acked

    await store.flights.record_command(cmd_id="c-2", drone_id="D02", kind="return_home", payload={})
    assert [c.cmd_id for c in await store.flights.pending_commands(drone_id="D02")] == ["c-2"]
    with pytest.raises(InvalidInput, match="'ack' or 'nack'"):
        await store.flights.mark_command_acked("c-2", "maybe")
    with pytest.raises(InvalidInput, match="unknown drone"):
        await store.flights.record_command(cmd_id="c-3", drone_id="D99", kind="x", payload={})
    with pytest.raises(NotFound):
        await store.flights.mark_command_sent("c-404")


async def test_concurrent_records_of_one_cmd_id_make_one_command(seeded_store: Store) -> None:
    results = await asyncio.gather(
        *(
            seeded_store.flights.record_command(cmd_id="same", drone_id="D01", kind="ping", payload={"n": 1})
            for _ in range(5)
        )
    )
    assert sum(r.created for r in results) == 1
    assert all(r.command == results[0].command for r in results)
    assert [c.cmd_id for c in await seeded_store.flights.pending_commands()] == ["same"]


async def test_acknowledge_dispatches_the_planned_requests(seeded_store: Store) -> None:
    store = seeded_store
    a, b = await accepted_request(store), await accepted_request(store)
    await store.flights.record(
        NewFlight("M1", "D01", legs=flight("M1", a).legs, request_ids=(a, b)), actor="dispatcher"
    )
    await store.requests.transition(b, "cancelled", actor="office", details={"reason": "sent by hand"})
    with pytest.raises(InvalidTransition, match="cannot go from planned to acked"):
        await store.flights.acknowledge("M1", actor="dispatcher")
    await store.flights.transition("M1", "commanded", actor="dispatcher")
    acked = await store.flights.acknowledge("M1", actor="dispatcher", cmd_id="c-9")
    assert acked.state == "acked"
    assert (await store.requests.get(a)).state == "dispatched"
    assert (await store.requests.get(b)).state == "cancelled"
    last = (await store.requests.timeline(a)).entries[-1]
    assert last.payload == {
        "from": "planned",
        "to": "dispatched",
        "details": {"mission_id": "M1", "drone_id": "D01", "cmd_id": "c-9"},
    }


async def test_abort_sends_requests_not_yet_picked_up_back_for_re_planning(seeded_store: Store) -> None:
    store = seeded_store
    a, b = await accepted_request(store), await accepted_request(store)
    await store.flights.record(
        NewFlight("M1", "D01", legs=flight("M1", a).legs, request_ids=(a, b)), actor="dispatcher"
    )
    await store.flights.transition("M1", "commanded", actor="dispatcher")
    await store.flights.acknowledge("M1", actor="dispatcher")
    await store.requests.transition(a, "picked_up", actor="drone:D01")
    count = (await store.verify_audit()).count
    with pytest.raises(InvalidInput, match="needs a reason"):
        await store.flights.abort("M1", actor="dispatcher", reason="")
    aborted = await store.flights.abort("M1", actor="dispatcher", reason="motor fault")
    assert aborted.state == "aborted"
    assert (await store.requests.get(a)).state == "picked_up"
    back = await store.requests.get(b)
    assert back.state == "accepted" and back.state_reason == "motor fault"
    assert (await store.verify_audit()).count == count + 2
    with pytest.raises(InvalidTransition, match="cannot go from aborted"):
        await store.flights.abort("M1", actor="dispatcher", reason="again")


async def test_flight_history_is_in_the_audit_log(seeded_store: Store) -> None:
    rid = await accepted_request(seeded_store)
    await seeded_store.flights.record(flight("M1", rid), actor="dispatcher")
    await seeded_store.flights.transition("M1", "commanded", actor="dispatcher", details={"cmd_id": "c-1"})
    history = await seeded_store.history("flight", "M1")
    assert [e.action for e in history] == ["planned", "transition"]
    assert history[0].payload == {"drone_id": "D01", "request_ids": [rid], "legs": 3}
    assert history[1].payload == {"from": "planned", "to": "commanded", "details": {"cmd_id": "c-1"}}
    assert await seeded_store.history("flight", "nope") == ()


async def test_a_restarted_dispatcher_finds_what_was_already_acted_on(db_url: str) -> None:
    """Close the store mid-mission and open it again: flights, pending commands and states are all there."""
    first = await open_store(db_url)
    try:
        fleet, pads = load_fleet(EXAMPLES / "fleet.json"), load_pads(EXAMPLES / "pads.json")
        await first.directory.seed(fleet, pads, actor="t")
        rid = await accepted_request(first)
        await first.flights.record(flight("M1", rid), actor="dispatcher")
        await first.flights.record_command(
            cmd_id="c-1", drone_id="D01", kind="mission", payload={}, mission_id="M1"
        )
        await first.flights.mark_command_sent("c-1")
        await first.flights.transition("M1", "commanded", actor="dispatcher")
    finally:
        await first.close()

    second = await open_store(db_url)
    try:
        [active] = await second.flights.list_active()
        assert active.mission_id == "M1" and active.state == "commanded" and active.request_ids == (rid,)
        [pending] = await second.flights.pending_commands()
        assert pending.cmd_id == "c-1" and pending.sent_at is not None and pending.acked_at is None
        again = await second.flights.record_command(
            cmd_id="c-1", drone_id="D01", kind="mission", payload={}, mission_id="M1"
        )
        assert not again.created and again.command.sent_at == pending.sent_at
        assert (await second.requests.get(rid)).state == "planned"
        assert (await second.verify_audit()).ok
    finally:
        await second.close()


async def test_aborts_racing_cancellations_neither_deadlock_nor_fork_the_chain(seeded_store: Store) -> None:
    """Flight writers lock flight -> requests -> audit head, request writers request -> head: no cycles."""
    store = seeded_store
    missions = []
    for n in range(6):
        a, b = await accepted_request(store), await accepted_request(store)
        mission = f"M{n}"
        await store.flights.record(NewFlight(mission, "D01", flight(mission, a).legs, (a, b)), actor="d")
        missions.append((mission, a, b))
    before = (await store.verify_audit()).count
    jobs: list[Coroutine[Any, Any, object]] = []
    for mission, a, b in missions:
        jobs.append(store.flights.abort(mission, actor="dispatcher", reason="wind"))
        jobs.append(store.requests.transition(b, "cancelled", actor="office", details={"reason": "by hand"}))
        jobs.append(store.requests.transition(a, "cancelled", actor="office", details={"reason": "by hand"}))
    await asyncio.gather(*jobs)  # every one of these is allowed in any order, so none may fail
    moved_back = 0
    for mission, a, b in missions:
        assert (await store.flights.get(mission)).state == "aborted"
        for rid in (a, b):
            timeline = await store.requests.timeline(rid)
            assert timeline.request.state == "cancelled"
            moved_back += sum(e.seq > before and e.payload.get("to") == "accepted" for e in timeline.entries)
    report = await store.verify_audit()
    assert report.ok and report.count == before + len(missions) * 3 + moved_back


async def test_one_mission_id_recorded_twice_at_once_is_a_conflict(seeded_store: Store) -> None:
    a, b = await accepted_request(seeded_store), await accepted_request(seeded_store)
    results = await asyncio.gather(
        seeded_store.flights.record(flight("M1", a), actor="d"),
        seeded_store.flights.record(flight("M1", b), actor="d"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    states = sorted([(await seeded_store.requests.get(a)).state, (await seeded_store.requests.get(b)).state])
    assert states == ["accepted", "planned"]
