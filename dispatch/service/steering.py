"""Steering: the missions in flight change course when the airspace or an office asks.

- **Zone scans**: the zones in force are read from the store (one the airspace cannot read is
  skipped and audited); every mission whose rest of path enters a zone new or changed is
  re-routed, and so is every mission rebuilt at start against every zone in force.
- **Re-route** (:mod:`dispatch.service.reroute` computes the replacement): a flying drone is
  held, a safe replacement from where it holds is sent, then it is resumed; a drone not yet in the
  air is re-routed on the ground. One steering of a mission at a time.
- **Return**: with no safe way to finish (or a refused replacement), the mission is aborted (what
  is not on board is re-planned) and the drone returns to the nearest port it can reach, or holds.
- **Cancel**: a request on a drone's mission is taken off it (held, re-routed without its stops,
  resumed) before it is recorded ``cancelled``; the intent is recorded first, so a restarted
  dispatcher finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airspace.paths import Airspace, AirspaceError, FlightPath
from dispatch.lifecycle import FlightState, InvalidTransition, RequestState
from dispatch.service.commander import (
    Commander,
    drone_command_id,
    ground_reroute_id,
    hold_id,
    reroute_id,
)
from dispatch.service.failpoints import failpoint
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flight_intents import FlightIntents
from dispatch.service.flights import Flights
from dispatch.service.intake import ServiceArea
from dispatch.service.isolation import note_skipped_zones, parse_stored_zones
from dispatch.service.missions import protocol_stops
from dispatch.service.reroute import (
    Replacement,
    crosses,
    next_waypoint,
    paths_home,
    pick_return,
    replacement,
)
from dispatch.service.resumes import Resumes
from dispatch.service.state import ActiveMission, DispatcherStats
from dispatch.service.timing import deconfliction_params
from dispatch.service.weather_gate import WeatherGate
from dispatch.settings.model import DispatcherSettings
from dispatch.store import Conflict, Store
from fleet.clock import Clock
from fleet.messages import Hold, Reroute, ReturnToPort
from routing.terrain_legs import leg_heights
from routing.wind_energy import forecast_winds
from routing.wind_energy import leg_energy_wh as wind_leg_energy_wh

log = logging.getLogger(__name__)

REROUTE_SLACK = timedelta(minutes=15)  # zones counted this long after a mission's expected end


def must_reroute(
    airspace: Airspace,
    m: ActiveMission,
    pos: tuple[float, float] | None,
    zone_ids: Sequence[str],
    now: datetime,
) -> bool:
    """Whether a zone scan re-routes the mission: it is neither over, nor being steered or aborted,
    its drone's position is known, and the rest of its path from there enters one of ``zone_ids``
    before its expected end (plus :data:`REROUTE_SLACK`). Missions still on the ground count too:
    one committed a moment before the zone came would otherwise take off into it."""
    if m.state in (FlightState.COMPLETED, FlightState.ABORTED) or m.rerouting or m.aborting:
        return False
    if m.approving:
        return False  # nothing sent yet: checked against the zones once approved (approvals.cleared)
    if pos is None:
        return False
    first = next_waypoint(airspace, pos, m.waypoints, max(1, m.reached_at))
    until = max(m.eta_end or now, now) + REROUTE_SLACK
    return bool(crosses(airspace, zone_ids, pos, m.waypoints, first, now, until))


class Steering:
    """Zone scans, re-routes, hold and resume, returns to port and cancels of missions in flight."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        picture: FleetPicture,
        commander: Commander,
        flights: Flights,
        stats: DispatcherStats,
        settings: DispatcherSettings,
        weather: WeatherGate | None = None,
    ) -> None:
        """``weather``: the dispatcher's gate, whose forecast wind a return to port must afford."""
        self.weather = weather
        self.store = store
        self.clock = clock
        self.picture = picture
        self.commander = commander
        self.flights = flights
        self.stats = stats
        self.settings = settings
        self.actor = settings.actor
        self.horizon = timedelta(seconds=settings.horizon_s)
        self.zone_lock = asyncio.Lock()  # zone loads, scans and plan commits one at a time
        self.intents = FlightIntents(store, picture, deconfliction_params(settings, clock), self.actor)
        self.resumes = Resumes(store, clock, picture, commander, flights, self.intents, settings)
        self.resumes.recheck = self.recheck
        self.resumes.send_home = self.send_home

    def wake(self) -> None:
        """Ask for a planning round soon."""
        self.flights.wake()

    async def cancel_on_flight(
        self, request_id: str, *, actor: str, reason: str, wait_s: float = 30.0
    ) -> str:
        """Take a request planned on or dispatched to a drone off the drone's mission, then record it
        ``cancelled``: the drone is held (in the air) or re-routed on the ground, its path re-made
        through its other stops, and resumed. The intent is recorded first (``cancel_requested``),
        so a dispatcher that restarts meanwhile finishes it.

        Returns ``cancelled``; ``picked_up`` (too late: the document is on board and goes on);
        ``not_on_flight`` (no mission of this dispatcher carries it now: look at the request
        again); ``pending`` (not confirmed by the drone within ``wait_s``: it goes on, and the
        request is cancelled when it is); ``not_steered`` (the drone took no new route: the request
        stays on its mission, the audit log says why).
        """
        m = self.picture.carrying(request_id)
        if m is None:
            return "not_on_flight"
        if request_id in m.picked:
            return "picked_up"
        await self.store.note(
            "request",
            request_id,
            "cancel_requested",
            actor=actor,
            payload={"reason": reason, "mission_id": m.mission_id, "drone_id": m.drone_id},
        )
        cancel = self.take_off_mission(m, request_id, actor, reason)
        task = self.flights.spawn(cancel, f"cancel:{request_id}")
        try:
            async with asyncio.timeout(wait_s):  # wait_for can swallow a cancel (3.11)
                return str(await asyncio.shield(task))
        except TimeoutError:
            return "pending"

    async def cancel_intent(self, request_id: str) -> tuple[str, str] | None:
        """(actor, reason) of a cancel asked for and neither done nor refused, else None."""
        notes = [
            e
            for e in await self.store.history("request", request_id)
            if e.action in ("cancel_requested", "cancel_refused", "cancel_failed")
        ]
        if not notes or notes[-1].action != "cancel_requested":
            return None
        return notes[-1].actor, str(notes[-1].payload.get("reason") or "cancelled")

    async def take_off_mission(self, m: ActiveMission, request_id: str, actor: str, reason: str) -> str:
        if m.approving:
            # Nothing was sent to its drone yet: the flight is given up (its other requests are
            # planned again), whatever the authority answers.
            await self.flights.abort(
                m, f"request {request_id} cancelled while the flight waited for approval"
            )
        else:
            m.rerouting = True
            await self.reroute(m, [], time.perf_counter(), self.clock.now(), drop=frozenset({request_id}))
        view = await self.store.requests.get(request_id)
        if view.state == RequestState.CANCELLED:
            m.cancelled.add(request_id)
            return "cancelled"
        if request_id in m.picked or view.state not in (
            RequestState.ACCEPTED,
            RequestState.PLANNED,
            RequestState.DISPATCHED,
        ):
            await self.store.note(
                "request",
                request_id,
                "cancel_refused",
                actor=self.actor,
                payload={"reason": f"picked up first ({view.state})", "mission_id": m.mission_id},
            )
            return "picked_up"
        holder = self.picture.carrying(request_id)
        if holder is m:
            await self.store.note(
                "request",
                request_id,
                "cancel_failed",
                actor=self.actor,
                payload={"reason": "the drone took no route without the request", "mission_id": m.mission_id},
            )
            return "not_steered"
        if holder is not None:
            return "not_on_flight"  # its mission was given up and it is on another one now
        # Off the mission: re-routed without it, or the mission was aborted (the request is
        # ``accepted`` again). The expected state guards against the planner taking it meanwhile.
        try:
            await self.flights.request_to(
                request_id,
                RequestState.CANCELLED,
                actor=actor,
                details={"reason": reason, "mission_id": m.mission_id, "drone_id": m.drone_id},
                expected_state=view.state,
            )
        except (InvalidTransition, Conflict):
            return "not_on_flight"
        m.cancelled.add(request_id)
        self.wake()
        return "cancelled"

    async def load_zones(self) -> list[str]:
        """Read the active zones from the store; return the ids that are new or changed."""
        views = await self.store.zones.list(active_only=True)
        # One zone the airspace cannot read, or far outside the service area, is skipped (and
        # audited once per version), not all.
        fleet = self.picture.fleet
        zones, skipped = parse_stored_zones(views, ServiceArea.of(fleet) if fleet is not None else None)
        stamps = {v.id: v.updated_at for v in views}
        changed = self.picture.zones_changed(stamps)
        await note_skipped_zones(self.store, skipped, changed, self.actor)
        self.picture.set_zones(zones, stamps)
        return changed

    async def zones_changed(self) -> list[str]:
        async with self.zone_lock:
            return await self._scan_zones()

    async def _scan_zones(self) -> list[str]:
        changed = await self.load_zones()
        if not changed:
            return []
        return self._reroute_crossing(changed)

    async def scan_recovered(self) -> None:
        """Check the missions rebuilt at start against every zone in force, from where their drones
        are now. A zone stored while no dispatcher ran, or whose re-route died with the previous
        dispatcher before its hold was recorded, is not new to this one: no tick would look."""
        now = self.clock.now()
        drones = [m.drone_id for m in self.picture.missions.values() if not m.rerouting]
        await asyncio.gather(*(self.flights.telemetry_after(d, now) for d in drones), return_exceptions=True)
        async with self.zone_lock:
            self._reroute_crossing([z.id for z in self.picture.zones])

    def _reroute_crossing(self, zone_ids: list[str]) -> list[str]:
        """Start re-routing every mission whose rest of path enters one of ``zone_ids``; return them."""
        t_wall, t_sim = time.perf_counter(), self.clock.now()
        hit = [
            m.mission_id
            for m in list(self.picture.missions.values())
            if self._check_mission(m, zone_ids, t_wall, t_sim)
        ]
        self.wake()
        return hit

    async def send_home(self, m: ActiveMission, where: Sequence[float], reason: str) -> None:
        """Give ``m`` up and send its drone, in the air at ``where``, to the nearest port (as for a
        low battery): what is on board goes back with it."""
        view = self.picture.drones.get(m.drone_id)
        if view is not None:
            view.returning = True
        await self.flights.abort(m, reason)
        self.flights.spawn(self.return_to_port(m.drone_id, (where[0], where[1])), f"return:{m.drone_id}")

    def recheck(self, m: ActiveMission) -> None:
        """Check a mission another module held (zone scans skipped it) against every zone in force."""
        if m.mission_id in self.picture.missions:
            self._check_mission(m, [z.id for z in self.picture.zones], time.perf_counter(), self.clock.now())

    def _check_mission(self, m: ActiveMission, zone_ids: list[str], t_wall: float, t_sim: datetime) -> bool:
        """Start a re-route of the mission if the rest of its path crosses one of ``zone_ids``."""
        if not must_reroute(self.picture.airspace, m, self.picture.position(m.drone_id), zone_ids, t_sim):
            return False
        m.rerouting = True
        log.info("%s: its route enters %s; re-routing", m.mission_id, zone_ids)
        self.flights.spawn(self.reroute(m, zone_ids, t_wall, t_sim), f"reroute:{m.mission_id}")
        return True

    async def reroute(
        self,
        m: ActiveMission,
        zone_ids: list[str],
        t_wall: float,
        t_sim: datetime,
        drop: frozenset[str] = frozenset(),
    ) -> None:
        """Hold the drone, plan a safe replacement from where it holds, re-route, resume (a mission
        not yet in the air is re-routed on the ground, without a hold). ``drop``: requests to take
        off the mission (cancelled by their office); one already picked up stays on it.

        One steering of a mission at a time. A zone that changed meanwhile was skipped by the zone
        scan (the mission was being re-routed), so the mission is checked against it afterwards."""
        failpoint("reroute.begun")
        stamp = dict(self.picture.zone_stamp)
        try:
            async with m.steer:
                await self._steer(m, zone_ids, t_wall, t_sim, drop)
        finally:
            m.rerouting = False
            if self.picture.zone_stamp != stamp and m.mission_id in self.picture.missions:
                every = [z.id for z in self.picture.zones]
                self._check_mission(m, every, time.perf_counter(), self.clock.now())

    async def _steer(
        self, m: ActiveMission, zone_ids: list[str], t_wall: float, t_sim: datetime, drop: frozenset[str]
    ) -> None:
        try:
            if m.state != FlightState.FLYING and await self._reroute_on_ground(
                m, zone_ids, t_wall, t_sim, drop
            ):
                return
            for _attempt in range(self.settings.reroute_hold_attempts):
                if m.mission_id not in self.picture.missions:
                    return
                n = m.reroutes = m.reroutes + 1
                expires = self.commander.expiry()
                hold = Hold(drone_id=m.drone_id, cmd_id=hold_id(m.mission_id, n), expires_at=expires)
                ack = await self.commander.send_new(hold, m.mission_id)
                # Refused because it holds already (after a restart): as good as acknowledged.
                if ack is None or (not ack.accepted and not self.picture.holding(m.drone_id)):
                    # Servicing a pad (cannot hold now): wait for the drone to be on its way again.
                    await self.flights.telemetry_after(m.drone_id, self.clock.now() + timedelta(seconds=1))
                    continue
                failpoint("reroute.held")
                tele = await self.flights.telemetry_after(m.drone_id, ack.ts)
                model = self.picture.model(m.drone_id)
                pos = (tele.lon, tele.lat)
                finishing = self.intents.finishing(m.drone_id, tele, m.waypoints)
                now = self.clock.now()
                until = max(m.eta_end or now, now) + REROUTE_SLACK
                first = next_waypoint(self.picture.airspace, pos, m.waypoints, max(1, m.reached_at))
                # Documents on board stay on board: a cancel that came too late drops nothing. A
                # pickup stop behind the drone counts as done even before its event arrives.
                dropping = {
                    r for r in drop - m.picked if all(s.at >= first for s in m.stops if s.request_id == r)
                }
                stops = [s for s in m.stops if s.request_id not in dropping]
                airspace = self.picture.airspace
                if not dropping and not crosses(airspace, zone_ids, pos, m.waypoints, first, now, until):
                    log.info(
                        "%s: its route from where it holds keeps out of %s; resumed", m.mission_id, zone_ids
                    )
                    await self.resumes.resume(m, n, pos, finishing_s=finishing)
                    return
                refusals: list[str] = []
                for from_index in (first, first + 1):
                    try:
                        rep = replacement(
                            self.picture.airspace,
                            pos,
                            m.waypoints,
                            stops,
                            from_index,
                            now,
                            speed_mps=model.cruise_speed_mps,
                            service_s=model.service_s,
                        )
                    except AirspaceError as exc:
                        # No safe way to finish: what is not picked up is re-planned, the drone
                        # returns to the nearest port it can reach (or holds if none).
                        await self._send_home(m, zone_ids, pos, "no_safe_path", str(exc))
                        return
                    cmd_id = reroute_id(m.mission_id, n, second=from_index != first)
                    cancel = bool(drop)
                    if await self._send_reroute(
                        m, rep, zone_ids, cmd_id, t_wall, t_sim, cancel, start=pos, n=n, finishing=finishing
                    ):
                        return
                    refusals.append(cmd_id)
                # The drone holds and takes no safe replacement (e.g. not enough energy for the
                # detour): resuming would fly it into the zone, so it goes home from where it holds.
                await self._send_home(m, zone_ids, pos, "reroute_refused", ", ".join(refusals))
                return
            log.error("could not re-route %s", m.mission_id)
        except Exception as exc:
            # A held drone is never left hovering until its battery is empty because of a bug here.
            log.exception("re-route of %s failed; sending the drone home", m.mission_id)
            where = self.picture.position(m.drone_id)
            if where is not None and m.mission_id in self.picture.missions:
                await self._send_home(m, zone_ids, where, "reroute_failed", repr(exc))
            raise

    async def _reroute_on_ground(
        self, m: ActiveMission, zone_ids: list[str], t_wall: float, t_sim: datetime, drop: frozenset[str]
    ) -> bool:
        """Re-route a mission whose drone has not taken off: once the upload is acknowledged, replace
        everything after the port. False when the drone took off meanwhile (or refused): the caller
        holds it and re-routes in the air."""
        for _ in range(self.settings.ground_reroute_wait_s):
            if m.mission_id not in self.picture.missions:
                return True  # refused or aborted: nothing of it will fly
            if m.state not in (FlightState.PLANNED, FlightState.COMMANDED):
                break
            await self.flights.telemetry_after(m.drone_id, self.clock.now() + timedelta(seconds=1))
        if m.state != FlightState.ACKED:
            return False
        model = self.picture.model(m.drone_id)
        try:
            rep = replacement(
                self.picture.airspace,
                m.waypoints[0],
                m.waypoints,
                [s for s in m.stops if s.request_id not in drop],
                1,
                self.clock.now(),
                speed_mps=model.cruise_speed_mps,
                service_s=model.service_s,
            )
        except AirspaceError:
            return False
        n = m.reroutes = m.reroutes + 1
        cmd_id = ground_reroute_id(m.mission_id, n)
        return await self._send_reroute(m, rep, zone_ids, cmd_id, t_wall, t_sim, bool(drop), start=None)

    async def _send_reroute(
        self,
        m: ActiveMission,
        rep: Replacement,
        zone_ids: list[str],
        cmd_id: str,
        t_wall: float,
        t_sim: datetime,
        cancel: bool = False,
        *,
        start: tuple[float, float] | None,
        n: int = 0,
        finishing: float = 0.0,
    ) -> bool:
        """Send one re-route; on the drone's ack, adopt it (mission view, its intent, stats, audit
        note) and, in the air, resume it (:meth:`resume`). ``cancel``: it takes a cancelled request
        off (counted apart from re-routes around zones). ``start``: where the drone holds for
        steering number ``n`` (None: on the ground at its port, not yet off). ``finishing``:
        seconds of a pad service it finishes there first (held below its route)."""
        codes = {s.request_id: await self.store.requests.codes_for_mission(s.request_id) for s in rep.stops}
        cmd = Reroute(
            drone_id=m.drone_id,
            cmd_id=cmd_id,
            expires_at=self.commander.expiry(),
            mission_id=m.mission_id,
            from_index=rep.from_index,
            waypoints=list(rep.waypoints),
            stops=protocol_stops(rep.stops, codes),
        )
        ack = await self.commander.send_new(cmd, m.mission_id)
        if ack is None or not ack.accepted:
            log.info("reroute %s refused: %s", cmd_id, ack and ack.reason)
            return False
        failpoint("reroute.sent")
        m.adopt(rep.from_index, rep.waypoints, rep.stops)
        if start is None:
            await self.intents.rerouted(m, m.waypoints[0], rep, m.spec.depart, on_ground=True)
        else:
            # It holds on only as long as its battery affords beyond the new route (a full-suite
            # run once saw a drone held without that check empty its battery).
            await self.resumes.resume(m, n, start, finishing_s=finishing)
        if cancel:
            self.stats.cancel_steers += 1
        else:
            self.stats.reroutes += 1
            self.stats.reroute_reaction_wall_s.append(time.perf_counter() - t_wall)
            self.stats.reroute_reaction_sim_s.append((self.clock.now() - t_sim).total_seconds())
        await self.note_rerouted(m.mission_id, cmd.cmd_id, rep.from_index, rep.waypoints, zone_ids)
        return True

    async def note_rerouted(
        self,
        mission_id: str,
        cmd_id: str,
        from_index: int,
        waypoints: Sequence[Sequence[float]],
        zone_ids: list[str],
        *,
        recovered: bool = False,
    ) -> None:
        """The flight's ``rerouted`` audit note for an acknowledged re-route (``recovered``: noted
        by a dispatcher that found it acknowledged after a restart)."""
        payload: dict[str, Any] = {
            "zones": zone_ids,
            "from_index": from_index,
            "cmd_id": cmd_id,
            "waypoints": [list(w) for w in waypoints],
        }
        if recovered:
            payload["recovered"] = True
        await self.store.note("flight", mission_id, "rerouted", actor=self.actor, payload=payload)

    async def _send_home(
        self, m: ActiveMission, zone_ids: list[str], pos: tuple[float, float], action: str, detail: str
    ) -> None:
        """Give up a mission a zone change blocks: record why, abort it (what is not on board is
        re-planned) and send the drone to the nearest port it can reach."""
        log.warning("%s for %s: %s; returning to port", action, m.mission_id, detail)
        await self.store.note(
            "flight", m.mission_id, action, actor=self.actor, payload={"zones": zone_ids, "detail": detail}
        )
        await self.flights.abort(m, f"no safe path after a zone change: {detail}")
        self.picture.drones[m.drone_id].returning = True
        await self.return_to_port(m.drone_id, pos)

    async def _hover_at(self, drone_id: str, pos: tuple[float, float]) -> tuple[float, float]:
        """Tell the drone to hold and return where it hovers (its first sample after the hold): it
        flew on since ``pos`` (at 200x, a tenth of a wall second is 300 m), and a return planned
        from there would have it fly unchecked to the route's first waypoint. One that refuses (on
        the ground or a pad: it stays put) or does not answer: its last known position."""
        hold = Hold(
            drone_id=drone_id, cmd_id=drone_command_id(drone_id, "hold"), expires_at=self.commander.expiry()
        )
        ack = await self.commander.send_new(hold, None)
        if ack is not None and ack.accepted:
            with contextlib.suppress(TimeoutError):
                tele = await self.flights.telemetry_after(drone_id, ack.ts)
                return (tele.lon, tele.lat)
        return self.picture.position(drone_id) or pos

    async def return_to_port(self, drone_id: str, pos: tuple[float, float]) -> None:
        """Fly to the nearest port reachable on a safe path (hold where it is if none), planned from
        where the drone holds (:meth:`_hover_at`): ``pos`` is where it was when the return was
        decided, and it flies straight from where it is to the route's first waypoint."""
        assert self.picture.fleet is not None
        pos = await self._hover_at(drone_id, pos)
        model = self.picture.model(drone_id)
        now = self.clock.now()
        ports = [(p.id, p.lon, p.lat) for p in self.picture.fleet.ports]
        options = paths_home(
            self.picture.airspace,
            pos,
            ports,
            altitude_m=model.cruise_altitude_m,
            at=now,
            until=now + self.horizon,
        )
        alt = model.cruise_altitude_m
        payload = self.picture.carried_kg(drone_id)
        spare = self.picture.spare_wh(drone_id)

        def waypoints(path: FlightPath) -> list[tuple[float, float, float]]:
            """The return's waypoints at cruise altitude (the drone's own position left out)."""
            return [(p[0], p[1], alt) for p in list(path.waypoints)[1:] or path.waypoints]

        def clear(port_id: str, path: FlightPath) -> bool:
            return self.intents.return_clear(drone_id, pos, port_id, waypoints(path), now)

        forecast = self.weather.energy_forecast() if self.weather is not None else None

        def affordable(path: FlightPath) -> bool:
            climbs = 0.0
            if self.picture.terrain is not None:  # over terrain the climbs cost too
                lonlats = [(p[0], p[1]) for p in path.waypoints]
                climbs = model.climb_energy_wh(leg_heights(self.picture.terrain, model, lonlats).climb_m)
            if forecast is None:
                return model.leg_energy_wh(path.length_m, payload) + climbs <= spare
            end = now + timedelta(seconds=path.length_m / model.cruise_speed_mps)
            winds = forecast_winds(forecast, model, now, end)
            flat = wind_leg_energy_wh(model, path.length_m, payload, list(path.waypoints), winds)
            return flat + climbs <= spare

        # The nearest port whose return keeps clear of the other drones' intents (a farther one
        # within reach and a detour limit), else the nearest: its conflict is audited.
        picked = pick_return(options, clear, affordable)
        if picked is None:
            await self.commander.send_new(
                Hold(
                    drone_id=drone_id,
                    cmd_id=drone_command_id(drone_id, "hold"),
                    expires_at=self.commander.expiry(),
                ),
                None,
            )
            await self.intents.holding(drone_id, pos, model.cruise_altitude_m, now)
            return
        cmd = ReturnToPort(
            drone_id=drone_id,
            cmd_id=drone_command_id(drone_id, "rtp"),
            expires_at=self.commander.expiry(),
            port_id=picked[0],
            waypoints=waypoints(picked[1]),
            altitude_frame=self.commander.altitude_frame,
        )
        for attempt in range(self.settings.return_attempts):
            ack = await self.commander.send_new(cmd, None)
            if ack is not None and ack.accepted:
                await self.intents.returning(drone_id, pos, cmd.port_id, cmd.waypoints, self.clock.now())
                await self.resumes.give_way(self.picture.own_intents.get(drone_id))
                return
            # Refused while servicing a pad: try again a little later with a new command.
            await self.flights.telemetry_after(drone_id, self.clock.now() + timedelta(seconds=5))
            cmd = ReturnToPort(
                drone_id=drone_id,
                cmd_id=drone_command_id(drone_id, "rtp", attempt),
                expires_at=self.commander.expiry(),
                port_id=cmd.port_id,
                waypoints=cmd.waypoints,
                altitude_frame=cmd.altitude_frame,
            )
