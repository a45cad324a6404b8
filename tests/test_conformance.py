"""Conformance monitoring: telemetry judged against the flight's own operational intent.

Fast tests of the pure parts (:mod:`routing.conformance`, :func:`dispatch.service.conformance.decide`)
on one port-to-port trip, and of the monitor itself fed samples by hand over a real store (SQLite
and PostgreSQL): audit entries, counters, the intent's state and the contingent intent planning
keeps clear of. The end-to-end test over the broker and the simulator is in
``tests/test_dispatcher_conformance.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from airspace.frame import LocalFrame
from dispatch.harness import sample_fleet
from dispatch.lifecycle import FlightState
from dispatch.service.conformance import (
    ACTIVATED,
    CONTINGENT,
    CONTINGENT_S,
    NONCONFORMING,
    Conformance,
    contingent_intent,
    decide,
    tolerance_for,
)
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.missions import MissionSpec
from dispatch.service.state import ActiveMission, DispatcherStats, DroneView
from dispatch.store import Store
from fleet.messages import DroneState, Telemetry
from fleet.registry import FleetRegistry
from routing.conformance import EXACT, Tolerance, judge, volume_table
from routing.intents import IntentParams, SeparationMinima, trip_intent
from routing.problem import PORT, Leg, Trip
from routing.separation import IntentIndex

FRAME = LocalFrame.centred_on(114.39, 36.10)
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
DEP = T0 + timedelta(minutes=10)
ALT, SPEED, LENGTH = 60.0, 15.0, 3000.0  # the trip: due east from (0, 0) to (3000, 0), 200 s
TOL = Tolerance()  # 10 m, 5 m, 2 s


def _trip() -> Trip:
    wps = tuple((*(float(c) for c in FRAME.to_lonlat(x, 0.0)), ALT) for x in (0.0, LENGTH))
    arrive = DEP + timedelta(seconds=LENGTH / SPEED)
    return Trip((Leg(PORT, "P", PORT, "Q", DEP, arrive, LENGTH, 1.0, 0.0, wps),))


INTENT = trip_intent("D01", 1, _trip(), FRAME)
TABLE = volume_table(INTENT)
MID = DEP.timestamp() + 100.0  # the drone is planned at x = 1500 m then


def _on_track(dt: float = 0.0, dx: float = 0.0, dy: float = 0.0, z: float = ALT) -> tuple[float, ...]:
    """(t, x, y, z) ``dt`` after MID, ``dx`` ahead of and ``dy`` beside where the plan has it."""
    return (MID + dt, 1500.0 + dx, dy, z)


# --- the judgement (routing.conformance) ----------------------------------------------------------


def test_a_sample_on_the_planned_track_is_inside() -> None:
    assert judge(TABLE, *_on_track(), EXACT).inside
    # Climbing out of the first port and over it before take-off: the intent reaches the ground.
    assert judge(TABLE, DEP.timestamp() + 2.0, 30.0, 0.0, 10.0, EXACT).inside
    assert judge(TABLE, DEP.timestamp() - 5.0, 0.0, 0.0, 0.0, EXACT).inside


def test_lateral_deviation_beyond_the_tolerance_is_named_with_its_distance() -> None:
    radius = INTENT.volumes[0].radius_m  # 30 m
    assert judge(TABLE, *_on_track(dy=radius + TOL.lateral_m - 1.0), TOL).inside
    v = judge(TABLE, *_on_track(dy=radius + 40.0), TOL)
    assert not v.inside and v.dimension == "lateral"
    assert v.lateral_m == pytest.approx(40.0, abs=0.01) and v.vertical_m == 0.0


def test_vertical_deviation_beyond_the_tolerance_is_named_with_its_distance() -> None:
    top = ALT + IntentParams().half_band_m  # the band's top at cruise
    assert judge(TABLE, *_on_track(z=top + TOL.vertical_m - 0.5), TOL).inside
    v = judge(TABLE, *_on_track(z=top + 12.0), TOL)
    assert not v.inside and v.dimension == "vertical"
    assert v.vertical_m == pytest.approx(12.0, abs=0.01) and v.lateral_m == 0.0


def test_a_late_drone_on_its_path_is_out_in_time_not_laterally() -> None:
    # 90 s late: where the plan had it 90 s ago, far behind the volumes of this instant.
    v = judge(TABLE, MID + 90.0, 1500.0, 0.0, ALT, TOL)
    assert not v.inside and v.dimension == "time" and v.early is False
    assert 30.0 < v.seconds < 90.0  # late by 90 s less the windows' widths and margins


def test_an_early_drone_and_one_after_its_intent_ended() -> None:
    v = judge(TABLE, MID - 90.0, 1500.0, 0.0, ALT, TOL)
    assert not v.inside and v.dimension == "time" and v.early is True  # a bool, for JSON
    end = INTENT.end
    after = judge(TABLE, end + 60.0, LENGTH, 0.0, 0.0, TOL)
    assert not after.inside and after.dimension == "time" and after.seconds == pytest.approx(60.0)
    # Within the time tolerance of the end: inside.
    assert judge(TABLE, end + TOL.time_s - 0.5, LENGTH, 0.0, 0.0, TOL).inside


def test_the_time_tolerance_grows_with_the_clock_speed() -> None:
    class Fast:
        speed = 150.0

    assert tolerance_for(Fast()).time_s == pytest.approx(15.0)  # type: ignore[arg-type]
    assert tolerance_for(object()).time_s == TOL.time_s  # type: ignore[arg-type]


# --- the decision on one sample (dispatch.service.conformance.decide) ----------------------------


def _mission(state: str = FlightState.FLYING) -> tuple[ActiveMission, DroneView]:
    spec = MissionSpec("M1", "D01", (), (), "Q", DEP, DEP + timedelta(seconds=200), INTENT)
    return ActiveMission.of(spec, state), DroneView("D01", None, T0, mission="M1")


def _tele(t: float, x: float, y: float, z: float, state: DroneState = "en_route") -> Telemetry:
    lon, lat = FRAME.to_lonlat(x, y)
    return Telemetry(
        drone_id="D01",
        ts=datetime.fromtimestamp(t, UTC),
        lon=float(lon),
        lat=float(lat),
        alt_m=z,
        ground_speed_mps=SPEED,
        heading_deg=90.0,
        battery_pct=80.0,
        energy_wh=300.0,
        state=state,
        mission_id="M1",
    )


def test_decide_follows_a_flight_out_of_its_intent_and_back() -> None:
    m, view = _mission()
    radius = INTENT.volumes[0].radius_m
    assert decide(m, view, _tele(*_on_track()), False, TOL).kind == "conforming"
    left = decide(m, view, _tele(*_on_track(dy=radius + 50.0)), False, TOL)
    assert left.kind == "left" and left.verdict is not None and left.verdict.dimension == "lateral"
    assert decide(m, view, _tele(*_on_track(dy=radius + 50.0)), True, TOL).kind == "outside"
    # Back within the tolerance but not inside the intent itself: still nonconforming (no flapping).
    assert decide(m, view, _tele(*_on_track(dy=radius + 5.0)), True, TOL).kind == "outside"
    assert decide(m, view, _tele(*_on_track(dy=radius - 5.0)), True, TOL).kind == "back"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda m, v: setattr(m, "state", FlightState.ACKED), "not_flying"),  # waiting for take-off
        (lambda m, v: setattr(m, "rerouting", True), "steering"),
        (lambda m, v: setattr(m, "reroutes", 1), "stale_intent"),  # held and resumed: late
        (lambda m, v: setattr(m, "aborting", "fault"), "aborting"),
        (lambda m, v: setattr(v, "returning", True), "aborting"),
        (lambda m, v: setattr(m, "spec", dataclasses.replace(m.spec, intent=None)), "no_intent"),
    ],
)
def test_decide_does_not_judge_a_flight_off_its_intents_route(change: Any, why: str) -> None:
    m, view = _mission()
    far = _tele(*_on_track(dy=500.0))
    assert decide(m, view, far, False, TOL).kind == "left"
    change(m, view)
    d = decide(m, view, far, False, TOL)
    assert (d.kind, d.why) == ("unjudged", why)


def test_a_re_routed_mission_is_judged_again_once_its_intent_is_made_for_the_new_route() -> None:
    m, view = _mission()
    m.reroutes = 2
    assert decide(m, view, _tele(*_on_track(dy=500.0)), False, TOL).why == "stale_intent"
    m.intent_reroutes = 2
    assert decide(m, view, _tele(*_on_track(dy=500.0)), False, TOL).kind == "left"


def test_decide_skips_a_hovering_drone_and_another_missions_sample() -> None:
    m, view = _mission()
    assert decide(m, view, _tele(*_on_track(dy=500.0), state="holding"), False, TOL).why == "drone_state"
    other = msgspec.structs.replace(_tele(*_on_track(dy=500.0)), mission_id="M0")
    assert decide(m, view, other, False, TOL).why == "not_flying"


# --- the contingent intent --------------------------------------------------------------------


def test_the_contingent_intent_keeps_new_trips_clear_of_where_the_drone_really_is() -> None:
    minima = SeparationMinima()
    lon, lat = (float(c) for c in FRAME.to_lonlat(1500.0, 300.0))
    c = contingent_intent(INTENT, lon, lat, ALT, MID, minima)
    (vol,) = c.volumes
    assert c.state == CONTINGENT and c.drone_id == "D01"
    assert (vol.radius_m, vol.lo_m, vol.hi_m) == (100.0, 0.0, ALT + minima.vertical_m)
    assert (vol.t0, vol.t1) == (MID, MID + CONTINGENT_S)
    index = IntentIndex(FRAME)
    index.add(c)

    def crossing(y: float, t: float) -> bool:
        trip = _trip()
        wps = tuple((*(float(k) for k in FRAME.to_lonlat(x, y)), ALT) for x in (0.0, LENGTH))
        dep = datetime.fromtimestamp(t, UTC)
        arr = dep + timedelta(seconds=200)
        leg = dataclasses.replace(trip.legs[0], waypoints=wps, depart=dep, arrive=arr)
        return bool(index.conflicts(trip_intent("D02", 1, Trip((leg,)), FRAME)))

    # A trip passing over the drone's last position while the contingent intent is in force
    # conflicts with it; one 200 m aside, or long after, does not.
    assert crossing(300.0, MID - 100.0)
    assert not crossing(500.0, MID - 100.0)
    assert not crossing(300.0, MID + CONTINGENT_S + 60.0)


# --- the monitor over a real store ---------------------------------------------------------------


class FixedClock:
    """The fleet picture's clock (nothing waits)."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(MID, UTC)

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("nothing waits in these tests")


