"""The dispatcher's reaction to a nonconforming flight: its pure decisions, fast.

Which committed missions a nonconforming drone's column holds (:func:`met_by`), how each is held
(:func:`reaction`), when the drone is sent home (:func:`return_due`) and when a column no longer
holds anyone (:func:`column_lapsed`). The reaction end to end, over the broker and the simulator,
is in ``tests/test_dispatcher_nonconformance.py``.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from airspace.frame import LocalFrame
from airspace.paths import Airspace
from dispatch.lifecycle import FlightState
from dispatch.service.conformance import CONTINGENT_S, Episode, contingent_intent
from dispatch.service.missions import MissionSpec
from dispatch.service.nonconformance import (
    RETIME_EVERY_S,
    NonconformanceReaction,
    column_lapsed,
    met_by,
    reaction,
    return_due,
)
from dispatch.service.reroute import finishing_s
from dispatch.service.state import ActiveMission, DroneView
from dispatch.service.timing import hover_kept_s
from fleet.messages import Ack, Telemetry
from routing.conformance import Verdict
from routing.intents import IntentParams, OperationalIntent, SeparationMinima, trip_intent
from routing.problem import PORT, Leg, Trip

FRAME = LocalFrame.centred_on(114.39, 36.10)
DEP = datetime(2026, 12, 1, 0, 10, tzinfo=UTC)
ALT, SPEED, LENGTH = 60.0, 15.0, 3000.0  # B's trip: due east from (0, 0) to (3000, 0), 200 s
MINIMA = SeparationMinima()  # 50 m, 15 m: the column is 100 m wide, B's volumes 30 m


def _intent(drone_id: str, y: float = 0.0, alt: float = ALT, dep: datetime = DEP) -> OperationalIntent:
    wps = tuple((*(float(c) for c in FRAME.to_lonlat(x, y)), alt) for x in (0.0, LENGTH))
    arrive = dep + timedelta(seconds=LENGTH / SPEED)
    return trip_intent(
        drone_id, 1, Trip((Leg(PORT, "P", PORT, "Q", dep, arrive, LENGTH, 1.0, 0.0, wps),)), FRAME
    )


B = _intent("D02")
A = _intent("D01", y=-2000.0)  # the nonconforming drone's own intent (far away: only its frame counts)


def _column(x: float, y: float, alt: float = ALT, after_s: float = 0.0) -> OperationalIntent:
    """The column around D01 seen at (x, y, alt) ``after_s`` after B's departure."""
    lon, lat = FRAME.to_lonlat(x, y)
    return contingent_intent(A, float(lon), float(lat), alt, DEP.timestamp() + after_s, MINIMA)


def test_a_mission_whose_path_passes_within_the_column_in_its_window_is_held() -> None:
    # D01 strays 120 m beside B's path, halfway along it, as B takes off: B gets there in 100 s.
    assert met_by(_column(1500.0, 120.0), [("MB", B)]) == ["MB"]
    # 140 m away: the column (100 m) and B's volumes (30 m) do not touch.
    assert met_by(_column(1500.0, 140.0), [("MB", B)]) == []


def test_the_column_holds_only_in_its_time_and_below_its_top() -> None:
    # Seen after B's landing: B's intent is over before the column begins.
    assert met_by(_column(1500.0, 0.0, after_s=400.0), [("MB", B)]) == []
    # Seen 300 s before B's departure: the column lapses (CONTINGENT_S) as B takes off.
    assert met_by(_column(1500.0, 0.0, after_s=-CONTINGENT_S - 60.0), [("MB", B)]) == []
    # D01 at 20 m: the column's top (35 m) is below B's cruise band; B's take-off column over its
    # port still meets one seen over that port.
    assert met_by(_column(1500.0, 0.0, alt=20.0), [("MB", B)]) == []
    assert met_by(_column(0.0, 0.0, alt=20.0), [("MB", B)]) == ["MB"]


def test_the_nonconforming_drone_does_not_hold_itself_and_each_met_mission_is_named() -> None:
    other = _intent("D03", y=60.0)
    far = _intent("D04", y=900.0)
    own = _intent("D01")
    found = met_by(_column(1500.0, 30.0), [("MB", B), ("MC", other), ("MD", far), ("MA", own)])
    assert found == ["MB", "MC"]


