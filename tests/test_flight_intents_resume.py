"""A held drone's new intent: a hold where it is, then its route, clear of the others if its battery
affords the wait (:meth:`dispatch.service.flight_intents.FlightIntents.rerouted` with a lead).

Fast tests on the real fleet picture and store, no broker: the seam the steering's resume uses."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from airspace.zones import load_zones
from dispatch.harness import sample_fleet
from dispatch.lifecycle import FlightState
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flight_intents import FlightIntents, met_by
from dispatch.service.missions import MissionSpec
from dispatch.service.reroute import Replacement
from dispatch.service.resumes import Resumes
from dispatch.service.state import ActiveMission
from dispatch.settings.model import DispatcherSettings
from dispatch.store import Store
from fleet.messages import Ack, Hold, Resume, Telemetry
from fleet.registry import FleetRegistry
from routing.deconflict import DeconflictionParams
from routing.intents import intent_frame
from routing.route_intent import hold_intent
from tests.conftest import EXAMPLES

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
ALT = 120.0


class FixedClock:
    def now(self) -> datetime:
        return T0

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()  # time stands still: nothing it waits for comes


def _setup(
    store: Store,
) -> tuple[FlightIntents, FleetPicture, ActiveMission, tuple[float, float], Replacement]:
    picture = FleetPicture(FleetRegistry(), FixedClock())  # type: ignore[arg-type]
    fleet = sample_fleet(2)
    picture.load_fleet(fleet)
    port = fleet.port(fleet.drones[0].port)
    frame = intent_frame(fleet)
    here = tuple(float(c) for c in frame.to_lonlat(*(c - 1500.0 for c in frame.to_xy(port.lon, port.lat))))
    where = (here[0], here[1])
    wps = ((*where, ALT), (port.lon, port.lat, ALT))
    spec = MissionSpec("M1", fleet.drones[0].id, wps, (), port.id, T0, T0 + timedelta(seconds=200))
    m = ActiveMission.of(spec, FlightState.FLYING)
    picture.add_mission(m)
    intents = FlightIntents(store, picture, DeconflictionParams(), "test")
    # Another drone hovers on the way for the next two minutes.
    mid = tuple(float(c) for c in frame.to_lonlat(*(c - 750.0 for c in frame.to_xy(port.lon, port.lat))))
    picture.set_own_intent(fleet.drones[1].id, hold_intent(fleet.drones[1].id, mid, ALT, T0, 120.0, frame))
    return intents, picture, m, where, Replacement(1, wps[1:], ())


async def test_a_held_drone_goes_on_after_its_lead_and_the_wait_that_clears_its_route(store: Store) -> None:
    intents, _, m, where, rest = _setup(store)
    hold = await intents.rerouted(m, where, rest, T0, on_ground=False, lead_s=10.0, max_hold_s=600.0)
    # It reaches the other's column (some 1 km on) after it ends, and not much later.
    assert 10.0 < hold <= 130.0, hold
    intent = m.spec.intent
    assert intent is not None
    column = intent.volumes[0]  # over where it hovers, from now until it goes on
    assert column.t0 <= T0.timestamp() and column.t1 >= T0.timestamp() + hold
    assert not intents.others(m.drone_id).conflicts(intent)
    assert [e.action for e in await store.history("flight", "M1")] == ["intent_hold"]


async def test_without_the_battery_for_the_wait_it_goes_on_after_the_lead_and_the_conflict_is_audited(
    store: Store,
) -> None:
    intents, picture, m, where, rest = _setup(store)
    hold = await intents.rerouted(m, where, rest, T0, on_ground=False, lead_s=10.0, max_hold_s=30.0)
    assert hold == 10.0
    intent = m.spec.intent
    assert intent is not None and intent.volumes[0].t1 >= T0.timestamp() + 10.0
    assert intents.others(m.drone_id).conflicts(intent)
    actions = [e.action for e in await store.history("flight", "M1")]
    assert actions == ["intent_hold", "intent_conflict"], actions
    # The flights its intent meets are named (the ground ones give way to it).
    other = next(iter(picture.own_intents.values()))
    spots = intents.landing_spots()
    assert met_by(intent, [("other", other)], spots) == ["other"]
    assert met_by(intent, [("self", intent)], spots) == []


async def test_the_hover_the_battery_affords_shrinks_with_the_route_left(store: Store) -> None:
    intents, picture, m, where, rest = _setup(store)
    near = intents.affordable_hold_s(m, rest.waypoints[0][:2], rest)
    far = intents.affordable_hold_s(m, where, rest)
    model = picture.model(m.drone_id)
    per_s = model.leg_energy_wh(model.cruise_speed_mps, 0.0)
    assert near > far > 0.0
    gone = 1500.0 * math.sqrt(2.0)  # from where it holds to the port
    assert abs((near - far) * per_s - model.leg_energy_wh(gone, 0.0)) < 0.1


class _Flights:
    def __init__(self) -> None:
        self.aborted: list[tuple[str, str]] = []

    async def abort(self, m: ActiveMission, reason: str) -> None:
        self.aborted.append((m.mission_id, reason))


async def test_flights_on_the_ground_give_way_to_a_drone_in_the_air_that_cannot_keep_clear(
    store: Store,
) -> None:
    intents, picture, m, where, rest = _setup(store)
    await intents.rerouted(m, where, rest, T0, on_ground=False, lead_s=10.0, max_hold_s=30.0)
    # The other drone's column is now a mission not yet in the air, in the way of the first.
    other_id = next(iter(picture.own_intents))
    column = picture.own_intents.pop(other_id)
    port = picture.fleet.port(picture.fleet.drones[1].port)  # type: ignore[union-attr]
    spec = MissionSpec("M2", other_id, (), (), port.id, T0, T0 + timedelta(seconds=120), column)
    waiting = ActiveMission.of(spec, FlightState.ACKED)
    picture.add_mission(waiting)
    flights = _Flights()
    resumes = Resumes(store, FixedClock(), picture, None, flights, intents, DispatcherSettings())  # type: ignore[arg-type]
    await resumes.give_way(m.spec.intent)
    # Its start has not gone out: it is checked again (and moved later) before it does.
    assert waiting.give_way and flights.aborted == []
    waiting.start_sent = True  # its drone waits on the ground for its take-off time
    await resumes.give_way(m.spec.intent)
    assert [mid for mid, _ in flights.aborted] == ["M2"]
    notes = [(e.action, e.payload) for e in await store.history("flight", "M2")]
    assert notes == [("gave_way", {"to_drone": m.drone_id})]


class _Commander:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def expiry(self) -> datetime:
        return T0 + timedelta(hours=2)

    async def send_new(self, cmd: object, mission_id: str | None) -> Ack:
        self.sent.append(cmd)
        return Ack(drone_id=cmd.drone_id, cmd_id=cmd.cmd_id, ts=T0, accepted=True)  # type: ignore[attr-defined]


class _AirFlights(_Flights):
    def __init__(self, registry: FleetRegistry, where: tuple[float, float]) -> None:
        super().__init__()
        self.registry, self.where = registry, where
        self.spawned: list[Any] = []

    def spawn(self, coro: Any, name: str) -> None:
        self.spawned.append(coro)

    async def telemetry_after(self, drone_id: str, after: datetime) -> Telemetry:
        tele = Telemetry(
            drone_id=drone_id,
            ts=after,
            lon=self.where[0],
            lat=self.where[1],
            alt_m=ALT,
            ground_speed_mps=0.0,
            heading_deg=0.0,
            battery_pct=90.0,
            energy_wh=300.0,
            state="holding",
            mission_id="M2",
        )
        self.registry.on_telemetry(tele, after)
        return tele


async def test_a_flight_in_the_air_gives_way_by_holding_until_its_route_is_clear(store: Store) -> None:
    # The first drone's replacement cannot keep clear of the second drone's column (it has no
    # battery to wait): the second, in the air, holds where it is and goes on clear of it.
    intents, picture, m, where, rest = _setup(store)
    await intents.rerouted(m, where, rest, T0, on_ground=False, lead_s=10.0, max_hold_s=30.0)
    other_id = next(iter(picture.own_intents))
    column = picture.own_intents.pop(other_id)
    fleet = picture.fleet
    assert fleet is not None
    frame, port = intent_frame(fleet), fleet.port(fleet.drones[0].port)
    x, y = frame.to_xy(port.lon, port.lat)
    lon, lat = frame.to_lonlat(x - 750.0, y - 750.0)  # where the second drone's column stands
    mid = (float(lon), float(lat))
    port = fleet.port(fleet.drones[1].port)
    wps = ((*mid, ALT), (port.lon, port.lat, ALT))
    spec = MissionSpec("M2", other_id, wps, (), port.id, T0, T0 + timedelta(seconds=300), column)
    flying = ActiveMission.of(spec, FlightState.FLYING)
    picture.add_mission(flying)
    picture.set_zones(load_zones(EXAMPLES / "zones.geojson"), {})  # the airspace's metric frame
    flights, commander = _AirFlights(picture.registry, mid), _Commander()
    resumes = Resumes(store, FixedClock(), picture, commander, flights, intents, DispatcherSettings())  # type: ignore[arg-type]
    await resumes.give_way(m.spec.intent, air=False)
    assert flights.spawned == []  # no one in the air is asked to
    await resumes.give_way(m.spec.intent)
    (task,) = flights.spawned
    await task
    hold, resume = commander.sent
    assert isinstance(hold, Hold) and isinstance(resume, Resume)
    assert hold.drone_id == resume.drone_id == other_id and resumes.air_yields == 1
    # It goes on when its route is clear of the first drone's new intent (here ahead of it, on
    # the same way home): the conflict the first drone could not avoid is gone.
    assert resume.resume_at is not None and flying.spec.intent is not None and not flying.rerouting
    assert not intents.others(other_id).conflicts(flying.spec.intent)
    assert not intents.others(m.drone_id).conflicts(m.spec.intent)  # type: ignore[arg-type]
    notes = [(e.action, e.payload.get("in_air")) for e in await store.history("flight", "M2")]
    assert ("gave_way", True) in notes


class _SlowCommander(_Commander):
    """Answers a resume only once ``release`` is set (a link that slow under load)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def send_new(self, cmd: object, mission_id: str | None) -> Ack:
        if isinstance(cmd, Resume):
            await self.release.wait()
        return await super().send_new(cmd, mission_id)


