"""The dispatcher killed with SIGKILL during planning, during commanding and during a re-route, at
chosen moments (failpoints, :mod:`dispatch.service.failpoints`), then started again without them.

Each test runs ``dronedispatch run`` armed with one failpoint against the real broker and a
simulated fleet on a shared accelerated clock, files requests, waits until the process printed
``failpoint NAME`` and died of SIGKILL (a test whose kill never happens fails), restarts it, and
then checks: every request ends in exactly one final state (delivered, here), no document is
handed over twice, every command the store says was acknowledged was applied by its drone, every
mission took off once, no drone entered a zone (the sample zones and the pop-up one), and the
audit chain verifies.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from airspace.zones import load_zones
from dispatch.harness import SIM_START, request, sample_fleet, seed
from dispatch.lifecycle import REQUEST_TERMINAL
from dispatch.service.missions import MissionSpec
from dispatch.store import Store, open_store
from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from fleet.messages import Landed, PickedUp, TookOff
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.dispatcher_fixtures import parse_zone, zone_across
from tests.fault_checks import assert_delivered_once
from tests.mqtt_fixtures import fleet_secret
from tests.process_fixtures import add_unprinted, dispatcher_process

# Four short trips (under 2 km): a planning round commits several of them, one at a time.
ROUTES = [
    ("service-centre", "zhangde-road"),
    ("yindu-district", "anyang-station"),
    ("wenfeng-district", "jiefang-road"),
    ("market-bureau", "service-centre"),
]
# The first carries the document the pop-up zone is put in front of: a 5 km leg after the pickup.
REROUTE_ROUTES = [("yindu-district", "zhangde-road"), ("tax-bureau", "longan-district")]
FINAL = {str(s) for s in REQUEST_TERMINAL}
# Every point runs on SQLite. On PostgreSQL too only the re-route's ``reroute.sent``, whose run
# plans, commands and re-routes there before and after the kill: each case costs 10-20 s.
ON_POSTGRESQL = {"reroute.sent"}


def cases(*points: tuple[object, ...]) -> list[object]:
    """``(point, *more)`` cases as ``(db_url, point, *more)`` parameters: on SQLite, and on
    PostgreSQL for the points in :data:`ON_POSTGRESQL` (``db_url`` is the fixture, indirectly)."""
    out = []
    for db in ("sqlite", "postgresql"):
        for case in points:
            if db == "sqlite" or case[0] in ON_POSTGRESQL:
                out.append(pytest.param(db, *case, id="-".join([db, str(case[0])])))
    return out


Trigger = Callable[[Store, SimulatedFleet, list[str]], Awaitable[None]]


async def zone_ahead(store: Store, sim: SimulatedFleet, ids: list[str]) -> None:
    """Once the first request's document is on board, an operator adds a no-fly zone across the
    rest of its flight (through the store, as a front end would: the dispatcher process sees it
    at its next tick); the simulator's breach monitor watches it from then on."""
    picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == ids[0], timeout_s=60)
    assert picked.mission_id is not None
    flight = await store.flights.get(picked.mission_id)
    spec = MissionSpec.from_plan(flight.mission_id, flight.drone_id, flight.plan)
    # Three quarters along the leg: the restarted dispatcher (seconds to start, minutes of
    # accelerated flight) must still find the drone before the zone when the kill came first.
    feature = zone_across(sim.frame, spec.waypoints, spec.stops, "pop-up", after_request=ids[0], along=0.75)
    sim.watch_zone(parse_zone(feature))
    await store.zones.upsert(feature, actor="operator-test")


async def crash_and_restart(
    store: Store,
    db_url: str,
    broker: BrokerAddress,
    prefix: str,
    tmp_path: Path,
    point: str,
    routes: list[tuple[str, str]],
    *,
    speed: float = 150.0,
    tick_s: float = 20.0,
    trigger: Trigger | None = None,
    restart_speed: float | None = None,
) -> tuple[SimulatedFleet, list[str]]:
    """Seed ``store`` (on ``db_url``) and file ``routes``, run a dispatcher armed with ``point``
    until it kills itself there (after ``trigger``, if given, did its part), restart it unarmed and
    wait until every request is in a final state and every drone that flew has landed. Returns
    the stopped simulator and the request ids.

    ``restart_speed``: the clock runs at this speed from the kill on (the restarted process is
    given the new rate), for a case whose drone flies on towards a hazard while no dispatcher
    runs: the seconds a loaded machine takes to start a process then cost less of its margin."""
    fleet = sample_fleet()
    await seed(store, fleet)
    clock = SharedClock.starting_now(speed, SIM_START)
    ids = []
    for src, dst in routes:
        ids.append((await store.requests.create(request(src, dst, deadline_min=120), actor=src)).request.id)
    client_id = f"disp-{uuid.uuid4().hex[:8]}"
    seen: dict[str, list[str]] = {}
    zones = load_zones(EXAMPLES / "zones.geojson")
    sim = SimulatedFleet(
        fleet,
        broker,
        clock=clock,
        prefix=prefix,
        zones=zones,
        telemetry_period_s=2.0,
        fleet_secret=fleet_secret(),
    )
    log_path = tmp_path / "dispatcher.log"
    args = (db_url, broker, prefix, client_id, clock)
    with log_path.open("ab") as log:
        try:
            async with sim:
                async with dispatcher_process(
                    *args, log, seen=seen, failpoints=point, tick_s=tick_s, wait_ready=False
                ) as first:
                    if trigger is not None:
                        await trigger(store, sim, ids)
                    await first.wait_killed_at(point, timeout_s=60)
                if restart_speed is not None:
                    clock.set_speed(restart_speed)
                await add_unprinted(store, ids, seen)
                async with dispatcher_process(*args, log, seen=seen, tick_s=tick_s) as second:
                    await second.until(lambda: all(seen.get(r, [""])[-1] in FINAL for r in ids), 90)
                    # Then every drone that flew lands: a breach on the way home counts too.
                    for drone_id in {e.drone_id for e in sim.events if isinstance(e, TookOff)}:
                        last = max(
                            i
                            for i, e in enumerate(sim.events)
                            if isinstance(e, TookOff) and e.drone_id == drone_id
                        )
                        await sim.wait_for(
                            lambda e, d=drone_id, n=last: (
                                isinstance(e, Landed) and e.drone_id == d and sim.events.index(e) > n
                            ),
                            timeout_s=60,
                        )
        except (TimeoutError, AssertionError) as exc:
            log.flush()
            states = {rid: [(await store.requests.get(rid)).state, seen.get(rid)] for rid in ids}
            tail = log_path.read_text()[-4000:]
            raise AssertionError(f"{exc!r} at failpoint {point}; requests: {states}\n{tail}") from exc
    return sim, ids


