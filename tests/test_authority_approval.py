"""Approval mode against a real HTTP receiver: the answer's reading, polling and timeout, the settings'
policy, and the real dispatcher's flights through a controlled zone (approved and flown, denied and
planned around it or given up, no answer) and outside any (no approval asked)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from shapely.geometry import LineString

from airspace.paths import Airspace
from airspace.zones import load_zones, parse_zones
from dispatch.api.metrics import _Text, approval_metrics
from dispatch.authority.approval import HttpApprover, read_answer
from dispatch.authority.wiring import authority_approvals
from dispatch.harness import SIM_START, System, pads, request, running_system
from dispatch.sample_area import SAMPLE_DIR
from dispatch.service.approvals import ApprovalRequest, mission_legs
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.missions import MissionSpec
from dispatch.service.operations import cancel_request
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import DispatcherSettings, SettingsError, add_settings_arguments, load_settings
from dispatch.settings.model import AuthoritySettings
from dispatch.store import Store
from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from routing.controlled import controlled_airspace
from tests.authority_receiver import Receiver

T0 = datetime.fromisoformat("2026-12-05T08:00:00+00:00")
CTL = "ctl-test"
# The sample fleet's cruise layers reach 140 m, above the default 120 m ceiling: a ceiling above
# them leaves the controlled zone as the only reason to ask.
ABOVE_LAYERS_M = 150.0
PICKUP, DROPOFF = "service-centre", "zhangde-road"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    if r._server is not None:
        r.stop()


def ask(flight: str = "F1") -> ApprovalRequest:
    (zone,) = parse_zones(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [114.40, 36.10]},
                    "properties": {"id": "ctl-1", "kind": "controlled", "radius_m": 300, "ceiling_m": 300},
                }
            ],
        }
    )
    return ApprovalRequest(
        flight_id=flight,
        drone_id="D1",
        waypoints=((114.39, 36.10, 120.0), (114.41, 36.10, 120.0)),
        depart=T0,
        arrive=T0 + timedelta(minutes=5),
        end_port="P1",
        intent=None,
        zones=(zone,),
        above_ceiling_m=None,
        ceiling_m=120.0,
    )


def approver(receiver: Receiver, timeout_s: float = 20.0) -> HttpApprover:
    return HttpApprover(
        receiver.url, SharedClock.starting_now(1.0, T0), operator="op-1", timeout_s=timeout_s, poll_s=0.02
    )


# --- the answer -------------------------------------------------------------------------------


def test_an_answer_is_a_decision_for_the_flight() -> None:
    assert read_answer("F1", 200, {"flight_id": "F1", "decision": "approved", "reason": None}) is not None
    denied = read_answer("F1", 200, {"flight_id": "F1", "decision": "denied", "reason": "exercise"})
    assert denied is not None and (denied.decision, denied.reason) == ("denied", "exercise")
    for status, body in [
        (200, {"flight_id": "F1", "decision": "pending"}),  # not decided yet: ask again
        (200, {"flight_id": "F2", "decision": "approved"}),  # another flight's answer
        (200, {"flight_id": "F1", "decision": "yes"}),  # not a decision
        (200, None),
        (503, {"flight_id": "F1", "decision": "approved"}),
        (429, None),
    ]:
        assert read_answer("F1", status, body) is None, (status, body)
    refused = read_answer("F1", 400, None)
    assert refused is not None and refused.decision == "denied" and "HTTP 400" in (refused.reason or "")


async def test_a_pending_answer_is_asked_again_with_the_same_key_until_decided(receiver: Receiver) -> None:
    def decide(body: dict[str, Any]) -> tuple[str, str | None]:
        return ("approved", "ok") if len(receiver.asked) >= 3 else ("pending", None)

    receiver.decide = decide
    a = approver(receiver)
    try:
        answer = await a.ask(ask())
    finally:
        await a.aclose()
    assert (answer.decision, answer.reason) == ("approved", "ok")
    assert receiver.attempts["F1:approval"] == 3 and len(receiver.asked) == 3
    body = receiver.asked[0]
    assert body["type"] == "approval_request" and body["flight_id"] == "F1" and body["operator"] == "op-1"
    assert body["controlled_zones"] == [{"id": "ctl-1", "reason": "", "floor_dm": 0, "ceiling_dm": 3000}]
    assert body["above_ceiling"] is None
    assert body["route"][0] == {
        "lon_e7": 1143900000,
        "lat_e7": 361000000,
        "height_dm": 1200,
        "altitude_dm": 1200,
    }
    assert body["planned_departure"] == T0.isoformat()
    assert all(b == body for b in receiver.asked[1:])  # the same request each time (filed_at too)


async def test_a_refusal_is_a_denial_and_no_answer_is_a_timeout(receiver: Receiver) -> None:
    receiver.reject.add("F2:approval")
    a = approver(receiver, timeout_s=0.5)
    try:
        refused = await a.ask(ask("F2"))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        silent = await a.ask(ask("F3"))  # the receiver keeps answering pending
        waited = loop.time() - t0
    finally:
        await a.aclose()
    assert refused.decision == "denied" and receiver.attempts["F2:approval"] == 1
    assert silent.decision == "timeout" and receiver.attempts["F3:approval"] >= 2
    assert 0.5 <= waited < 5.0


async def test_an_unreachable_authority_is_no_answer(receiver: Receiver) -> None:
    receiver.stop()
    a = approver(receiver, timeout_s=0.3)
    try:
        assert (await a.ask(ask())).decision == "timeout"
    finally:
        await a.aclose()


@pytest.mark.parametrize("command", ["run", "serve"])
def test_approval_mode_needs_an_http_receiver(command: str) -> None:
    def load(argv: list[str]) -> Any:
        parser = argparse.ArgumentParser()
        add_settings_arguments(parser, command)
        return load_settings(parser.parse_args(["--insecure-unsigned-fleet", *argv]), command, environ={})

    assert load([]).authority.approval == "off"
    on = load(["--authority-report", "https://uom.example/api", "--authority-approval", "required"]).authority
    assert (on.approval, on.approval_timeout_s, on.approval_on_timeout) == ("required", 60.0, "deny")
    with pytest.raises(SettingsError, match="file:PATH sink cannot approve"):
        load(["--authority-report", "file:reports.jsonl", "--authority-approval", "required"])
    with pytest.raises(SettingsError, match="file:PATH sink cannot approve"):
        load(["--authority-approval", "required"])
    with pytest.raises(SettingsError, match="off or required"):
        load(["--authority-approval", "maybe"])


# --- the dispatcher ---------------------------------------------------------------------------


def controlled_circle(
    on_pad: str | None = None,
    radius_m: float = 120.0,
    *,
    at: float = 0.5,
    zone_id: str = CTL,
    kind: str = "controlled",
) -> dict[str, Any]:
    """A controlled circle over the safe path from PICKUP to DROPOFF (``at``: the fraction of its
    length; or over a pad)."""
    p = pads()
    if on_pad is not None:
        centre = (p[on_pad].lon, p[on_pad].lat)
    else:
        space = Airspace(load_zones(SAMPLE_DIR / "zones.geojson"))
        a, b = (p[PICKUP].lon, p[PICKUP].lat), (p[DROPOFF].lon, p[DROPOFF].lat)
        path = space.shortest_path(a, b, altitude_m=120, at=SIM_START)
        assert space.frame is not None
        line = space.frame.points_to_xy(path.waypoints)
        mid = LineString(line).interpolate(at, normalized=True)
        lon, lat = space.frame.to_lonlat(mid.x, mid.y)
        centre = (float(lon), float(lat))
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(centre)},
        "properties": {"id": zone_id, "kind": kind, "radius_m": radius_m, "reason": "test zone"},
    }


@contextlib.asynccontextmanager
async def approval_system(
    store: Store,
    broker: BrokerAddress,
    prefix: str,
    pool: SolverPool,
    receiver: Receiver,
    *,
    timeout_s: float = 30.0,
    zone: dict[str, Any] | None = None,
    ceiling_m: float | None = ABOVE_LAYERS_M,
) -> AsyncIterator[tuple[System, HttpApprover]]:
    """The running system in approval mode, with a controlled zone (by default over the middle of
    the path from PICKUP to DROPOFF), the ceiling ``ceiling_m`` (None: the fleet's)."""
    async with running_system(store, broker, prefix, pool=pool) as system:
        d = system.dispatcher
        a = HttpApprover(receiver.url, system.clock, operator="op-anyang", timeout_s=timeout_s, poll_s=0.02)
        d.approvals.configure(a, ceiling_m=ceiling_m)
        try:
            await d.add_zone(zone or controlled_circle(), actor="operator")
            yield system, a
        finally:
            d.approvals.configure(None)
            await a.aclose()


async def deliver(
    system: System, src: str = PICKUP, dst: str = DROPOFF, *, final: str = "delivered", rid: str | None = None
) -> str:
    """File a request (or follow ``rid``, filed already) until it is final and off every flight."""
    d, store = system.dispatcher, system.store
    if rid is None:
        view = await d.submit(request(src, dst))
        assert view.state == "accepted", view.intake
    else:
        view = await store.requests.get(rid)

    async def done() -> bool:
        return (await store.requests.get(view.id)).state in ("delivered", "unserved", "failed") and not [
            f for f in await store.flights.list_active() if view.id in f.request_ids
        ]

    await d.wait_until(done, timeout_s=90)
    got = await store.requests.get(view.id)
    assert got.state == final, (got.state, got.state_reason)
    return view.id


def entered(plan: dict[str, Any], zones: list[Any]) -> tuple[str, ...]:
    """The controlled zones a stored flight plan enters."""
    spec = MissionSpec(
        "M",
        "D",
        tuple(tuple(w) for w in plan["waypoints"]),  # type: ignore[misc]
        (),
        plan["end_port"],
        datetime.fromisoformat(plan["depart"]),
        datetime.fromisoformat(plan["arrive"]),
    )
    return controlled_airspace(mission_legs(spec), zones).zone_ids


async def test_a_flight_through_a_controlled_zone_flies_once_approved(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    receiver.decide = lambda body: ("approved", "cleared by the tower")
    async with approval_system(store, broker, prefix, solver_pool, receiver) as (system, _):
        rid = await deliver(system)
        controlled = list(system.dispatcher.picture.controlled)
        assert len(receiver.asked) == 1
        other = await deliver(system, "market-bureau", "tax-bureau")
        breaches = list(system.sim.breaches)
        out = _Text()
        approval_metrics(out, system.dispatcher.approvals.stats)
    text = "\n".join(out.lines)
    assert 'dronedispatch_authority_approvals_total{outcome="asked"} 1' in text
    assert 'dronedispatch_authority_approvals_total{outcome="approved"} 1' in text
    assert 'dronedispatch_authority_approvals_total{outcome="denied"} 0' in text
    (flight,) = await store.flights.carrying(rid)
    assert entered(flight.plan, controlled) == (CTL,)  # it flew through the zone
    (asked,) = receiver.asked  # the second request, away from the zone, asked nothing
    assert asked["flight_id"] == flight.mission_id and asked["drone_id"] == flight.drone_id
    assert [z["id"] for z in asked["controlled_zones"]] == [CTL]
    history = await store.history("flight", flight.mission_id)
    (ok,) = [e for e in history if e.action == "authority_approved"]
    assert ok.payload["zones"] == [CTL] and ok.payload["reason"] == "cleared by the tower"
    assert [c.kind for c in flight.commands][:2] == ["UploadMission", "Start"]
    (away,) = await store.flights.carrying(other)
    assert entered(away.plan, controlled) == ()
    assert not [e for e in await store.history("flight", away.mission_id) if e.action.startswith("authority")]
    assert breaches == []  # a controlled zone entered with approval is no breach


async def test_a_denied_flight_is_not_flown_and_its_request_is_planned_around_the_zone(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    receiver.decide = lambda body: ("denied", "military exercise")
    async with approval_system(store, broker, prefix, solver_pool, receiver) as (system, _):
        rid = await deliver(system)
        controlled = list(system.dispatcher.picture.controlled)
    denied_flight, flown = sorted(await store.flights.carrying(rid), key=lambda f: f.created_at)
    assert denied_flight.state == "aborted" and denied_flight.commands == ()  # nothing reached a drone
    assert entered(denied_flight.plan, controlled) == (CTL,)
    assert flown.state == "completed" and entered(flown.plan, controlled) == ()  # around the zone
    assert [a["flight_id"] for a in receiver.asked] == [denied_flight.mission_id]  # asked once
    history = await store.history("flight", denied_flight.mission_id)
    assert [e.payload["reason"] for e in history if e.action == "authority_denied"] == ["military exercise"]
    timeline = await store.requests.timeline(rid)
    back = [e for e in timeline.entries if e.action == "transition" and e.payload["to"] == "accepted"]
    assert back[-1].payload["details"]["reason"] == "authority_denied: military exercise"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_a_denied_request_that_only_the_zone_serves_ends_unserved_with_the_reason(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    receiver.decide = lambda body: ("denied", "no flights over the station")
    zone = controlled_circle(on_pad=DROPOFF, radius_m=200.0)
    async with approval_system(store, broker, prefix, solver_pool, receiver, zone=zone) as (system, _):
        rid = await deliver(system, final="unserved")
    got = await store.requests.get(rid)
    assert got.state_reason == "authority_denied: no flights over the station"
    (flight,) = await store.flights.carrying(rid)
    assert flight.state == "aborted" and flight.commands == ()
    timeline = await store.requests.timeline(rid)
    (given_up,) = [e for e in timeline.entries if e.action == "transition" and e.payload["to"] == "unserved"]
    assert "dropoff_in_zone" in given_up.payload["details"]["detail"]


async def test_no_answer_in_time_keeps_the_flight_on_the_ground(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    # the receiver answers pending forever
    async with approval_system(store, broker, prefix, solver_pool, receiver, timeout_s=0.5) as (system, _):
        rid = await deliver(system)
        controlled = list(system.dispatcher.picture.controlled)
        stats = system.dispatcher.approvals.stats
    silent, flown = sorted(await store.flights.carrying(rid), key=lambda f: f.created_at)
    assert silent.state == "aborted" and silent.commands == ()
    assert len(receiver.asked) >= 2 and {a["flight_id"] for a in receiver.asked} == {silent.mission_id}
    history = await store.history("flight", silent.mission_id)
    assert [e.action for e in history if e.action.startswith("authority")] == ["authority_timeout"]
    timeline = await store.requests.timeline(rid)
    back = [e for e in timeline.entries if e.action == "transition" and e.payload["to"] == "accepted"]
    assert back[-1].payload["details"]["reason"] == "authority_timeout: no answer within 0.5 s"
    assert flown.state == "completed" and entered(flown.plan, controlled) == ()
    assert (stats.asked, stats.timeouts, stats.approved) == (1, 1, 0)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_a_flight_above_the_ceiling_asks_and_one_below_does_not(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    receiver.decide = lambda body: ("approved", None)
    far = controlled_circle(on_pad="industrial-park")  # away from the flights below
    async with approval_system(store, broker, prefix, solver_pool, receiver, zone=far, ceiling_m=None) as (
        system,
        _,
    ):
        ids = [await deliver(system, "market-bureau", "tax-bureau"), await deliver(system, PICKUP, DROPOFF)]
        ceiling = system.dispatcher.approvals.ceiling()
    assert ceiling == 120.0  # the fleet's
    asked = {a["flight_id"]: a for a in receiver.asked}
    for rid in ids:
        (flight,) = await store.flights.carrying(rid)
        top = max(w[2] for w in flight.plan["waypoints"])
        body = asked.get(flight.mission_id)
        assert (body is not None) == (top > ceiling), (top, body)  # asked exactly when above it
        if body is not None:
            assert body["controlled_zones"] == []
            assert body["above_ceiling"] == {"height_dm": round(top * 10), "ceiling_dm": 1200}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_with_retry_no_answer_plans_the_work_again_and_asks_again(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    def decide(body: dict[str, Any]) -> tuple[str, str | None]:
        # silent about the first two flights, then approves
        flights = list(dict.fromkeys(a["flight_id"] for a in receiver.asked))
        return ("approved", None) if len(flights) >= 3 else ("pending", None)

    receiver.decide = decide
    async with approval_system(store, broker, prefix, solver_pool, receiver, timeout_s=0.3) as (system, a):
        d = system.dispatcher
        d.approvals.configure(a, "retry", ceiling_m=ABOVE_LAYERS_M)
        rid = await deliver(system)
        controlled = list(d.picture.controlled)
        assert d.approvals.denied == {}  # nothing denied: the zone is not avoided
    flights = sorted(await store.flights.carrying(rid), key=lambda f: f.created_at)
    assert [f.state for f in flights] == ["aborted", "aborted", "completed"]
    assert all(f.commands == () for f in flights[:2])
    assert all(entered(f.plan, controlled) == (CTL,) for f in flights)  # through the zone each time
    assert list(dict.fromkeys(a["flight_id"] for a in receiver.asked)) == [f.mission_id for f in flights]


async def until(done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait for the receiver's thread to see something (a bounded poll, not a sleep)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not done():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_airspace_changed_while_waiting_is_asked_about_again(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    answer = ["pending"]
    receiver.decide = lambda body: (answer[0], None)
    async with approval_system(store, broker, prefix, solver_pool, receiver) as (system, _):
        d = system.dispatcher
        rid = (await d.submit(request(PICKUP, DROPOFF))).id
        await until(lambda: len(receiver.asked) > 0)
        (waiting,) = [m for m in d.missions.values() if m.approving]
        # a second controlled zone on its route while it waits: the approval asked for does not cover it
        await d.add_zone(controlled_circle(at=0.85, radius_m=60.0, zone_id="ctl-late"), actor="operator")
        answer[0] = "approved"
        await deliver(system, rid=rid)
    (flight,) = await store.flights.carrying(rid)
    assert flight.mission_id == waiting.mission_id and flight.state == "completed"
    keys = list(dict.fromkeys(a["report_id"] for a in receiver.asked))
    assert keys == [f"{flight.mission_id}:approval", f"{flight.mission_id}:approval:2"]
    second = next(a for a in receiver.asked if a["report_id"].endswith(":2"))
    assert sorted(z["id"] for z in second["controlled_zones"]) == sorted([CTL, "ctl-late"])
    history = await store.history("flight", flight.mission_id)
    assert len([e for e in history if e.action == "authority_approved"]) == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_a_no_fly_zone_on_the_route_while_waiting_gives_the_flight_up(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    answer = ["pending"]
    receiver.decide = lambda body: (answer[0], None)
    async with approval_system(store, broker, prefix, solver_pool, receiver) as (system, _):
        d = system.dispatcher
        rid = (await d.submit(request(PICKUP, DROPOFF))).id
        await until(lambda: len(receiver.asked) > 0)
        closed = controlled_circle(at=0.85, radius_m=60.0, zone_id="nfz-late", kind="no_fly")
        await d.add_zone(closed, actor="operator")
        (nfz,) = parse_zones({"type": "FeatureCollection", "features": [closed]})
        system.watch_zone(nfz)
        answer[0] = "approved"
        await deliver(system, rid=rid)
        breaches = list(system.sim.breaches)
    given_up, flown = sorted(await store.flights.carrying(rid), key=lambda f: f.created_at)
    assert given_up.state == "aborted" and given_up.commands == ()
    history = await store.history("flight", given_up.mission_id)
    aborted = [e for e in history if e.action == "transition" and e.payload.get("to") == "aborted"]
    assert "no-fly zone came into force on its route while it waited for approval" in str(aborted[-1].payload)
    assert flown.state == "completed" and breaches == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_a_flight_waiting_at_a_restart_is_asked_about_again_before_anything_is_sent(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    answer = ["pending"]
    receiver.decide = lambda body: (answer[0], None)
    async with approval_system(store, broker, prefix, solver_pool, receiver) as (system, _):
        first = system.dispatcher
        rid = (await first.submit(request(PICKUP, DROPOFF))).id
        await until(lambda: len(receiver.asked) > 0)
        (waiting,) = [m for m in first.missions.values() if m.approving]
        await first.stop()  # the process dies while the flight waits
        assert (await store.flights.get(waiting.mission_id)).commands == ()
        asked_before = len(receiver.asked)
        second = Dispatcher(
            store,
            system.link,
            system.clock,
            DispatcherSettings(plan_seconds=0.3, silent_after_s=750.0),
            pool=solver_pool,
        )
        # as run and serve do: approval mode set before the dispatcher starts
        settings = AuthoritySettings(report=receiver.url, approval="required", approval_poll_s=0.02)
        answer[0] = "approved"
        async with authority_approvals(second, settings, ceiling_m=ABOVE_LAYERS_M), second:
            assert second.approvals.approver is not None

            async def done() -> bool:
                return (await store.requests.get(rid)).state == "delivered" and not second.missions

            await second.wait_until(done, timeout_s=90)
        assert second.approvals.approver is None  # off again after the block
    flight = await store.flights.get(waiting.mission_id)
    assert flight.state == "completed"  # the same flight, flown once approved
    assert len(receiver.asked) > asked_before
    assert {a["report_id"] for a in receiver.asked} == {f"{waiting.mission_id}:approval"}
    history = await store.history("flight", waiting.mission_id)
    approved = [e.seq for e in history if e.action == "authority_approved"]
    commanded = [e.seq for e in history if e.action == "transition" and e.payload.get("to") == "commanded"]
    assert len(approved) == 1 and commanded and approved[0] < commanded[0]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_a_request_cancelled_while_its_flight_waits_gives_the_flight_up(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, receiver: Receiver
) -> None:
    answer = ["pending"]
    receiver.decide = lambda body: (answer[0], None)
    async with approval_system(store, broker, prefix, solver_pool, receiver) as (system, _):
        d = system.dispatcher
        rid = (await d.submit(request(PICKUP, DROPOFF))).id
        await until(lambda: len(receiver.asked) > 0)
        (waiting,) = [m for m in d.missions.values() if m.approving]
        view = await cancel_request(d, rid, actor="office:service-centre")
        assert view.state == "cancelled"
        answer[0] = "approved"  # too late: the flight was given up

        async def answered() -> bool:
            return d.approvals.stats.approved == 1

        await d.wait_until(answered, timeout_s=30)
    flight = await store.flights.get(waiting.mission_id)
    assert flight.state == "aborted" and flight.commands == ()
    history = await store.history("flight", waiting.mission_id)
    aborted = [e for e in history if e.action == "transition" and e.payload.get("to") == "aborted"]
    assert "cancelled while the flight waited for approval" in str(aborted[-1].payload)
