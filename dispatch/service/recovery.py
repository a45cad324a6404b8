"""Recovery: a dispatcher that starts rebuilds the missions in progress from the store and finishes
what the previous one left half done.

- Each active flight is rebuilt (its acknowledged re-routes adopted; the ``rerouted`` note of one
  acknowledged without its note is written) with the custody of its requests; a cancel asked for
  and not finished is finished.
- A flight being aborted is left to :mod:`dispatch.service.abort`; the others' upload and start
  are sent again in order (same command ids: the commander's grammar); a flight stopped between a
  re-route's hold and its resume is looked at again against every zone in force.
- Every other command never acknowledged is re-sent as stored; a re-route acknowledged now is
  adopted and noted.
- Idle drones are located at the port their telemetry says they stand at.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from dispatch.lifecycle import GROUND_STATES, FlightState, RequestState
from dispatch.service import abort
from dispatch.service.commander import (
    Commander,
    is_dispatch_id,
    latest_start,
    upload_id,
    uses_steering_number,
)
from dispatch.service.drone_service import port_at
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flights import Flights
from dispatch.service.missions import MissionSpec, StopSpec
from dispatch.service.planning import Planning
from dispatch.service.reroute import Replacement
from dispatch.service.state import ActiveMission
from dispatch.service.steering import Steering
from dispatch.store import Store
from dispatch.store.views import CommandView, FlightView
from fleet.clock import Clock
from fleet.link import FleetLink
from fleet.messages import Telemetry


class Recovery:
    """Rebuilds the fleet picture's missions from the store at start and re-sends what is pending."""

    def __init__(
        self,
        store: Store,
        link: FleetLink,
        clock: Clock,
        picture: FleetPicture,
        commander: Commander,
        flights: Flights,
        steering: Steering,
        planning: Planning,
    ) -> None:
        self.store = store
        self.link = link
        self.clock = clock
        self.picture = picture
        self.commander = commander
        self.flights = flights
        self.steering = steering
        self.planning = planning

    async def recover(self) -> None:
        """Rebuild the view of missions from the store, re-send commands never acknowledged and
        re-examine flights left holding by a re-route that never finished."""
        held: set[str] = set()
        for flight in await self.store.flights.list_active():
            m = rebuild(flight)
            await self._note_adopted_reroutes(flight)
            self.picture.add_mission(m)
            await self._reroute_intent(m, flight)
            for rid in flight.request_ids:
                req = await self.store.requests.get(rid)
                if req.state == RequestState.PICKED_UP:
                    m.picked.add(rid)
                    self.picture.drones[m.drone_id].onboard.add(rid)
                elif req.state == RequestState.DELIVERED:
                    m.picked.add(rid)
                    m.delivered.add(rid)
                elif req.state == RequestState.CANCELLED:
                    m.cancelled.add(rid)
                elif req.state in (RequestState.PLANNED, RequestState.DISPATCHED):
                    intent = await self.steering.cancel_intent(rid)
                    if intent is not None:
                        # Stopped while cancelling it: finish (the steering is idempotent).
                        cancel = self.steering.take_off_mission(m, rid, intent[0], intent[1])
                        self.flights.spawn(cancel, f"cancel:{rid}")
            if await abort.recover(self.flights, m, flight):
                continue
            cmds = {c.cmd_id: c for c in flight.commands}
            up, go = cmds.get(upload_id(m.mission_id)), latest_start(m.mission_id, flight.commands)
            if up is None or go is None:
                self.flights.spawn(self.planning.dispatch(m), f"dispatch:{m.mission_id}")
            elif m.state in GROUND_STATES:
                self.flights.spawn(self.planning.continue_dispatch(m, up, go), f"dispatch:{m.mission_id}")
            if m.state in (FlightState.ACKED, FlightState.FLYING) and held_without_resume(flight):
                # Stopped between a re-route's hold and its resume: the drone hovers until told
                # otherwise. Look again at its path against every zone now in force (below).
                held.add(m.mission_id)
                m.rerouting = True
        for cmd in await self.store.flights.pending_commands():
            # Mission upload and start are re-sent by the dispatch sequence above, in order; a
            # pending hold of a flight re-examined below is replaced by the re-route's own.
            # An abort of a flight still being aborted is re-sent by abort.recover above.
            if is_dispatch_id(cmd.cmd_id) or (cmd.kind in ("Hold", "Resume") and cmd.mission_id in held):
                continue
            if cmd.kind == abort.KIND and cmd.mission_id in self.picture.missions:
                continue
            if cmd.kind == "Reroute":
                # Before the held flight is looked at again: that starts from the route it flies.
                steered = self.picture.missions.get(cmd.mission_id or "")
                self.flights.spawn(self._resend_reroute(steered, cmd), f"resend:{cmd.cmd_id}")
            else:
                self.flights.spawn(self.commander.send_stored(cmd), f"resend:{cmd.cmd_id}")
        for mission_id in sorted(held):
            m = self.picture.missions[mission_id]
            every = [z.id for z in self.picture.zones]
            again = self.steering.reroute(m, every, time.perf_counter(), self.clock.now())
            self.flights.spawn(again, f"reroute:{mission_id}")

    async def locate_drones(self, timeout_s: float = 3.0) -> None:
        """Find the port each idle drone stands at from its telemetry: after a restart a drone may
        stand at another port than its home (drones the broker does not know online are skipped)."""
        fleet = self.picture.fleet
        assert fleet is not None
        since = self.clock.now() - timedelta(hours=1)
        idle = [
            d
            for d in fleet.drones
            if self.picture.drones[d.id].mission is None and self.link.registry.get(d.id) is not None
        ]
        found = await asyncio.gather(
            *(self.flights.telemetry_after(d.id, since, timeout_s) for d in idle), return_exceptions=True
        )
        for d, tele in zip(idle, found, strict=True):
            port = port_at(fleet.ports, tele.lon, tele.lat) if isinstance(tele, Telemetry) else None
            if port is not None:
                self.picture.drones[d.id].port = port

    async def _note_adopted_reroutes(self, flight: FlightView) -> None:
        """Write the ``rerouted`` note of each acknowledged re-route that has none: the previous
        dispatcher stored the drone's ack and died before its note (the route itself is rebuilt
        from the acknowledged command; the note keeps the flight's history complete)."""
        acked = [c for c in flight.commands if c.kind == "Reroute" and c.result == "ack"]
        if not acked:
            return
        noted = {
            e.payload.get("cmd_id")
            for e in await self.store.history("flight", flight.mission_id)
            if e.action == "rerouted"
        }
        for cmd in acked:
            if cmd.cmd_id not in noted:
                await self._note_recovered_reroute(flight.mission_id, cmd)

    async def _reroute_intent(self, m: ActiveMission, flight: FlightView) -> None:
        """The stored intent is the planned one: a mission re-routed before the restart flies the
        last acknowledged replacement, from (about) where the drone is now."""
        acked = [c for c in flight.commands if c.kind == "Reroute" and c.result == "ack"]
        if acked:
            await self._replacement_intent(m, acked[-1])

    async def _replacement_intent(self, m: ActiveMission, cmd: CommandView) -> None:
        """The intent of the re-route ``cmd`` the drone flies (acknowledged), from where it is now."""
        if m.spec.intent is None:
            return
        k = int(cmd.payload["from_index"])
        rep = Replacement(k, tuple(m.waypoints[k:]), tuple(s for s in m.stops if s.at >= k))
        here = self.picture.position(m.drone_id) or m.waypoints[max(0, k - 1)][:2]
        on_ground = m.state in GROUND_STATES
        depart = m.spec.depart if on_ground else self.clock.now()
        # A drone re-routed while servicing a pad finishes that first (as steering's own re-routes).
        status = self.picture.registry.get(m.drone_id)
        finishing = 0.0
        if status is not None and status.telemetry is not None and not on_ground:
            finishing = self.steering.intents.finishing(m.drone_id, status.telemetry, rep.waypoints)
        await self.steering.intents.rerouted(
            m, here, rep, depart, on_ground=on_ground, may_hold=False, finishing_s=finishing
        )

    async def _note_recovered_reroute(self, mission_id: str, cmd: CommandView) -> None:
        p = cmd.payload
        await self.steering.note_rerouted(
            mission_id, cmd.cmd_id, int(p["from_index"]), p["waypoints"], [], recovered=True
        )

    async def _resend_reroute(self, m: ActiveMission | None, cmd: CommandView) -> None:
        """Re-send a re-route the previous dispatcher never saw acknowledged; when the drone accepts
        it, adopt it and note it, as for one acknowledged before the restart."""
        if m is None:
            await self.commander.send_stored(cmd)
            return
        async with m.steer:
            ack = await self.commander.send_stored(cmd)
            if ack is not None and ack.accepted and m.mission_id in self.picture.missions:
                _adopt_reroute(m, cmd.payload)
                # Its intent too: judged against the planned one, the drone flying the new route
                # would be nonconforming, and sent home (dispatch.service.nonconformance).
                await self._replacement_intent(m, cmd)
                await self._note_recovered_reroute(m.mission_id, cmd)


