"""A drone found on a mission the dispatcher does not have is stopped, and brought home if it flies.

The dispatcher plans, deconflicts and watches only the missions it holds. A drone whose telemetry
names another one (a start or an upload that reached it after the dispatcher had given that
mission up, a command from outside the dispatcher) flies with no operational intent that anyone
keeps clear of: under load, the 30-request end-to-end test once saw such a drone lose separation
with two others, and its events were refused by the event gate while it flew on. So every
telemetry sample is checked (a listener beside conformance's); the first one that names a mission
other than the drone's current one, in a state that flies or is about to (``ready``, ``en_route``,
``servicing``, ``holding``), starts, once per drone and mission:

1. a warning and an audit entry on the drone (``unknown_mission``: the mission, the state, where);
2. ``abort_mission`` for that mission, recorded then sent (id ``<drone>.abort.<ms>``): on the
   ground the drone drops it and never takes off with it; in the air it stops and hovers;
3. if its first sample after acknowledging is in the air: a mission the dispatcher has for it that
   has not left the ground is given up (its drone is not there to fly it), and the drone returns
   to the nearest port from where it hovers, on its own deconflicted intent
   (``Steering.return_to_port``), unless the dispatcher is already bringing it home.

A sample heard late (stamped before the dispatcher gave the mission up in the usual way, with the
drone's acknowledged abort) costs at most an abort command the drone ignores: a drone drops only a
mission it has, and nothing is sent home unless a fresh sample shows it in the air with nothing
the dispatcher knows of.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from dispatch.lifecycle import GROUND_STATES
from dispatch.service.commander import Commander, drone_command_id
from dispatch.service.drone_service import GROUND_STATES as ON_GROUND
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flights import Flights
from dispatch.store import Store
from fleet.messages import AbortMission, Telemetry

log = logging.getLogger(__name__)

WATCHED_STATES = frozenset({"ready", "en_route", "servicing", "holding"})

ReturnToPort = Callable[[str, tuple[float, float]], Awaitable[None]]


class UnknownMissions:
    """Telemetry listener that stops drones flying (or about to fly) a mission not the dispatcher's."""

    def __init__(
        self,
        store: Store,
        picture: FleetPicture,
        commander: Commander,
        flights: Flights,
        return_to_port: ReturnToPort,
        *,
        actor: str,
    ) -> None:
        self.store = store
        self.picture = picture
        self.commander = commander
        self.flights = flights
        self.return_to_port = return_to_port
        self.actor = actor
        self.seen: set[tuple[str, str]] = set()  # (drone, mission) already handled
        self.found = 0  # unknown missions found (a metric; tests read it)

    def on_telemetry(self, tele: Telemetry, received_at: datetime, shared: bool) -> None:
        """A :data:`~fleet.link.TelemetryListener`: start stopping the drone if the sample names a
        mission that is not its current one (never raises)."""
        try:
            self._check(tele)
        except Exception:
            self.flights.stats.errors["unknown-mission"] += 1
            log.exception("unknown-mission check of %s failed", tele.drone_id)

    def _check(self, tele: Telemetry) -> None:
        mission_id = tele.mission_id
        if mission_id is None or tele.state not in WATCHED_STATES:
            return
        view = self.picture.drones.get(tele.drone_id)
        if view is None or view.mission == mission_id or (tele.drone_id, mission_id) in self.seen:
            return
        self.seen.add((tele.drone_id, mission_id))
        self.found += 1
        self.flights.spawn(self._stop(tele), f"unknown-mission:{tele.drone_id}")

    async def _stop(self, tele: Telemetry) -> None:
        drone_id, mission_id = tele.drone_id, tele.mission_id
        assert mission_id is not None
        view = self.picture.drones[drone_id]
        log.warning(
            "%s is %s on mission %s, which the dispatcher does not have (current: %s): aborting it",
            drone_id,
            tele.state,
            mission_id,
            view.mission,
        )
        payload = {
            "mission_id": mission_id,
            "state": tele.state,
            "current_mission": view.mission,
            "lon": tele.lon,
            "lat": tele.lat,
            "at": tele.ts.isoformat(),
        }
        await self.store.note("drone", drone_id, "unknown_mission", actor=self.actor, payload=payload)
        cmd = AbortMission(
            drone_id=drone_id,
            cmd_id=drone_command_id(drone_id, "abort"),
            expires_at=self.commander.expiry(),
            mission_id=mission_id,
        )
        ack = await self.commander.send_new(cmd, None)
        if ack is None or not ack.accepted:
            # Unanswered, the command waits in the drone's session; refused (expired, or a drone
            # that will not), it is for an operator: in both cases the audit says so.
            reason = ack.reason if ack is not None else "no answer"
            log.warning("abort of unknown mission %s on %s: %s", mission_id, drone_id, reason)
            await self.store.note(
                "drone",
                drone_id,
                "unknown_mission_not_aborted",
                actor=self.actor,
                payload={"mission_id": mission_id, "cmd_id": cmd.cmd_id, "reason": reason},
            )
            return
        with contextlib.suppress(TimeoutError):
            after = await self.flights.telemetry_after(drone_id, ack.ts)
            if after.state in ON_GROUND or view.returning or not view.usable:
                return  # on the ground it stays; one written off or coming home is in hand already
            m = self.picture.missions.get(view.mission) if view.mission else None
            if m is not None and m.state in GROUND_STATES:
                await self.flights.abort(m, f"its drone is in the air on mission {mission_id}")
            elif m is not None:
                return  # a mission of ours in the air: its own steering decides
            view.returning = True
            await self.return_to_port(drone_id, (after.lon, after.lat))
