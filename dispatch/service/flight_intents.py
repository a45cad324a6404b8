"""Operational intents of the routes steering gives drones in flight: re-routes, returns, holds.

A committed mission's intent comes from the planner (:mod:`dispatch.service.planning`). When the
drone is given another route, that intent no longer says where it will be: the replacement's
intent takes its place (the mission's, for a re-route; the drone's own, for a return to port or a
hold after its mission was given up), so that planning keeps clear of where the drone really
flies. A replacement cannot always keep clear of every other intent (the drone is in the air and
must go somewhere): a re-routed drone holds where it is, for the least time after which its new
route (and the hold) is clear of the others, as long as its battery affords (audited
``intent_hold``; :meth:`~dispatch.service.steering.Steering.resume` names the moment it goes on);
a conflict that remains is logged and audited (``intent_conflict``, naming the other drone).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from airspace.frame import LocalFrame
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.missions import Waypoint
from dispatch.service.reroute import Replacement, finishing_s
from dispatch.service.state import ActiveMission
from dispatch.store import Store
from fleet.messages import Telemetry
from routing.deconflict import DeconflictionParams
from routing.intents import CONTINGENT, IntentParams, OperationalIntent, intent_frame, shifted, trip_intent
from routing.route_intent import hold_intent, route_trip
from routing.separation import IntentIndex

log = logging.getLogger(__name__)

HOLD_INTENT_S = 1800.0  # a drone told to hold (no way home) is expected to stay this long
MAX_HOLD_S = 180.0  # longest hold searched for by default (a resume passes what the battery affords)


def met_by(
    intent: OperationalIntent,
    candidates: Iterable[tuple[str, OperationalIntent]],
    spots: Mapping[str, int] | None = None,
) -> list[str]:
    """The keys of ``candidates`` (``(key, intent)`` of other drones) whose intents meet ``intent``
    (the intent conflict check of :class:`routing.separation.IntentIndex`; a port's landing
    ``spots`` counted when given)."""
    index = IntentIndex(LocalFrame.centred_on(*intent.frame_centre), dict(spots or {}))
    index.add(intent)
    return [
        key
        for key, other in candidates
        if other.drone_id != intent.drone_id and index.conflicts(other, first_only=True)
    ]


class FlightIntents:
    """Intents for steered routes, kept in the fleet picture."""

    def __init__(self, store: Store, picture: FleetPicture, params: DeconflictionParams, actor: str) -> None:
        self.store = store
        self.picture = picture
        self.params = params
        self.actor = actor

    def finishing(self, drone_id: str, tele: Telemetry, waypoints: Sequence[Waypoint]) -> float:
        """Seconds of a pad service the drone seen in ``tele`` finishes where it is before it flies
        ``waypoints`` (:func:`~dispatch.service.reroute.finishing_s`: held below their band)."""
        height = self.picture.true_height(tele).alt_m
        service = self.picture.model(drone_id).service_s
        return finishing_s(height, waypoints, self.params.intents.half_band_m, service)

    async def rerouted(
        self,
        m: ActiveMission,
        start: Sequence[float],
        rep: Replacement,
        depart: datetime,
        *,
        on_ground: bool,
        may_hold: bool = True,
        finishing_s: float = 0.0,
        lead_s: float = 0.0,
        max_hold_s: float = MAX_HOLD_S,
    ) -> float:
        """The intent of mission ``m`` after the re-route ``rep`` (flown from ``start`` at ``depart``;
        ``on_ground``: from its port, not yet in the air) replaces its old one. In the air (and
        ``may_hold``: the drone holds where it is, waiting for its resume), the
        seconds the drone is to hold first so that its new route is clear of the others: at least
        ``lead_s`` (the time its resume needs to reach it), at most ``max_hold_s`` (what its
        battery affords); ``lead_s`` when no hold in between clears it (the conflict is audited).
        The intent covers the hold where the drone is, then the route.

        ``finishing_s``: the drone, held below its route (servicing a pad), first finishes that for
        at most this long where it is: the intent covers it there from the ground for that long, and
        its route leaving any time meanwhile (its time windows widened by half of it)."""
        stops = _stops(rep)
        finishing = finishing_s if not on_ground else 0.0
        params = self.params.intents
        if finishing > 0:
            params = dataclasses.replace(params, timing_margin_s=params.timing_margin_s + finishing / 2)
        leave = depart + timedelta(seconds=finishing / 2)
        end = m.spec.end_port
        intent = self._intent(m.drone_id, start, rep.waypoints, stops, end, leave, on_ground, params)
        if finishing > 0:
            alt = max((w[2] for w in rep.waypoints), default=0.0)
            band = self._band()
            top = alt if band is None else max(alt, band[1])
            column = hold_intent(
                m.drone_id, start, top, depart, finishing, self._frame(), self.params.intents
            )
            intent = dataclasses.replace(intent, volumes=column.volumes + intent.volumes)
        hold, clear = 0.0, True
        if not on_ground:
            # In the air the drone holds where it is until its replacement is clear of the others.
            alt = max((w[2] for w in rep.waypoints), default=0.0)
            limit = max_hold_s if may_hold else lead_s
            floor = self._hover_floor(m.drone_id, alt)
            found = self._clear_after(m.drone_id, start, alt, intent, depart, lead_s, limit, floor)
            if found is not None:
                hold, intent = found
            elif lead_s > 0:
                hold, clear = lead_s, False
                intent = self._held(m.drone_id, start, alt, intent, depart, lead_s, floor)
        # Reserved before anything is awaited, so that no other placement misses it.
        m.spec = dataclasses.replace(m.spec, intent=intent)
        m.intent_reroutes = m.reroutes  # the intent is the route's again: conformance judges it
        if hold > 0:
            if clear:
                log.info("%s holds %.0f s before its new route, clear of the others", m.drone_id, hold)
            else:
                log.warning(
                    "%s: no hold from %.0f s to %.0f s (what its battery affords) clears its new route",
                    m.drone_id,
                    lead_s,
                    limit,
                )
            await self.store.note(
                "flight", m.mission_id, "intent_hold", actor=self.actor, payload={"hold_s": hold}
            )
        await self._check("flight", m.mission_id, intent)
        return hold

    def retimed(
        self, m: ActiveMission, where: Sequence[float], rest: Replacement, at: datetime
    ) -> OperationalIntent | None:
        """The intent of the rest of ``m``'s route (``rest``) flown on from ``where`` at ``at``, by a
        drone late or early on its own route; None if it meets another intent in force."""
        intent = self._intent(m.drone_id, where, rest.waypoints, _stops(rest), m.spec.end_port, at, False)
        if self.others(m.drone_id).conflicts(intent, first_only=True):
            return None
        return intent

    def _clear_after(
        self,
        drone_id: str,
        here: Sequence[float],
        alt: float,
        intent: OperationalIntent,
        now: datetime,
        least_s: float = 0.0,
        most_s: float = MAX_HOLD_S,
        floor_m: float = 0.0,
    ) -> tuple[float, OperationalIntent] | None:
        """The least hold from ``least_s`` to ``most_s`` after which ``intent`` (departing ``now``)
        conflicts with no other intent, the hold itself (a column from ``floor_m``) included; None
        if there is none."""
        index = self.others(drone_id)
        delay = least_s
        while delay <= most_s:
            moved = self._held(drone_id, here, alt, intent, now, delay, floor_m)
            found = index.conflicts(moved, first_volume=True)
            if not found:
                return delay, moved
            jump = max((c.other.t1 - c.volume.t0 for c in found if c.other is not None), default=0.0)
            delay += max(self.params.delay_step_s, math.ceil(jump + 1e-3))
        return None

    def _held(
        self,
        drone_id: str,
        here: Sequence[float],
        alt: float,
        intent: OperationalIntent,
        now: datetime,
        delay: float,
        floor_m: float = 0.0,
    ) -> OperationalIntent:
        """``intent`` (departing ``now``) flown ``delay`` seconds later, after a hold where it is
        (a column from ``floor_m`` up to its band)."""
        moved = shifted(intent, delay, alt, self.params.intents.half_band_m)
        if delay <= 0:
            return moved
        p = self.params.intents
        column = hold_intent(drone_id, here, alt, now, delay, self._frame(), p, floor_m=floor_m)
        return dataclasses.replace(moved, volumes=column.volumes + moved.volumes)

    def hover_column(
        self, drone_id: str, here: Sequence[float], alt: float, start: datetime, duration_s: float
    ) -> OperationalIntent:
        """A contingent column over where a drone holds, from ``start`` for ``duration_s``: where
        it is while a command that would move it on has not reached it."""
        floor = self._hover_floor(drone_id, alt)
        column = hold_intent(
            drone_id, here, alt, start, duration_s, self._frame(), self.params.intents, floor_m=floor
        )
        return dataclasses.replace(column, state=CONTINGENT)

    def _hover_floor(self, drone_id: str, alt: float) -> float:
        """The bottom of the column a drone holding before its resume is kept in: the band of the
        lower of where it hovers (its last sample, as a true height) and ``alt``; the ground
        without a sample. A short hold is flown where it is: no landing to make room for."""
        tele = self.picture.telemetry(drone_id)
        if tele is None:
            return 0.0
        here = self.picture.true_height(tele).alt_m
        return max(0.0, min(here, alt) - self.params.intents.half_band_m)

    def affordable_hold_s(self, m: ActiveMission, where: Sequence[float], rest: Replacement) -> float:
        """How long the drone of ``m`` may hover at ``where`` (at the cruise power) and still fly
        ``rest`` (flat, with what it carries now) on the energy above its reserve; 0 if none."""
        model = self.picture.model(m.drone_id)
        frame = self._frame()
        xy = frame.points_to_xy([(where[0], where[1]), *((w[0], w[1]) for w in rest.waypoints)])
        length = float(sum(math.dist(xy[k], xy[k + 1]) for k in range(len(xy) - 1)))
        payload = self.picture.carried_kg(m.drone_id)
        spare = self.picture.spare_wh(m.drone_id) - model.leg_energy_wh(length, payload)
        per_s = model.leg_energy_wh(model.cruise_speed_mps, payload)
        return max(0.0, spare / per_s) if per_s > 0 else 0.0

    def hold_here(self, m: ActiveMission, where: Sequence[float], now: datetime) -> None:
        """The drone of ``m`` holds at ``where`` until told otherwise: its intent says so, so that
        nothing else is planned through where it hovers (its route's is given back on resume)."""
        alt = self.picture.model(m.drone_id).cruise_altitude_m
        band = self._band()
        top = alt if band is None else max(alt, band[1])
        column = hold_intent(m.drone_id, where, top, now, HOLD_INTENT_S, self._frame(), self.params.intents)
        m.spec = dataclasses.replace(m.spec, intent=column)

    async def returning(
        self,
        drone_id: str,
        start: Sequence[float],
        port_id: str,
        waypoints: Sequence[Waypoint],
        depart: datetime,
    ) -> None:
        """The drone flies home to ``port_id`` along ``waypoints`` (no mission any more)."""
        intent = self._intent(drone_id, start, waypoints, [], port_id, depart, False)
        self.picture.set_own_intent(drone_id, intent)
        await self._check("drone", drone_id, intent)

    def return_clear(
        self,
        drone_id: str,
        start: Sequence[float],
        port_id: str,
        waypoints: Sequence[Waypoint],
        depart: datetime,
    ) -> bool:
        """Whether a return home to ``port_id`` along ``waypoints`` keeps clear of the others."""
        intent = self._intent(drone_id, start, waypoints, [], port_id, depart, False)
        return not self.others(drone_id).conflicts(intent, first_only=True)

    async def holding(
        self, drone_id: str, position: Sequence[float], altitude_m: float, now: datetime
    ) -> None:
        """The drone hovers where it is (no safe way home)."""
        assert self.picture.fleet is not None
        frame = intent_frame(self.picture.fleet)
        band = self._band()
        top = altitude_m if band is None else max(altitude_m, band[1])  # over terrain: up to the ceiling
        intent = hold_intent(drone_id, position, top, now, HOLD_INTENT_S, frame, self.params.intents)
        self.picture.set_own_intent(drone_id, intent)
        await self._check("drone", drone_id, intent)

    def _intent(
        self,
        drone_id: str,
        start: Sequence[float],
        waypoints: Sequence[Waypoint],
        stops: list[tuple[int, str, str]],
        end_port: str | None,
        depart: datetime,
        from_port: bool,
        params: IntentParams | None = None,
    ) -> OperationalIntent:
        model = self.picture.model(drone_id)
        frame = self._frame()
        trip = route_trip(
            start,
            waypoints,
            stops,
            end_port,
            depart,
            speed_mps=model.cruise_speed_mps,
            service_s=model.service_s,
            frame=frame,
            from_port=self.picture.drones[drone_id].port if from_port else None,
            # Over terrain a replacement route's true height may be anywhere in the band.
            true_height_m=self._band(),
        )
        return trip_intent(drone_id, 1, trip, frame, params or self.params.intents)

    def _frame(self) -> LocalFrame:
        assert self.picture.fleet is not None
        return intent_frame(self.picture.fleet)

    def _band(self) -> tuple[float, float] | None:
        area = self.picture.terrain
        return None if area is None else (area.clearance_m, area.ceiling_m)

    def landing_spots(self) -> dict[str, int]:
        """The landing spots of each port of the fleet, by port id."""
        assert self.picture.fleet is not None
        return {p.id: p.landing_spots for p in self.picture.fleet.ports}

    def others(self, drone_id: str) -> IntentIndex:
        """The intents in force of every other drone."""
        assert self.picture.fleet is not None
        index = IntentIndex(intent_frame(self.picture.fleet), self.landing_spots())
        for other in self.picture.active_intents():
            if other.drone_id != drone_id:
                index.add(other)
        return index

    async def _check(self, entity: str, entity_id: str, intent: OperationalIntent) -> None:
        """Audit a conflict of the new intent with the others in force (there is no other route)."""
        found = self.others(intent.drone_id).conflicts(intent, first_only=True)
        if not found:
            return
        log.warning("the new route of %s conflicts with another intent: %s", intent.drone_id, found[0])
        await self.store.note(
            entity,
            entity_id,
            "intent_conflict",
            actor=self.actor,
            payload={
                "drone_id": intent.drone_id,
                "other_drone_id": found[0].other_drone,
                "detail": str(found[0]),
            },
        )


def _stops(rep: Replacement) -> list[tuple[int, str, str]]:
    """The stops of ``rep`` as :func:`routing.route_intent.route_trip` takes them (indices into its
    waypoints)."""
    return [
        (s.at - rep.from_index, "pickup" if s.action == "pickup" else "dropoff", s.request_id)
        for s in rep.stops
    ]