def _mission(state: str, **kw: object) -> ActiveMission:
    spec = MissionSpec("MB", "D02", (), (), "Q", DEP, DEP + timedelta(seconds=200), B)
    m = ActiveMission.of(spec, state)
    for k, v in kw.items():
        setattr(m, k, v)
    return m


@pytest.mark.parametrize(
    ("state", "kw", "expected"),
    [
        (FlightState.PLANNED, {}, "ground"),
        (FlightState.COMMANDED, {}, "ground"),
        (FlightState.ACKED, {}, "ground"),
        (FlightState.FLYING, {}, "air"),
        (FlightState.FLYING, {"rerouting": True}, "none"),  # a steering holds or re-routes it
        (FlightState.FLYING, {"aborting": "no safe path"}, "none"),
        (FlightState.ACKED, {"aborting": "cancelled"}, "none"),
        (FlightState.COMPLETED, {}, "none"),
        (FlightState.ABORTED, {}, "none"),
    ],
)
def test_how_a_met_mission_is_held(state: str, kw: dict[str, object], expected: str) -> None:
    assert reaction(_mission(state, **kw)) == expected


def test_the_drone_is_sent_home_once_outside_for_the_setting() -> None:
    ep = Episode("MA", since=DEP.timestamp(), off_path=True)
    assert not return_due(ep, DEP.timestamp() + 59.9, 60.0)
    assert return_due(ep, DEP.timestamp() + 60.0, 60.0)
    assert return_due(ep, DEP.timestamp() + 61.0, 60.0)


def test_a_drone_only_late_on_its_route_flies_on_unless_told() -> None:
    ep = Episode("MA", since=DEP.timestamp())
    ep.worsen(Verdict(False, "time", seconds=90.0))
    assert not ep.off_path and not return_due(ep, DEP.timestamp() + 600.0, 60.0)
    assert return_due(ep, DEP.timestamp() + 60.0, 60.0, late_too=True)
    ep.worsen(Verdict(False, "lateral", lateral_m=40.0))
    assert ep.off_path and return_due(ep, DEP.timestamp() + 60.0, 60.0)


def test_a_column_lapses_at_its_end_or_when_it_is_gone() -> None:
    column = _column(1500.0, 0.0)
    assert not column_lapsed(column, DEP.timestamp() + CONTINGENT_S - 1.0)
    assert column_lapsed(column, DEP.timestamp() + CONTINGENT_S + 1.0)
    assert column_lapsed(None, DEP.timestamp())


# --- the reaction's bookkeeping, over fakes of what it commands ----------------------------------


class _Clock:
    def __init__(self) -> None:
        self.t = DEP

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=max(seconds, 0.0))


class _Store:
    def __init__(self) -> None:
        self.notes: list[tuple[str, str, dict[str, Any]]] = []

    async def note(
        self, entity: str, entity_id: str, action: str, *, actor: str, payload: dict[str, Any]
    ) -> None:
        self.notes.append((entity_id, action, payload))


class _Commander:
    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.sent: list[str] = []
        self.refuse: set[str] = set()

    def expiry(self) -> datetime:
        return self.clock.now() + timedelta(hours=1)

    async def send_new(self, cmd: Any, mission_id: str | None) -> Ack:
        self.sent.append(cmd.cmd_id)
        refused = cmd.cmd_id in self.refuse
        return Ack(
            drone_id=cmd.drone_id,
            cmd_id=cmd.cmd_id,
            ts=self.clock.now(),
            accepted=not refused,
            reason="cannot hold in state ready" if refused else None,
        )


class _Flights:
    def __init__(self, picture: Any, clock: _Clock) -> None:
        self.picture = picture
        self.clock = clock
        self.tasks: list[asyncio.Future[Any]] = []
        self.aborted: list[str] = []

    def spawn(self, coro: Any, name: str) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    async def settle(self) -> None:
        while pending := [t for t in self.tasks if not t.done()]:
            await asyncio.gather(*pending)

    async def telemetry_after(self, drone_id: str, after: datetime) -> Telemetry:
        lon, lat = FRAME.to_lonlat(700.0, 0.0)
        return Telemetry(
            drone_id=drone_id,
            ts=after,
            lon=float(lon),
            lat=float(lat),
            alt_m=ALT,
            ground_speed_mps=0.0,
            heading_deg=90.0,
            battery_pct=80.0,
            energy_wh=300.0,
            state="holding",
            mission_id="MB",
        )

    async def abort(self, m: ActiveMission, reason: str) -> None:
        self.aborted.append(m.mission_id)
        self.picture.missions.pop(m.mission_id, None)