class _PassingClock(FixedClock):
    async def sleep(self, seconds: float) -> None:
        return None  # the resume's window passes at once


class _SpawnFlights(_Flights):
    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[Any] = []
        self.spawn_seen = asyncio.Event()

    def spawn(self, coro: Any, name: str) -> None:
        coro.close()  # the hold it would send: that it is asked for is what counts here
        self.spawned.append(name)
        self.spawn_seen.set()


async def test_a_drone_whose_resume_is_overdue_is_kept_clear_of_where_it_holds(store: Store) -> None:
    # A flight in the air will pass over where the first drone holds, long after the first one's
    # intent has it gone. Its resume is not answered by its resume_by: the drone hovers on there,
    # so a column over it is declared and that flight gives way.
    intents, picture, m, where, _ = _setup(store)
    other_id = next(iter(picture.own_intents))
    del picture.own_intents[other_id]
    fleet = picture.fleet
    assert fleet is not None
    frame, port = intent_frame(fleet), fleet.port(fleet.drones[1].port)
    later = hold_intent(other_id, where, ALT, T0 + timedelta(seconds=100), 60.0, frame)
    spec = MissionSpec("M2", other_id, ((*where, ALT),), (), port.id, T0, T0 + timedelta(seconds=300), later)
    picture.add_mission(ActiveMission.of(spec, FlightState.FLYING))
    picture.set_zones(load_zones(EXAMPLES / "zones.geojson"), {})
    commander, flights = _SlowCommander(), _SpawnFlights()
    resumes = Resumes(store, _PassingClock(), picture, commander, flights, intents, DispatcherSettings())  # type: ignore[arg-type]
    resuming = asyncio.ensure_future(resumes.resume(m, 1, where))
    await asyncio.wait_for(flights.spawn_seen.wait(), 30)  # a bound, not a wait: it comes at once
    column = picture.contingent_intents[m.drone_id]
    assert column.state == "Contingent" and met_by(column, [("M2", later)]) == ["M2"]
    assert not intents.others(m.drone_id).conflicts(m.spec.intent)  # type: ignore[arg-type]  # its own intent is clear
    assert flights.spawned == ["give-way"]
    commander.release.set()
    await resuming
    assert m.drone_id not in picture.contingent_intents  # answered: its intent says where it is
    actions = [e.action for e in await store.history("flight", "M1")]
    assert "resume_overdue" in actions, actions
