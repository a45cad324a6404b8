"""Events: what the drones report moves requests and flights through their life cycle.

One ``match`` over the protocol's event types (:meth:`Events.handle`), after the event gate
(:mod:`dispatch.service.event_gate`: an event of a mission that is not its drone's current one is
refused) and the link's signature check (an event not signed by its drone arrives as a
:class:`~fleet.link.RefusedEvent`, audited here): take-offs and stops reached, pickups and
deliveries (custody), landings (custody settled, the drone free again or written off), faults,
low battery, geofence breaches, a drone back online, and silence (:meth:`Events.check_silence`,
a step of the periodic tick).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from dispatch.lifecycle import FlightState, InvalidTransition, RequestState
from dispatch.service import abort
from dispatch.service.commander import Commander, drone_command_id, lost_link_resume_id
from dispatch.service.drone_service import write_off
from dispatch.service.event_gate import refuse_stale
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flights import Flights
from dispatch.service.state import ActiveMission, DispatcherStats, DroneView
from dispatch.store import Conflict, Store
from fleet.clock import Clock
from fleet.link import FleetLink, LinkStatus, RefusedEvent
from fleet.messages import (
    Ack,
    Delivered,
    Fault,
    GeofenceBreach,
    Landed,
    LandNow,
    LossOfSeparation,
    LowBattery,
    PickedUp,
    ReachedStop,
    Resume,
    State,
    TerrainViolation,
    TookOff,
)

log = logging.getLogger(__name__)

NO_DOCUMENT = "no_document"  # the simulator's fault kind for a hand-over of a document not on board
ReturnToPort = Callable[[str, tuple[float, float]], Awaitable[None]]  # (drone id, where it is)


def went_silent(
    last_heard: datetime | None,
    link_up_at: datetime | None,
    connected: bool,
    now: datetime,
    silent_after_s: float,
) -> bool:
    """Whether a drone last heard at ``last_heard`` is silent at ``now``: our own link is up and
    nothing came from the drone for ``silent_after_s`` since it was last heard or since our link
    came back, whichever is later (while our link was down, nobody was heard). A drone never heard
    is not judged here."""
    if last_heard is None or not connected:
        return False
    since = max(last_heard, link_up_at) if link_up_at is not None else last_heard
    return (now - since).total_seconds() > silent_after_s


class Events:
    """Applies the drones' events, acks and liveness to the store and the fleet picture."""

    def __init__(
        self,
        store: Store,
        link: FleetLink,
        clock: Clock,
        picture: FleetPicture,
        commander: Commander,
        flights: Flights,
        stats: DispatcherStats,
        return_to_port: ReturnToPort,
        *,
        actor: str,
        silent_after_s: float,
    ) -> None:
        self.store = store
        self.link = link
        self.clock = clock
        self.picture = picture
        self.commander = commander
        self.flights = flights
        self.stats = stats
        self.return_to_port = return_to_port
        self.actor = actor
        self.silent_after_s = silent_after_s
        self.link_up_at: datetime | None = None  # clock time the link last (re)connected
        self._resumed: set[tuple[str, str]] = set()  # (drone, State msg_id) already answered

    @property
    def drones(self) -> dict[str, DroneView]:
        """The dispatcher's view of each drone (the fleet picture's)."""
        return self.picture.drones

    async def handle(self, u: object) -> None:
        """Apply one update from the link (events, acks, states, link status, refused events)."""
        if await refuse_stale(self, u):
            return
        match u:
            case Ack():
                await abort.on_ack(self.flights, u)
            case TookOff():
                m = self.picture.mission_of(u.drone_id, u.mission_id)
                if m is not None:
                    m.took_off = True
                if m is not None and m.state == FlightState.ACKED:
                    await self.flights.flight_to(m, FlightState.FLYING)
            case ReachedStop():
                m = self.picture.mission_of(u.drone_id, u.mission_id)
                if m is not None and u.stop_index < len(m.stops):
                    m.reached_at = max(m.reached_at, m.stops[u.stop_index].at)
            case PickedUp():
                await self._on_picked_up(u)
            case Delivered():
                await self._on_delivered(u)
            case Landed():
                await self._on_landed(u)
            case Fault(kind=kind) if kind == NO_DOCUMENT:
                # A hand-over stop whose pickup was refused: nothing to hand over, the drone flies on.
                await self.store.note(
                    "drone",
                    u.drone_id,
                    "no_document_at_handover",
                    actor=self.actor,
                    payload={"mission_id": u.mission_id, "detail": u.detail},
                )
            case Fault():
                await self.on_fault(u.drone_id, f"drone fault: {u.kind}", (u.lon, u.lat))
            case LowBattery():
                await self._on_low_battery(u)
            case GeofenceBreach():
                self.stats.breaches += 1
                log.error("GEOFENCE BREACH: %s in zone %s", u.drone_id, u.zone_id)
                await self.store.note(
                    "drone",
                    u.drone_id,
                    "geofence_breach",
                    actor=self.actor,
                    payload={"zone_id": u.zone_id, "lon": u.lon, "lat": u.lat},
                )
            case TerrainViolation():
                self.stats.terrain_violations += 1
                log.error(
                    "TERRAIN VIOLATION: %s at %.1f m true height (%s, limit %.0f m)",
                    u.drone_id,
                    u.true_height_m,
                    u.kind,
                    u.limit_m,
                )
                await self.store.note(
                    "drone",
                    u.drone_id,
                    "terrain_violation",
                    actor=self.actor,
                    payload={
                        "kind": u.kind,
                        "true_height_m": u.true_height_m,
                        "limit_m": u.limit_m,
                        "lon": u.lon,
                        "lat": u.lat,
                        "alt_m": u.alt_m,
                        "mission_id": u.mission_id,
                    },
                )
            case LossOfSeparation():
                self.stats.separation_losses += 1
                log.error("LOSS OF SEPARATION: %s and %s", u.drone_id, u.other_drone_id)
                where = {
                    "closest_m": u.closest_m,
                    "horizontal_m": u.horizontal_m,
                    "vertical_m": u.vertical_m,
                    "lon": u.lon,
                    "lat": u.lat,
                    "alt_m": u.alt_m,
                }
                await self.store.note(
                    "drone",
                    u.drone_id,
                    "separation_loss",
                    actor=self.actor,
                    payload={
                        "other_drone_id": u.other_drone_id,
                        "started_at": u.started_at.isoformat(),
                        **where,
                    },
                )
            case State(online=True):
                self._resume_if_held(u)
                self.flights.wake()
            case LinkStatus(status="up"):
                self.link_up_at = self.clock.now()
            case RefusedEvent() if u.drone_id in self.drones:  # not signed by the drone
                details = {
                    "event": u.event,
                    "mission_id": u.mission_id,
                    "request_id": u.request_id,
                    "detail": u.detail,
                    "refused_so_far": u.count,
                }
                await self.store.note(
                    "drone", u.drone_id, "unsigned_event_refused", actor=self.actor, payload=details
                )

    def _resume_if_held(self, s: State) -> None:
        """A drone back online that still hovers on its lost-link policy ``hold`` is told to go on:
        the dispatcher itself holds a drone only while re-routing it."""
        m = self.picture.mission_of(s.drone_id, s.mission_id)
        view = self.drones.get(s.drone_id)
        if s.state != "holding" or m is None or view is None or not view.usable or m.rerouting:
            return
        if (s.drone_id, s.msg_id) in self._resumed:  # a retained state seen again after a reconnect
            return
        self._resumed.add((s.drone_id, s.msg_id))
        n = sum(1 for d, _ in self._resumed if d == s.drone_id)
        cmd_id = lost_link_resume_id(m.mission_id, n)
        cmd = Resume(drone_id=s.drone_id, cmd_id=cmd_id, expires_at=self.commander.expiry())
        self.flights.spawn(self.commander.send_new(cmd, m.mission_id), f"resume:{m.mission_id}")

    async def _on_picked_up(self, e: PickedUp) -> None:
        m = self.picture.mission_of(e.drone_id, e.mission_id)
        details = {
            "drone_id": e.drone_id,
            "mission_id": e.mission_id,
            "lon": e.lon,
            "lat": e.lat,
            "at": e.ts.isoformat(),
            "code_ok": e.code_ok,
        }
        if not e.code_ok:
            if m is not None:
                m.refused_pickup.add(e.request_id)
            await self.store.note(
                "request", e.request_id, "pickup_code_refused", actor=self.actor, payload=details
            )
            with contextlib.suppress(InvalidTransition, Conflict):
                await self.flights.request_to(
                    e.request_id,
                    RequestState.CANCELLED,
                    actor=self.actor,
                    details={**details, "reason": "pickup code refused"},
                    expected_state=RequestState.DISPATCHED,
                )
            return
        if m is not None:
            m.picked.add(e.request_id)
        with contextlib.suppress(InvalidTransition, Conflict):
            await self.flights.request_to(
                e.request_id,
                RequestState.PICKED_UP,
                actor=self.actor,
                details=details,
                expected_state=RequestState.DISPATCHED,
            )
        # On board only if it really is: a late or repeated pickup event of a request already
        # handed over must not make the next landing "fail" it.
        if (await self.store.requests.get(e.request_id)).state == RequestState.PICKED_UP:
            self.drones[e.drone_id].onboard.add(e.request_id)

    async def _on_delivered(self, e: Delivered) -> None:
        m = self.picture.mission_of(e.drone_id, e.mission_id)
        details = {
            "drone_id": e.drone_id,
            "mission_id": e.mission_id,
            "lon": e.lon,
            "lat": e.lat,
            "at": e.ts.isoformat(),
            "code_ok": e.code_ok,
        }
        if not e.code_ok:
            if m is not None:
                m.refused_handover.add(e.request_id)
            await self.store.note(
                "request", e.request_id, "recipient_code_refused", actor=self.actor, payload=details
            )
            return
        self.drones[e.drone_id].onboard.discard(e.request_id)
        if m is not None:
            m.picked.add(e.request_id)
            m.delivered.add(e.request_id)
        if m is not None and (await self.store.requests.get(e.request_id)).state == RequestState.DISPATCHED:
            # The hand-over arrived before its pickup event (reordered or lost): it proves the pickup.
            with contextlib.suppress(InvalidTransition, Conflict):
                await self.flights.request_to(
                    e.request_id,
                    RequestState.PICKED_UP,
                    actor=self.actor,
                    details={**details, "inferred_from": "delivered"},
                    expected_state=RequestState.DISPATCHED,
                )
        with contextlib.suppress(InvalidTransition, Conflict):
            await self.flights.request_to(
                e.request_id,
                RequestState.DELIVERED,
                actor=self.actor,
                details=details,
                expected_state=RequestState.PICKED_UP,
            )

    async def _on_landed(self, e: Landed) -> None:
        view = self.drones.get(e.drone_id)
        if view is None:
            return
        model = self.picture.model(e.drone_id)
        # A landing of an earlier mission while the drone flies another never gets here: the event
        # gate (refuse_stale) refused it. One without a mission (a drone that dropped its mission
        # on board, or came home on a return) ends the current one only if the drone may have
        # flown it: one still on the ground was committed after that flight (a loaded run once had
        # a late landing "complete" a mission not yet flown, which then flew unwatched).
        m: ActiveMission | None = self.picture.mission_of(e.drone_id, e.mission_id)
        current = self.picture.missions.get(view.mission) if view.mission else None
        if m is None and current is not None and (current.took_off or current.aborting):
            m = current
        where = e.port_id or f"{e.lon:.6f},{e.lat:.6f}"
        for rid in sorted(view.onboard):
            await self.custody_failed(rid, e.drone_id, "documents still on board at landing", (e.lon, e.lat))
            if e.port_id is None:
                # Landed in the open (an emergency landing): the documents are not back anywhere
                # safe. The request stays `failed` with where they are, for a recovery crew.
                await self.store.note(
                    "request",
                    rid,
                    "documents_landed_away_from_port",
                    actor=self.actor,
                    payload={"location": where, "drone_id": e.drone_id, "at": e.ts.isoformat()},
                )
                continue
            with contextlib.suppress(InvalidTransition, Conflict):
                await self.flights.request_to(
                    rid,
                    RequestState.RETURNED,
                    actor=self.actor,
                    details={"location": where, "drone_id": e.drone_id, "at": e.ts.isoformat()},
                    expected_state=RequestState.FAILED,
                )
        view.onboard.clear()
        if m is not None and m.aborting:
            await self.flights.abort_now(m, m.aborting)  # landed before acknowledging the abort: it is over
        elif m is not None:
            for rid in m.spec.request_ids:
                if rid in m.picked or rid in m.refused_pickup or rid in m.cancelled:
                    continue
                # No pickup event seen for it: the outcome is unknown (an event lost in a crash
                # window), so it is NOT re-planned (it could be on board) but left for an operator.
                await self.store.note(
                    "request",
                    rid,
                    "pickup_outcome_unknown",
                    actor=self.actor,
                    payload={"mission_id": m.mission_id, "drone_id": e.drone_id, "landed_at": where},
                )
            await self.flights.flight_to(m, FlightState.COMPLETED)
            self.picture.forget(m)
        view.port = e.port_id  # where it stands now, written off or not
        if e.port_id is not None and view.usable:
            # Our clock, not the drone's: a drone clock minutes off must not shift the plan.
            view.available_at = self.clock.now() + timedelta(seconds=model.turnaround_s)
            view.returning = False
        elif e.port_id is None:
            write_off(view, "landed away from a port", self.clock.now())
        self.flights.wake()

    async def custody_failed(self, rid: str, drone_id: str, reason: str, at: tuple[float, float]) -> None:
        """A document on board a drone that cannot finish: the request is ``failed`` (custody noted)."""
        with contextlib.suppress(InvalidTransition, Conflict):
            await self.flights.request_to(
                rid,
                RequestState.FAILED,
                actor=self.actor,
                details={
                    "reason": reason,
                    "drone_id": drone_id,
                    "lon": at[0],
                    "lat": at[1],
                    "custody": "on board",
                },
                expected_state=RequestState.PICKED_UP,
            )

    async def on_fault(
        self, drone_id: str, reason: str, at: tuple[float, float], *, land: bool = True
    ) -> None:
        """A drone cannot go on: re-plan what it has not picked up, fail what it carries, and tell it
        to land (a fault) or to return to the nearest reachable port (``land=False``: silence; the
        command waits in its session until it is back)."""
        view = self.drones.get(drone_id)
        if view is None or not view.usable:
            return
        write_off(view, reason, self.clock.now())
        for rid in sorted(view.onboard):
            await self.custody_failed(rid, drone_id, reason, at)
        m = self.picture.missions.get(view.mission) if view.mission else None
        if m is not None:
            await self.flights.abort(m, reason, silent=not land)
        if land:
            cmd = LandNow(
                drone_id=drone_id,
                cmd_id=drone_command_id(drone_id, "land"),
                expires_at=self.commander.expiry(),
            )
            self.flights.spawn(self.commander.send_new(cmd, None), f"land:{drone_id}")
        else:
            self.flights.spawn(self.return_to_port(drone_id, at), f"return:{drone_id}")
        self.flights.wake()

    async def _on_low_battery(self, e: LowBattery) -> None:
        view = self.drones.get(e.drone_id)
        if view is None or view.returning or not view.usable:
            return
        if e.mission_id is not None and view.mission is not None and e.mission_id != view.mission:
            # Heard late, from a flight before this one (its battery swapped since): a drone low on
            # its current flight says so naming it, and its telemetry shows it.
            await self.store.note(
                "drone",
                e.drone_id,
                "low_battery_of_another_mission",
                actor=self.actor,
                payload={"mission_id": e.mission_id, "current_mission": view.mission, "at": e.ts.isoformat()},
            )
            return
        view.returning = True
        m = self.picture.missions.get(view.mission) if view.mission else None
        if m is not None:
            await self.flights.abort(m, "low battery: returning to the nearest port")
        self.flights.spawn(self.return_to_port(e.drone_id, (e.lon, e.lat)), f"return:{e.drone_id}")

    async def check_silence(self, drone_id: str, now: datetime) -> None:
        """Write a drone on a mission off if nothing was heard from it for ``silent_after_s``."""
        view, status = self.drones[drone_id], self.link.registry.get(drone_id)
        if not view.usable or view.mission is None:
            return
        last = status.received_at if status is not None else None
        if went_silent(last, self.link_up_at, self.link.connected, now, self.silent_after_s):
            tele = status.telemetry if status is not None else None
            pos = (tele.lon, tele.lat) if tele is not None else (0.0, 0.0)
            await self.on_fault(drone_id, "drone went silent", pos, land=False)