class _Intents:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.holding: list[tuple[str, datetime]] = []
        self.affordable = 3600.0  # seconds of hover the battery affords beyond the rest of the route
        self.params = SimpleNamespace(intents=IntentParams())
        self.retimes: list[tuple[str, Any, datetime]] = []
        self.retime_to: OperationalIntent | None = None  # a late drone's route from where it is: not clear

    async def rerouted(self, m: ActiveMission, start: Any, rep: Any, depart: datetime, **kw: Any) -> float:
        self.calls.append((m.mission_id, rep.from_index))
        return 0.0

    def affordable_hold_s(self, m: ActiveMission, where: Any, rest: Any) -> float:
        return self.affordable

    def retimed(self, m: ActiveMission, where: Any, rest: Any, at: datetime) -> OperationalIntent | None:
        self.retimes.append((m.mission_id, FRAME.to_xy(*where), at))
        return self.retime_to

    def hold_here(self, m: ActiveMission, where: Any, now: datetime) -> None:
        self.holding.append((m.mission_id, now))

    def finishing(self, drone_id: str, tele: Any, waypoints: Any) -> float:
        # The real rule (FlightIntents.finishing) over the fake picture: true height = alt_m, 60 s service.
        return finishing_s(tele.alt_m, waypoints, self.params.intents.half_band_m, 60.0)


class _Steering:
    def __init__(self, order: list[str]) -> None:
        self.intents = _Intents()
        self.order = order
        self.rechecked: list[str] = []
        self.resumed: list[tuple[str, int, tuple[float, float]]] = []
        self.may_hold: list[bool] = []
        self.resumes = self
        self.home = asyncio.Event()

    async def return_to_port(self, drone_id: str, pos: Any) -> None:
        await self.home.wait()  # the test says when the return is commanded
        self.order.append(f"return {drone_id}")

    def recheck(self, m: ActiveMission) -> None:
        self.rechecked.append(m.mission_id)

    async def resume(
        self, m: ActiveMission, n: int, where: Any, *, finishing_s: float = 0.0, may_hold: bool = True
    ) -> float:
        self.resumed.append((m.mission_id, n, FRAME.to_xy(*where)))
        self.may_hold.append(may_hold)
        return 0.0


def _system(b_state: str) -> tuple[NonconformanceReaction, Any, ActiveMission, ActiveMission]:
    clock = _Clock()
    order: list[str] = []
    steering = _Steering(order)
    wps = [(*(float(c) for c in FRAME.to_lonlat(x, 0.0)), ALT) for x in (0.0, 1500.0, LENGTH)]
    a_spec = MissionSpec("MA", "D01", tuple(wps), (), "Q", DEP, DEP + timedelta(seconds=200), A)
    b_spec = MissionSpec("MB", "D02", tuple(wps), (), "Q", DEP, DEP + timedelta(seconds=200), B)
    ma, mb = ActiveMission.of(a_spec, FlightState.FLYING), ActiveMission.of(b_spec, b_state)
    picture = SimpleNamespace(
        missions={"MA": ma, "MB": mb},
        contingent_intents={"D01": _column(1500.0, 0.0)},
        airspace=Airspace([], frame=FRAME),
        drones={"D01": DroneView("D01", None, DEP, mission="MA")},
        position=lambda drone_id: None,
        model=lambda drone_id: SimpleNamespace(service_s=60.0),
        true_height=lambda tele: tele,
        telemetry=lambda drone_id: None,  # no sample: not known to be at a pad
    )
    picture.servicing = lambda drone_id: getattr(picture.telemetry(drone_id), "state", None) == "servicing"
    flights = _Flights(picture, clock)
    store = _Store()
    reaction_ = NonconformanceReaction(
        store,
        clock,
        picture,
        _Commander(clock),
        flights,
        steering,
        actor="dispatcher",
        return_after_s=60.0,
    )
    return reaction_, SimpleNamespace(store=store, flights=flights, steering=steering, order=order), ma, mb


