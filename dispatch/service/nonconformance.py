"""The dispatcher's reaction to a nonconforming flight: re-time it, or hold the others, return
it, release them.

Conformance monitoring (:mod:`dispatch.service.conformance`) says when a flight leaves its
operational intent and puts a *contingent intent* (a column around the drone) in the fleet
picture; new planning keeps clear of it. This module reacts for the missions already committed:

- **Re-time it.** A drone en route that is only late or early on its own route (after a lost-link
  hold, a resume that reached it late, or every drone in the air after a broker outage) gets the
  intent of the rest of its route flown on from where it is now, if that is clear of every other
  intent (audited ``retimed_in_air``; it conforms again with its next sample). If it is not, the
  late drone holds where it is (audited ``held_to_retime``) and is resumed
  (:class:`~dispatch.service.resumes.Resumes`) after the least hold that keeps the rest of its
  route clear, the others giving way only if no hold its battery affords does. The late drone
  gives way, not the ones on time: a column around it cannot say where it flies next, and a
  drone held where it is could sit on the late drone's path.
- **Hold the others** (for a drone off its route, laterally or vertically, or one late at a
  pad). At every sample outside (the column follows the drone), the other missions whose intents
  meet the column (:func:`met_by`, the intent conflict check of
  :class:`routing.separation.IntentIndex`) are held (:func:`reaction`): one whose start is not sent
  yet waits on the ground (the start is sent only once released, moved to a later slot clear of the
  others if its departure passed meanwhile: :meth:`NonconformanceReaction.ground_clear`); one in
  the air is told to hold where it is (the steering's hold, ``<mission>.h<n>``, with the mission's
  ``steer`` lock and ``rerouting`` flag, so that zone scans and conformance leave it alone) —
  unless its last sample says it services a pad (held there it would keep the pad taken past its
  own intent). Each is audited on the held flight: ``held_for_nonconforming`` naming the
  nonconforming drone and mission.
- **Return it.** A flight off its route (laterally or vertically) and outside its intent for
  longer than ``dispatcher.conformance_return_after_s`` (:func:`return_due`, clock seconds
  between samples) is given up (one only late or early on its route is re-timed) and its drone
  sent to the nearest port it can reach by the steering's return to port (audited
  ``returned_nonconforming``). Its episode then ends (its mission is over) and its column
  is dropped: the drone's return intent says where it flies.
- **Release them.** When the episode ends (the drone conforms again, its mission is over or it
  is steered), or its column lapses, or (held in the air) its battery would soon not afford the
  rest of its route (:meth:`NonconformanceReaction.sweep`, on the dispatcher's tick), the flights
  it held go on (``resumed_after_nonconforming``): a drone in the air is resumed
  (:class:`~dispatch.service.resumes.Resumes`) with a fresh intent for the rest of its route from
  where it held, at a named moment after the least further hold its battery affords that keeps
  that intent clear of the others (the returning drone's included: a release waits for the return
  to be commanded); a drone on the ground sends its start.

The decisions are pure functions; the class only sends, audits and keeps who holds for whom.
While a drone holds in the air its intent is a column where it hovers (it is not judged: it is
steered); a dispatcher restarted meanwhile finds the hold as it finds a steering's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dispatch.lifecycle import GROUND_STATES, FlightState
from dispatch.service.commander import Commander, hold_id
from dispatch.service.conformance import ACTIVATED, Episode
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flight_intents import met_by
from dispatch.service.flights import Flights
from dispatch.service.reroute import rest_of_route
from dispatch.service.state import ActiveMission
from dispatch.service.steering import Steering
from dispatch.service.timing import hover_kept_s
from dispatch.store import Store
from fleet.clock import Clock
from fleet.messages import Ack, Hold, Telemetry
from routing.intents import OperationalIntent

log = logging.getLogger(__name__)

Kind = Literal["ground", "air", "none"]
RETIME_EVERY_S = 10.0  # clock seconds: a late drone is re-timed at most this often


def reaction(m: ActiveMission) -> Kind:
    """How a mission whose intent meets a nonconforming drone's column is held: ``ground`` (its
    start waits), ``air`` (its drone holds where it is), ``none`` (over, aborted, or already
    steered: a steering holds it or gives it a new route and intent)."""
    if m.aborting or m.state in (FlightState.COMPLETED, FlightState.ABORTED):
        return "none"
    if m.state in GROUND_STATES:
        return "ground"
    if m.state == FlightState.FLYING and not m.rerouting:
        return "air"
    return "none"


def return_due(ep: Episode, at: float, return_after_s: float, *, late_too: bool = False) -> bool:
    """Whether a flight nonconforming since ``ep.since`` is sent home at ``at`` (POSIX seconds):
    once it has been off its route (laterally or vertically) in the episode, or (``late_too``)
    also when it is only late or early on it (else such a drone is re-timed, not returned)."""
    return (ep.off_path or late_too) and at - ep.since >= return_after_s


def column_lapsed(contingent: OperationalIntent | None, at: float) -> bool:
    """Whether a nonconforming drone's column no longer holds anyone at ``at`` (POSIX seconds)."""
    return contingent is None or contingent.end < at


