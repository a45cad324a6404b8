"""Operational intents of the routes steering gives drones in flight: re-routes, returns, holds.

A committed mission's intent comes from the planner (:mod:`dispatch.service.planning`). When the
drone is given another route, that intent no longer says where it will be: the replacement's
intent takes its place (the mission's, for a re-route; the drone's own, for a return to port or a
hold after its mission was given up), so that planning keeps clear of where the drone really
flies. A replacement cannot always keep clear of every other intent (the drone is in the air and
must go somewhere): such a conflict is logged and audited on the flight or drone, with the other
drone named, for the operator.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime

from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.missions import Waypoint
from dispatch.service.reroute import Replacement
from dispatch.service.state import ActiveMission
from dispatch.store import Store
from routing.deconflict import DeconflictionParams
from routing.intents import OperationalIntent, intent_frame, trip_intent
from routing.route_intent import hold_intent, route_trip
from routing.separation import IntentIndex

log = logging.getLogger(__name__)

HOLD_INTENT_S = 1800.0  # a drone told to hold (no way home) is expected to stay this long


class FlightIntents:
    """Intents for steered routes, kept in the fleet picture."""

    def __init__(self, store: Store, picture: FleetPicture, params: DeconflictionParams, actor: str) -> None:
        self.store = store
        self.picture = picture
        self.params = params
        self.actor = actor

    async def rerouted(
        self, m: ActiveMission, start: Sequence[float], rep: Replacement, depart: datetime, *, on_ground: bool
    ) -> OperationalIntent:
        """The intent of mission ``m`` after the re-route ``rep`` (flown from ``start`` at ``depart``;
        ``on_ground``: from its port, not yet in the air) replaces its old one."""
        stops = [
            (s.at - rep.from_index, "pickup" if s.action == "pickup" else "dropoff", s.request_id)
            for s in rep.stops
        ]
        intent = self._intent(m.drone_id, start, rep.waypoints, stops, m.spec.end_port, depart, on_ground)
        m.spec = dataclasses.replace(m.spec, intent=intent)
        await self._check("flight", m.mission_id, intent)
        return intent

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

    async def holding(
        self, drone_id: str, position: Sequence[float], altitude_m: float, now: datetime
    ) -> None:
        """The drone hovers where it is (no safe way home)."""
        assert self.picture.fleet is not None
        frame = intent_frame(self.picture.fleet)
        intent = hold_intent(drone_id, position, altitude_m, now, HOLD_INTENT_S, frame, self.params.intents)
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
    ) -> OperationalIntent:
        assert self.picture.fleet is not None
        model = self.picture.model(drone_id)
        frame = intent_frame(self.picture.fleet)
        trip = route_trip(
            start, waypoints, stops, end_port, depart,
            speed_mps=model.cruise_speed_mps, service_s=model.service_s, frame=frame,
            from_port=self.picture.drones[drone_id].port if from_port else None,
        )  # fmt: skip
        return trip_intent(drone_id, 1, trip, frame, self.params.intents)

    async def _check(self, entity: str, entity_id: str, intent: OperationalIntent) -> None:
        """Audit a conflict of the new intent with the others in force (there is no other route)."""
        assert self.picture.fleet is not None
        fleet = self.picture.fleet
        index = IntentIndex(intent_frame(fleet), {p.id: p.landing_spots for p in fleet.ports})
        for other in self.picture.active_intents():
            if other.drone_id != intent.drone_id:
                index.add(other)
        found = index.conflicts(intent, first_only=True)
        if not found:
            return
        log.warning("the new route of %s conflicts with another intent: %s", intent.drone_id, found[0])
        await self.store.note(
            entity, entity_id, "intent_conflict", actor=self.actor,
            payload={"drone_id": intent.drone_id, "other_drone_id": found[0].other_drone,
                     "detail": str(found[0])},
        )  # fmt: skip