async def check_outcome(store: Store, sim: SimulatedFleet, ids: list[str]) -> None:
    """Every request delivered exactly once (store, audit log and drones agree), each mission
    started once, acknowledged commands applied, no breach, the audit chain intact. A mission
    whose planned departure passed while the dispatcher was down is not flown late, outside its
    operational intent: it is aborted on the ground and its work planned again (nothing else may
    abort one here)."""
    await assert_delivered_once(store, sim, ids, replanned_ok=True)
    for rid in ids:
        for flight in await store.flights.carrying(rid):
            if flight.state != "aborted":
                continue
            history = await store.history("flight", flight.mission_id)
            (why,) = [
                e.payload["details"]["reason"]
                for e in history
                if e.action == "transition" and e.payload["to"] == "aborted"
            ]
            assert why.startswith("missed its departure slot"), (rid, why)
            assert not any(isinstance(e, TookOff) and e.mission_id == flight.mission_id for e in sim.events)
    took_off = Counter(e.mission_id for e in sim.events if isinstance(e, TookOff))
    assert all(n == 1 for n in took_off.values()), took_off


async def rerouted_around(store: Store, ids: list[str]) -> None:
    """The zone really was in the way: the flight carrying the first document was re-routed."""
    flight = (await store.flights.carrying(ids[0]))[-1]
    acked = {c.cmd_id for c in flight.commands if c.kind == "Reroute" and c.result == "ack"}
    assert acked, flight.commands
    # The flight's history says so, also when the dispatcher died between the ack and its note.
    history = await store.history("flight", flight.mission_id)
    assert acked <= {e.payload.get("cmd_id") for e in history if e.action == "rerouted"}, history


async def crash_point(
    db_url: str,
    broker: BrokerAddress,
    prefix: str,
    tmp_path: Path,
    point: str,
    *,
    routes: list[tuple[str, str]] = ROUTES,
    also: Callable[[Store, list[str]], Awaitable[None]] | None = None,
    **kw: Any,
) -> None:
    """:func:`crash_and_restart` on a fresh store, :func:`check_outcome`, then ``also``."""
    store = await open_store(db_url)
    try:
        sim, ids = await crash_and_restart(store, db_url, broker, prefix, tmp_path, point, routes, **kw)
        await check_outcome(store, sim, ids)
        if also is not None:
            await also(store, ids)
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("db_url", "point"), cases(("plan.solved",), ("plan.committed",)), indirect=["db_url"]
)
async def test_killed_while_planning(
    db_url: str, broker: BrokerAddress, prefix: str, tmp_path: Path, point: str
) -> None:
    await crash_point(db_url, broker, prefix, tmp_path, point)


@pytest.mark.parametrize(
    ("db_url", "point"),
    cases(("command.sent.UploadMission",), ("command.acked.UploadMission",), ("command.acked.Start",)),
    indirect=["db_url"],
)
async def test_killed_while_commanding(
    db_url: str, broker: BrokerAddress, prefix: str, tmp_path: Path, point: str
) -> None:
    await crash_point(db_url, broker, prefix, tmp_path, point)


@pytest.mark.parametrize(
    ("db_url", "point", "speed", "restart_speed"),
    cases(
        # Killed before the hold: the drone flies on towards the zone while the dispatcher
        # restarts, so time runs slower from the kill (at 40x a loaded machine's restart once
        # took the drone into the zone before the new process could turn it).
        ("reroute.begun", 40.0, 20.0),
        # Killed with the drone holding: the restart costs no distance, so the clock may run faster.
        ("reroute.held", 80.0, None),
        ("reroute.sent", 80.0, None),
        ("command.acked.Reroute", 80.0, None),
    ),
    indirect=["db_url"],
)
async def test_killed_while_rerouting(
    db_url: str,
    broker: BrokerAddress,
    prefix: str,
    tmp_path: Path,
    point: str,
    speed: float,
    restart_speed: float | None,
) -> None:
    await crash_point(
        db_url,
        broker,
        prefix,
        tmp_path,
        point,
        routes=REROUTE_ROUTES,
        speed=speed,
        restart_speed=restart_speed,
        tick_s=5.0,
        trigger=zone_ahead,
        also=rerouted_around,
    )