@dataclass(slots=True)
class Held:
    """A flight held for nonconforming drones (``causes``: their ids, by drone id -> mission id)."""

    kind: Kind
    since: datetime
    causes: dict[str, str] = field(default_factory=dict)
    n: int = 0  # the steering number of its hold (in the air)
    where: tuple[float, float] | None = None  # where it holds (in the air)
    finishing_s: float = 0.0  # a pad service it finishes where it holds, once resumed


class NonconformanceReaction:
    """Holds, returns and releases for :class:`~dispatch.service.conformance.Conformance`."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        picture: FleetPicture,
        commander: Commander,
        flights: Flights,
        steering: Steering,
        *,
        actor: str,
        return_after_s: float,
        tick_s: float = 30.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.picture = picture
        self.commander = commander
        self.flights = flights
        self.steering = steering
        self.actor = actor
        self.return_after_s = return_after_s
        self.tick_s = tick_s  # the period of sweep(): a battery running out is seen that late
        self._spent: set[str] = set()  # released in the air for their battery: not held there again
        # Treat a drone only late or early on its route as one off it (hold the others, send it
        # home), not re-time it: the end-to-end tests of holds provoke lateness, not straying.
        self.return_late = False
        self.held: dict[str, Held] = {}  # by mission id
        self.returns: dict[str, asyncio.Future[Any]] = {}  # by drone id: its return under way
        self._busy: set[str] = set()  # mission ids whose hold is being sent
        self._released = asyncio.Event()  # set (and replaced) whenever a ground hold ends
        self._ground_released: set[str] = set()  # released before their start was due
        self.active: set[str] = set()  # drones nonconforming now (their episodes are open)
        self.holds = 0  # flights held (monotonic)
        self.returned = 0  # nonconforming flights sent home (monotonic)
        self.retimed = 0  # late drones given a new intent from where they were (monotonic)
        self._retimed_at: dict[str, float] = {}  # by mission id: the sample it was last re-timed at

    # --- called by conformance, on the telemetry listener (never awaits) ------------------------

    def outside(self, m: ActiveMission, tele: Telemetry, ep: Episode) -> None:
        """A sample of ``m``'s drone outside its intent (its column refreshed): re-time it if it is
        only late or early on its own route, else hold the others it meets and return it if it has
        been outside long enough."""
        self.active.add(m.drone_id)
        if self._retime(m, tele, ep):
            return
        contingent = self.picture.contingent_intents.get(m.drone_id)
        if contingent is not None:
            others = [
                (o.mission_id, o.spec.intent)
                for o in self.picture.missions.values()
                if o.spec.intent is not None and o.mission_id != m.mission_id
            ]
            for mid in met_by(contingent, others):
                self._hold(self.picture.missions[mid], m)
        due = return_due(ep, tele.ts.timestamp(), self.return_after_s, late_too=self.return_late)
        if m.drone_id not in self.returns and due:
            task = self.flights.spawn(self._return(m, tele, ep), f"nonconforming:{m.mission_id}")
            self.returns[m.drone_id] = task

    def _retime(self, m: ActiveMission, tele: Telemetry, ep: Episode) -> bool:
        """Re-time a drone flying its own route only late or early (``ep`` never off it): the rest
        of its route from where it is now, clear of every other intent, becomes its intent (it
        conforms again with its next sample); if that is not clear, the drone holds where it is
        and is resumed once its route is (:meth:`_hold_late`). False (nothing done) for a drone
        off its route, one not en route (servicing or landing: it cannot hold there), or with
        :attr:`return_late`; True (nothing more to do) for one being held, or re-timed less than
        :data:`RETIME_EVERY_S` before."""
        if ep.off_path or self.return_late or tele.state != "en_route":
            return False
        if m.mission_id in self._busy or m.rerouting or m.aborting:
            return True  # being held or re-timed already
        last = self._retimed_at.get(m.mission_id)
        if last is not None and tele.ts.timestamp() - last < RETIME_EVERY_S:
            # Just re-timed: a sample near its new intent's edge is not worth another (each
            # re-timing checks the route against every intent in force).
            return True
        if len(self._retimed_at) > 4 * len(self.picture.missions) + 16:
            self._retimed_at = {k: v for k, v in self._retimed_at.items() if k in self.picture.missions}
        self._retimed_at[m.mission_id] = tele.ts.timestamp()
        where = (tele.lon, tele.lat)
        rest = rest_of_route(self.picture.airspace, where, m.waypoints, m.stops, m.reached_at)
        intent = self.steering.intents.retimed(m, where, rest, tele.ts)
        payload: dict[str, Any] = {
            "drone_id": m.drone_id,
            "at": tele.ts.isoformat(),
            "seconds": round(ep.seconds, 1),
            "lon": tele.lon,
            "lat": tele.lat,
        }
        if intent is not None:
            m.spec = dataclasses.replace(m.spec, intent=dataclasses.replace(intent, state=ACTIVATED))
            m.intent_reroutes = m.reroutes
            # Its new intent says where it flies: the column around it would only close airspace.
            self.picture.contingent_intents.pop(m.drone_id, None)
            self.retimed += 1
            log.warning("%s (%s) late on its route: re-timed from where it is", m.mission_id, m.drone_id)
            self.flights.spawn(
                self.store.note("flight", m.mission_id, "retimed_in_air", actor=self.actor, payload=payload),
                "nonconforming",
            )
            return True
        self._busy.add(m.mission_id)
        m.rerouting = True  # zone scans and conformance leave it alone, as for a steering
        self.flights.spawn(self._hold_late(m, payload), f"nonconforming:retime:{m.mission_id}")
        return True

    async def _hold_late(self, m: ActiveMission, payload: dict[str, Any]) -> None:
        """Hold a late drone whose route, flown on now, would meet another intent, and resume it
        on the least hold that keeps the rest of its route clear (the others give way if none
        does); audited ``held_to_retime``. A drone that refuses the hold flies on, judged against
        its intent as before (the next sample outside tries again)."""
        held = False
        try:
            async with m.steer:
                if m.mission_id not in self.picture.missions or m.aborting:
                    return
                sent = await self._send_hold(m)
                if sent is None:
                    return  # it flies on, judged on its intent (see _send_hold)
                held = True
                n, cmd, ack = sent
                where, finishing = await self._holding_at(m, ack.ts)
                self.picture.contingent_intents.pop(m.drone_id, None)
                self.retimed += 1
                log.warning("%s late on its route, which meets another intent: holds", m.mission_id)
                extra = {"cmd_id": cmd.cmd_id, "held_lon": where[0], "held_lat": where[1]}
                await self.store.note(
                    "flight", m.mission_id, "held_to_retime", actor=self.actor, payload={**payload, **extra}
                )
                await self.steering.resumes.resume(m, n, where, finishing_s=finishing)
        except Exception as exc:
            # A held drone is never left hovering until its battery is empty because of a bug here.
            log.exception("re-timing late %s failed", m.mission_id)
            where_now = self.picture.position(m.drone_id)
            if held and where_now is not None and m.mission_id in self.picture.missions:
                await self.steering.send_home(m, where_now, f"re-timing failed: {exc!r}")
        finally:
            self._busy.discard(m.mission_id)
            m.rerouting = False
            self.steering.recheck(m)

    def ended(self, drone_id: str) -> None:
        """The episode of ``drone_id`` is over: release the flights it held."""
        self.active.discard(drone_id)
        if drone_id in self.returns or any(drone_id in h.causes for h in self.held.values()):
            self.flights.spawn(self._release(drone_id), f"nonconforming:release:{drone_id}")

    # --- holds ----------------------------------------------------------------------------------

    def _hold(self, m: ActiveMission, cause: ActiveMission) -> None:
        held = self.held.get(m.mission_id)
        if held is not None:
            held.causes.setdefault(cause.drone_id, cause.mission_id)
            if held.kind == "air" or m.state in GROUND_STATES:
                return
            # Held on the ground, but its start went out meanwhile: it is held in the air.
            del self.held[m.mission_id]
        kind = reaction(m)
        if kind == "none" or m.mission_id in self._busy:
            return
        if kind == "air" and (m.mission_id in self._spent or self.picture.servicing(m.drone_id)):
            # Held there it would keep the pad taken past its intent, maybe for the late drone
            # itself: it finishes and leaves as its intent says; the next sample outside looks again.
            return
        if kind == "ground":
            self.held[m.mission_id] = Held("ground", self.clock.now(), {cause.drone_id: cause.mission_id})
            self.holds += 1
            log.warning(
                "%s waits on the ground: its intent meets nonconforming %s", m.mission_id, cause.drone_id
            )
            self.flights.spawn(
                self._note(m, "held_for_nonconforming", cause, {"kind": "ground"}), "nonconforming"
            )
            return
        self._busy.add(m.mission_id)
        m.rerouting = True  # zone scans and conformance leave it alone, as for a steering
        self.flights.spawn(self._hold_in_air(m, cause), f"nonconforming:hold:{m.mission_id}")

    async def _hold_in_air(self, m: ActiveMission, cause: ActiveMission) -> None:
        held = False
        try:
            async with m.steer:
                if m.mission_id not in self.picture.missions or m.aborting:
                    return
                sent = await self._send_hold(m)
                if sent is None:
                    # Servicing a pad, or still on the ground waiting for its take-off time: the
                    # next sample outside tries again.
                    return
                n, cmd, ack = sent
                where, finishing = await self._holding_at(m, ack.ts)
                causes = {cause.drone_id: cause.mission_id}
                self.held[m.mission_id] = Held("air", ack.ts, causes, n, where, finishing)
                held = True
                self.holds += 1
            log.warning(
                "%s holds in the air: its intent meets nonconforming %s", m.mission_id, cause.drone_id
            )
            extra = {"kind": "air", "cmd_id": cmd.cmd_id, "lon": where[0], "lat": where[1]}
            await self._note(m, "held_for_nonconforming", cause, extra)
            if not any(c in self.active for c in self.held[m.mission_id].causes):
                await self._release_one(m.mission_id)  # the episode ended while the hold was sent
        finally:
            self._busy.discard(m.mission_id)
            if not held:
                m.rerouting = False
                # A zone scan meanwhile left it alone (it was being steered): look again.
                self.steering.recheck(m)

    async def _send_hold(self, m: ActiveMission) -> tuple[int, Hold, Ack] | None:
        """Tell ``m``'s drone to hold where it is (the steering's hold, number ``m.reroutes`` + 1):
        that number, the command and its acknowledgement; None (logged) if it was refused. A drone
        that refused it flies on as before: an intent that said its route still does (conformance
        goes on judging it); one that did not answer may be holding, so its intent is not judged
        until a new one is made."""
        in_step = m.intent_reroutes == m.reroutes
        n = m.reroutes = m.reroutes + 1
        cmd = Hold(drone_id=m.drone_id, cmd_id=hold_id(m.mission_id, n), expires_at=self.commander.expiry())
        ack = await self.commander.send_new(cmd, m.mission_id)
        if ack is None or not ack.accepted:
            log.info("hold of %s refused: %s", m.mission_id, ack and ack.reason)
            if ack is not None and in_step:
                m.intent_reroutes = n
            return None
        return n, cmd, ack

    async def _holding_at(self, m: ActiveMission, since: datetime) -> tuple[tuple[float, float], float]:
        """Where ``m``'s drone, holding since ``since``, hovers (its first sample after) and the
        seconds of a pad service it finishes there first. Until it is released, its intent is a
        column there: its route's no longer says where it will be, and nothing else may be
        planned through where it waits."""
        tele = await self.flights.telemetry_after(m.drone_id, since)
        where = (tele.lon, tele.lat)
        finishing = self.steering.intents.finishing(m.drone_id, tele, m.waypoints)
        self.steering.intents.hold_here(m, where, since)
        return where, finishing

    async def ground_clear(self, m: ActiveMission) -> bool:
        """Return once ``m`` may take off: at once unless it is held on the ground, else when it is
        released; True if it was held (now, or released since its start was last due: the caller
        checks its slot again)."""
        was = m.mission_id in self._ground_released
        while (held := self.held.get(m.mission_id)) is not None and held.kind == "ground":
            was = True
            await self._released.wait()
        self._ground_released.discard(m.mission_id)
        return was

    async def sweep(self) -> None:
        """Release the flights whose every column lapsed while its drone's episode stays open (a
        drone gone silent, or holding on a lost link, sends no sample outside), and those held in
        the air whose battery would soon not afford the rest of their route (a hold never empties a
        battery: released, a drone holds on only as long as it affords to keep its route clear):
        run by the dispatcher's tick, so within ``tick_s``."""
        now = self.clock.now().timestamp()
        for mid, held in list(self.held.items()):
            if mid in self._busy:
                continue
            lapsed = all(column_lapsed(self.picture.contingent_intents.get(d), now) for d in held.causes)
            spent = not lapsed and self._hover_running_out(mid, held)
            if lapsed or spent:
                if spent:
                    log.warning("%s: released from its hold, its battery would not afford more", mid)
                    self._spent.add(mid)
                self._busy.add(mid)
                self.flights.spawn(self._release_one(mid), f"nonconforming:release:{mid}")

    def _hover_running_out(self, mission_id: str, held: Held) -> bool:
        """Whether a drone held in the air can hover at most what it keeps in hand
        (:func:`~dispatch.service.timing.hover_kept_s`: a margin and the reaction's wall time at
        the clock's speed) and one tick more, and still fly the rest of its route."""
        m = self.picture.missions.get(mission_id)
        if held.kind != "air" or held.where is None or m is None:
            return False
        rest = rest_of_route(self.picture.airspace, held.where, m.waypoints, m.stops, m.reached_at)
        kept = hover_kept_s(self.clock) + self.tick_s
        return self.steering.intents.affordable_hold_s(m, held.where, rest) <= kept

    async def _release(self, drone_id: str) -> None:
        returning = self.returns.get(drone_id)
        if returning is not None:
            # Released flights keep clear of the return: its intent is in the picture first.
            await asyncio.gather(returning, return_exceptions=True)
            self.returns.pop(drone_id, None)
        for mid, held in list(self.held.items()):
            held.causes.pop(drone_id, None)
            if not held.causes:
                await self._release_one(mid)

    async def _release_one(self, mission_id: str) -> None:
        try:
            await self._release_held(mission_id)
        finally:
            self._busy.discard(mission_id)

    async def _release_held(self, mission_id: str) -> None:
        held = self.held.pop(mission_id, None)
        m = self.picture.missions.get(mission_id)
        if held is None:
            return
        if held.kind == "ground":
            self._ground_released.add(mission_id)
            self._released.set()
            self._released = asyncio.Event()
        if m is None:
            return
        payload: dict[str, Any] = {
            "kind": held.kind,
            "held_s": round((self.clock.now() - held.since).total_seconds(), 1),
        }
        if held.kind == "air":
            try:
                async with m.steer:
                    payload["hold_more_s"] = await self._resume(m, held)
            finally:
                m.rerouting = False
                self.steering.recheck(m)
        log.info("%s goes on after a nonconforming flight (%s)", mission_id, held.kind)
        await self.store.note(
            "flight", mission_id, "resumed_after_nonconforming", actor=self.actor, payload=payload
        )

    async def _resume(self, m: ActiveMission, held: Held) -> float:
        """Resume a drone held in the air, with an intent for the rest of its route from where it
        holds, after the least further hold (its battery affords) that keeps it clear of the
        others; that hold's length. One released for its battery holds no further: it goes on at
        once and the others give way."""
        assert held.where is not None
        may_hold = m.mission_id not in self._spent
        resumes = self.steering.resumes
        return await resumes.resume(m, held.n, held.where, finishing_s=held.finishing_s, may_hold=may_hold)

    # --- return ---------------------------------------------------------------------------------

    async def _return(self, m: ActiveMission, tele: Telemetry, ep: Episode) -> None:
        """Give up a flight outside its intent too long and send its drone home."""
        outside_s = tele.ts.timestamp() - ep.since
        log.warning(
            "%s (%s) outside its intent for %.0f s: returning to port", m.mission_id, m.drone_id, outside_s
        )
        self.returned += 1
        payload = {
            "drone_id": m.drone_id,
            "outside_s": round(outside_s, 1),
            "return_after_s": self.return_after_s,
            "lon": tele.lon,
            "lat": tele.lat,
            "alt_m": tele.alt_m,
        }
        await self.store.note(
            "flight", m.mission_id, "returned_nonconforming", actor=self.actor, payload=payload
        )
        await self.flights.abort(m, f"outside its operational intent for {outside_s:.0f} s")
        self.picture.drones[m.drone_id].returning = True
        where = self.picture.position(m.drone_id) or (tele.lon, tele.lat)
        await self.steering.return_to_port(m.drone_id, where)
        # Its return (or hold) intent says where it flies now: the column around where it strayed
        # would only keep the flights it held away from where it no longer is.
        self.picture.contingent_intents.pop(m.drone_id, None)

    async def _note(self, m: ActiveMission, action: str, cause: ActiveMission, extra: dict[str, Any]) -> None:
        payload = {"nonconforming_drone": cause.drone_id, "nonconforming_mission": cause.mission_id, **extra}
        await self.store.note("flight", m.mission_id, action, actor=self.actor, payload=payload)