def _adopt_reroute(m: ActiveMission, payload: dict[str, Any]) -> None:
    """Make a re-route the drone acknowledged (a stored ``Reroute`` command's payload) the mission's
    route in memory."""
    m.adopt(
        int(payload["from_index"]),
        [(float(w[0]), float(w[1]), float(w[2])) for w in payload["waypoints"]],
        [
            StopSpec(int(s["at"]), s["action"], s["request_id"], float(s.get("payload_kg", 0.0)))
            for s in payload["stops"]
        ],
    )


def rebuild(flight: FlightView) -> ActiveMission:
    """A flight as the store holds it, as the dispatcher follows it: the route its drone last
    acknowledged, and a steering count past every hold and ground re-route it was sent."""
    spec = MissionSpec.from_plan(flight.mission_id, flight.drone_id, flight.plan)
    m = ActiveMission.of(spec, FlightState(flight.state))
    m.took_off = m.state == FlightState.FLYING  # its TookOff may have been heard before the restart
    for cmd in flight.commands:
        if cmd.kind == "Reroute" and cmd.result == "ack":
            _adopt_reroute(m, cmd.payload)
        # Command ids count holds and ground re-routes: a new one never reuses a known id.
        m.reroutes += 1 if uses_steering_number(m.mission_id, cmd.cmd_id, cmd.kind) else 0
    return m


def held_without_resume(flight: FlightView) -> bool:
    """Whether the flight's last hold, resume or re-route (not refused) is a hold. A resume not
    acknowledged counts for nothing: it names a moment to go on, long past after a restart (the
    drone refuses it), so the flight is looked at again."""
    steering = sorted(
        (
            c
            for c in flight.commands
            if c.kind in ("Hold", "Resume", "Reroute")
            and c.result != "nack"
            and (c.kind != "Resume" or c.result == "ack")
        ),
        key=lambda c: c.created_at,
    )
    return bool(steering) and steering[-1].kind == "Hold"