async def test_the_monitor_audits_counts_and_keeps_planning_clear(store: Store) -> None:
    picture = FleetPicture(FleetRegistry(), FixedClock())
    picture.load_fleet(sample_fleet(2))
    m, _ = _mission()
    picture.add_mission(m)
    tasks: list[asyncio.Future[Any]] = []

    def spawn(coro: Awaitable[Any], name: str) -> object:
        tasks.append(asyncio.ensure_future(coro))
        return tasks[-1]

    stats = DispatcherStats()
    mon = Conformance(store, picture, stats, spawn, actor="test", minima=SeparationMinima(), tolerance=TOL)
    radius = INTENT.volumes[0].radius_m
    mon.on_telemetry(_tele(*_on_track()), T0, False)
    assert m.spec.intent is not None and m.spec.intent.state == ACTIVATED
    assert (mon.total, mon.nonconforming(), picture.contingent_intents) == (0, 0, {})
    for k in range(3):  # three samples out, 80 m and more beside the track, 2 s apart
        mon.on_telemetry(_tele(*_on_track(dt=2.0 * k, dy=radius + 80.0 + 10 * k)), T0, False)
    assert (mon.total, mon.nonconforming()) == (1, 1)
    assert m.spec.intent.state == NONCONFORMING
    assert INTENT.state != NONCONFORMING  # the stored (planned) intent is not changed
    contingent = picture.contingent_intents["D01"]
    assert contingent in picture.active_intents()
    x, y = contingent.volumes[0].ax, contingent.volumes[0].ay
    assert (round(x), round(y)) == (1500, round(radius + 100.0))  # the last sample's position
    mon.on_telemetry(_tele(*_on_track(dt=8.0)), T0, False)
    assert (mon.total, mon.nonconforming(), picture.contingent_intents) == (1, 0, {})
    assert m.spec.intent.state == ACTIVATED
    await asyncio.gather(*tasks)
    history = [e for e in await store.history("flight", "M1")]
    assert [e.action for e in history] == ["nonconforming", "conforming"]
    out, back = history[0].payload, history[1].payload
    assert out["dimension"] == "lateral" and out["lateral_m"] == pytest.approx(80.0, abs=0.1)
    assert out["at"] == datetime.fromtimestamp(MID, UTC).isoformat()
    assert back["duration_s"] == pytest.approx(8.0) and back["max_lateral_m"] == pytest.approx(100.0, abs=0.1)
    assert stats.errors == {}


async def test_an_episode_closes_when_its_flight_ends(store: Store) -> None:
    picture = FleetPicture(FleetRegistry(), FixedClock())
    picture.load_fleet(sample_fleet(2))
    m, _ = _mission()
    picture.add_mission(m)
    tasks: list[asyncio.Future[Any]] = []

    def spawn(coro: Awaitable[Any], name: str) -> object:
        tasks.append(asyncio.ensure_future(coro))
        return tasks[-1]

    mon = Conformance(
        store, picture, DispatcherStats(), spawn, actor="test", minima=SeparationMinima(), tolerance=TOL
    )
    mon.on_telemetry(_tele(*_on_track(dy=300.0)), T0, False)
    assert mon.nonconforming() == 1
    picture.forget(m)  # landed
    assert mon.nonconforming() == 0 and picture.contingent_intents == {}
    await asyncio.gather(*tasks)
    assert [e.action for e in await store.history("flight", "M1")] == ["nonconforming"]