def _sample(after_s: float) -> Telemetry:
    lon, lat = FRAME.to_lonlat(1500.0, 0.0)
    return Telemetry(
        drone_id="D01",
        ts=DEP + timedelta(seconds=after_s),
        lon=float(lon),
        lat=float(lat),
        alt_m=ALT,
        ground_speed_mps=SPEED,
        heading_deg=90.0,
        battery_pct=80.0,
        energy_wh=300.0,
        state="en_route",
        mission_id="MA",
    )


async def test_a_flight_in_the_air_is_held_once_and_resumed_on_a_fresh_intent_when_the_episode_ends() -> None:
    r, f, ma, mb = _system(FlightState.FLYING)
    ep = Episode("MA", since=DEP.timestamp(), off_path=True)
    commander = r.commander
    assert isinstance(commander, _Commander)
    commander.refuse.add("MB.h1")  # still on the ground waiting for its take-off time
    r.outside(ma, _sample(2.0), ep)
    await f.flights.settle()
    assert commander.sent == ["MB.h1"] and "MB" not in r.held and not mb.rerouting
    assert f.store.notes == []
    # It refused, so it flies on as its intent says: conformance goes on judging that intent.
    assert mb.reroutes == mb.intent_reroutes == 1
    r.outside(ma, _sample(4.0), ep)  # tried again at the next sample outside
    r.outside(ma, _sample(4.0), ep)  # one hold at a time
    await f.flights.settle()
    r.outside(ma, _sample(6.0), ep)  # held already
    await f.flights.settle()
    assert commander.sent == ["MB.h1", "MB.h2"]
    assert r.held["MB"].kind == "air" and mb.rerouting and mb.reroutes == 2
    (held,) = f.store.notes
    assert held[:2] == ("MB", "held_for_nonconforming")
    assert (
        held[2]["nonconforming_drone"] == "D01" and held[2]["kind"] == "air" and held[2]["cmd_id"] == "MB.h2"
    )
    r.ended("D01")
    await f.flights.settle()
    # Held, its intent is where it hovers; released, it resumes from there (steering number 2).
    assert f.steering.intents.holding == [("MB", DEP)]
    ((mid, n, (x, y)),) = f.steering.resumed
    assert (mid, n) == ("MB", 2) and math.hypot(x - 700.0, y) < 1.0
    # Checked against the zones in force after the refused hold (a scan meanwhile skipped it) and
    # once released.
    assert not mb.rerouting and f.steering.rechecked == ["MB", "MB"]
    assert f.store.notes[-1][:2] == ("MB", "resumed_after_nonconforming") and not r.held


async def test_a_take_off_waits_until_the_drone_outside_too_long_has_been_sent_home() -> None:
    r, f, ma, mb = _system(FlightState.ACKED)
    ep = Episode("MA", since=DEP.timestamp(), off_path=True)
    r.outside(ma, _sample(2.0), ep)
    await f.flights.settle()
    assert r.held["MB"].kind == "ground" and r.commander.sent == []
    gate = asyncio.ensure_future(r.ground_clear(mb))
    r.outside(ma, _sample(59.0), ep)
    assert "D01" not in r.returns
    r.outside(ma, _sample(61.0), ep)  # outside for the setting: sent home
    assert "D01" in r.returns
    r.ended("D01")  # its mission is aborted: the episode ends before the return is commanded
    await asyncio.sleep(0)
    assert not gate.done() and "MB" in r.held, "released only once the return is commanded"
    f.steering.home.set()
    assert await gate is True
    await f.flights.settle()
    actions = [(mid, action) for mid, action, _ in f.store.notes]
    assert actions == [
        ("MB", "held_for_nonconforming"),
        ("MA", "returned_nonconforming"),
        ("MB", "resumed_after_nonconforming"),
    ]
    assert f.flights.aborted == ["MA"] and f.order == ["return D01"]
    assert r.returned == 1 and not r.returns and not r.held
    assert await r.ground_clear(mb) is False  # not held any more


async def test_a_hold_whose_column_lapsed_is_released_by_the_sweep_though_the_episode_stays_open() -> None:
    r, f, ma, mb = _system(FlightState.ACKED)
    r.outside(ma, _sample(2.0), Episode("MA", since=DEP.timestamp(), off_path=True))
    await f.flights.settle()
    gate = asyncio.ensure_future(r.ground_clear(mb))
    await r.sweep()  # the column (seen at DEP) is in force
    await f.flights.settle()
    assert not gate.done() and "MB" in r.held
    clock = r.clock
    assert isinstance(clock, _Clock)
    clock.t = DEP + timedelta(seconds=CONTINGENT_S + 1.0)  # no sample since: it lapsed
    await r.sweep()
    await f.flights.settle()
    assert await gate is True and not r.held and "D01" in r.active
    assert f.store.notes[-1][:2] == ("MB", "resumed_after_nonconforming")


def test_a_drone_held_below_its_route_finishes_its_pad_service_first() -> None:
    route = [(114.39, 36.10, 60.0), (114.40, 36.10, 60.0)]
    half = IntentParams().half_band_m  # 7.5 m
    assert finishing_s(0.0, route, half, 60.0) == 60.0  # on the pad
    assert finishing_s(60.0 - half - 6.0, route, half, 60.0) == 60.0  # climbing back
    assert finishing_s(60.0 - half, route, half, 60.0) == 0.0  # in its band
    assert finishing_s(0.0, [], half, 60.0) == 0.0


async def test_a_drone_servicing_a_pad_is_not_held_there() -> None:
    r, f, ma, mb = _system(FlightState.FLYING)
    at_pad = await f.flights.telemetry_after("D02", DEP)
    at_pad = msgspec.structs.replace(at_pad, state="servicing")
    r.picture.telemetry = lambda drone_id: at_pad
    ep = Episode("MA", since=DEP.timestamp(), off_path=True)
    r.outside(ma, _sample(2.0), ep)
    await f.flights.settle()
    # Held there it would keep the pad taken past its own intent: it finishes and leaves.
    commander = r.commander
    assert isinstance(commander, _Commander)
    assert commander.sent == [] and "MB" not in r.held and not mb.rerouting
    r.picture.telemetry = lambda drone_id: None  # back in the air
    r.outside(ma, _sample(4.0), ep)
    await f.flights.settle()
    assert commander.sent == ["MB.h1"] and r.held["MB"].kind == "air"


async def test_a_drone_held_in_the_air_is_released_before_its_battery_runs_short_and_not_held_again() -> None:
    r, f, ma, mb = _system(FlightState.FLYING)
    ep = Episode("MA", since=DEP.timestamp(), off_path=True)
    r.outside(ma, _sample(2.0), ep)
    await f.flights.settle()
    assert r.held["MB"].kind == "air"
    await r.sweep()  # the column is in force and the battery affords an hour
    await f.flights.settle()
    assert "MB" in r.held and f.steering.resumed == []
    kept = hover_kept_s(r.clock) + r.tick_s  # what it keeps in hand, and one more tick
    f.steering.intents.affordable = kept + 1.0
    await r.sweep()
    await f.flights.settle()
    assert "MB" in r.held and f.steering.resumed == []
    f.steering.intents.affordable = kept
    await r.sweep()
    await f.flights.settle()
    assert "MB" not in r.held and [x[:2] for x in f.steering.resumed] == [("MB", 1)]
    assert f.steering.may_hold == [False]  # it goes on at once: the others give way
    assert f.store.notes[-1][:2] == ("MB", "resumed_after_nonconforming") and not mb.rerouting
    r.outside(ma, _sample(8.0), ep)  # still outside: the column meets it again
    await f.flights.settle()
    assert "MB" not in r.held and r.commander.sent == ["MB.h1"]  # type: ignore[attr-defined]


def _late(after_s: float = 2.0, seconds: float = 40.0) -> Episode:
    ep = Episode("MA", since=(DEP + timedelta(seconds=after_s)).timestamp())
    ep.worsen(Verdict(False, "time", seconds=seconds))
    return ep


async def test_a_drone_only_late_on_its_route_is_retimed_from_where_it_is_when_that_is_clear() -> None:
    r, f, ma, _ = _system(FlightState.FLYING)
    f.steering.intents.retime_to = new = _intent("D01", y=-1000.0, dep=DEP + timedelta(seconds=2))
    r.outside(ma, _sample(2.0), _late())
    await f.flights.settle()
    # Its intent is now the rest of its route flown on from there: nobody is held, no command sent.
    ((mid, (x, y), at),) = f.steering.intents.retimes
    assert mid == "MA" and math.isclose(x, 1500.0, abs_tol=0.01) and abs(y) < 0.01
    assert at == DEP + timedelta(seconds=2)
    assert ma.spec.intent is not None and ma.spec.intent.volumes == new.volumes
    assert ma.spec.intent.state == "Activated" and ma.intent_reroutes == ma.reroutes == 0 and not ma.rerouting
    assert "D01" not in r.picture.contingent_intents  # its intent says where it flies
    assert r.commander.sent == [] and r.held == {} and r.retimed == 1  # type: ignore[attr-defined]
    ((entity, action, payload),) = f.store.notes
    assert (entity, action) == ("MA", "retimed_in_air") and payload["seconds"] == 40.0
    # A sample at its new intent's edge just after: not re-timed again (nor anyone held) ...
    r.outside(ma, _sample(2.0 + RETIME_EVERY_S - 1.0), _late())
    assert len(f.steering.intents.retimes) == 1 and r.held == {}
    # ... until RETIME_EVERY_S has passed.
    r.outside(ma, _sample(2.0 + RETIME_EVERY_S), _late())
    await f.flights.settle()
    assert len(f.steering.intents.retimes) == 2 and r.retimed == 2


async def test_a_late_drone_whose_route_meets_another_intent_holds_itself_not_the_others() -> None:
    r, f, ma, mb = _system(FlightState.FLYING)
    r.outside(ma, _sample(2.0), _late())  # retime_to None: flown on now, its route meets B's
    assert ma.rerouting  # at once: its next samples are not judged while it is held
    r.outside(ma, _sample(3.0), _late())  # one re-timing at a time
    await f.flights.settle()
    assert r.commander.sent == ["MA.h1"] and r.held == {}  # type: ignore[attr-defined]
    assert f.steering.intents.holding == [("MA", DEP)]  # its intent: a column where it hovers
    # Resumed on the least hold that keeps the rest of its route clear (the Resumes' rule).
    assert [x[:2] for x in f.steering.resumed] == [("MA", 1)] and f.steering.may_hold == [True]
    assert math.isclose(f.steering.resumed[0][2][0], 700.0, abs_tol=0.01)  # where it held
    assert [n[:2] for n in f.store.notes] == [("MA", "held_to_retime")]
    assert f.store.notes[0][2]["cmd_id"] == "MA.h1" and not ma.rerouting and not mb.rerouting
    assert f.steering.rechecked == ["MA"] and "D01" not in r.picture.contingent_intents


async def test_a_late_drone_that_refuses_the_hold_is_judged_on_its_intent_as_before() -> None:
    r, f, ma, _ = _system(FlightState.FLYING)
    r.commander.refuse.add("MA.h1")  # type: ignore[attr-defined]
    r.outside(ma, _sample(2.0), _late())
    await f.flights.settle()
    assert ma.reroutes == ma.intent_reroutes == 1 and not ma.rerouting
    assert f.steering.resumed == [] and f.store.notes == []


@pytest.mark.parametrize("how", ["servicing", "return_late"])
async def test_a_late_drone_at_a_pad_or_to_be_sent_home_holds_the_others_instead(how: str) -> None:
    r, f, ma, _ = _system(FlightState.FLYING)
    sample = _sample(2.0)
    if how == "servicing":
        sample = msgspec.structs.replace(sample, state="servicing")  # it cannot hold there
    else:
        r.return_late = True
    r.outside(ma, sample, _late())
    await f.flights.settle()
    assert f.steering.intents.retimes == [] and r.held["MB"].kind == "air"
    assert r.commander.sent == ["MB.h1"]  # type: ignore[attr-defined]
