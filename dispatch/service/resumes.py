"""How a drone held in the air goes on: at a named moment, on an intent clear of the others.

A drone held for a steering (a re-route, a zone change that turned out not to cross its route, a
release after a nonconforming flight) is resumed by :meth:`Resumes.resume`: its intent is a
column over where it hovers until it goes on, then the rest of its route; the moment is at least
one command lead ahead, later if that keeps the route clear of the others and the battery affords
the hover. The ``resume`` command names the moment and the latest one the intent allows: a drone
it reaches too late refuses it and holds on, and a new intent with twice the lead (at least twice
the time the refused one took to reach it) is worked out; after :data:`RESUME_ATTEMPTS` the
mission is given up and the drone sent home (audited ``resume_failed``), never left to hover
until its battery is empty. A resume not answered by its ``resume_by`` leaves the drone hovering
where it is, which its intent no longer says: a contingent column over it is declared until the
answer comes, and the flights it meets give way (:meth:`Resumes._answer`).
A replacement that cannot keep clear has the right of way (:meth:`Resumes.give_way`): over
flights not yet in the air, which wait or are planned again, and over flights in the air, which
hold where they are and go on once their own route is clear of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from dispatch.lifecycle import GROUND_STATES, FlightState
from dispatch.service.commander import Commander, hold_id, resume_id
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flight_intents import FlightIntents, met_by
from dispatch.service.flights import Flights
from dispatch.service.reroute import rest_of_route
from dispatch.service.state import ActiveMission
from dispatch.service.timing import StartLatency
from dispatch.settings.model import DispatcherSettings
from dispatch.store import Store
from fleet.clock import Clock
from fleet.messages import RESUME_WINDOW_PASSED, Ack, Hold, Resume
from routing.intents import OperationalIntent

log = logging.getLogger(__name__)

RESUME_ATTEMPTS = 6  # resumes sent, each with twice the lead (at least), before the drone is sent home
OVERDUE_COLUMN_S = 300.0  # how long the column over a drone whose resume is overdue lasts at most


class Resumes:
    """Resumes of held drones, and the flights on the ground that give way to them."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        picture: FleetPicture,
        commander: Commander,
        flights: Flights,
        intents: FlightIntents,
        settings: DispatcherSettings,
    ) -> None:
        self.store = store
        self.clock = clock
        self.picture = picture
        self.commander = commander
        self.flights = flights
        self.intents = intents
        self.actor = settings.actor
        # The least lead of a resume: the setting (not scaled to a fast clock as a start's is: a
        # resume that comes too late is refused and sent again with twice the lead).
        self.lead_s = settings.start_lead_s
        self.latency = StartLatency()  # resumes' latencies: a slow link makes the lead longer
        # Checks a mission against the zones again (set by the steering): a zone scan skips a
        # mission while it is steered, as while it gives way in the air.
        self.recheck: Callable[[ActiveMission], None] | None = None
        # Gives a mission up and sends its drone home (set by the steering): a drone no resume
        # reaches would otherwise hover until its battery is empty.
        self.send_home: Callable[[ActiveMission, Sequence[float], str], Awaitable[None]] | None = None
        self.air_yields = 0  # flights held in the air for another's right of way (monotonic)

    async def resume(
        self,
        m: ActiveMission,
        n: int,
        where: Sequence[float],
        *,
        finishing_s: float = 0.0,
        may_hold: bool = True,
        air_gives_way: bool = True,
    ) -> float:
        """Tell the drone of ``m``, held at ``where`` for steering number ``n``, to fly the rest of its
        route (old or new) on a fresh intent; the seconds it holds on first.

        The intent covers the hold where it is, then the route from the moment of the resume: at
        least one command lead ahead (the time a command needs to reach the drone, measured), later
        if needed (and ``may_hold``, as long as its battery affords) to keep clear of the others.
        The resume names that moment (``resume_at``) and the latest its intent allows
        (``resume_by``): a drone it reaches too late refuses it and holds on, and a new intent with
        a longer lead is worked out. When no such hold keeps it clear, the flights it meets give way
        (:meth:`give_way`; those in the air only if ``air_gives_way``)."""
        rest = rest_of_route(self.picture.airspace, where, m.waypoints, m.stops, m.reached_at)
        margin = timedelta(seconds=self.intents.params.intents.timing_margin_s)
        lead = max(self.lead_s, self.latency.lead())
        hold = 0.0
        why, sent = "no resume reached it within its window", 0
        for attempt in range(RESUME_ATTEMPTS):
            if m.mission_id not in self.picture.missions or m.aborting:
                return 0.0
            now = self.clock.now()
            affordable = self.intents.affordable_hold_s(m, where, rest)
            if attempt and lead > affordable:
                # Hovering until a resume that slow could reach it would empty its battery (a
                # loaded run once doubled the lead to 720 s on 159 s of hover and lost the drone).
                why = f"a resume needs {lead:.0f} s to reach it; its battery affords {affordable:.0f} s"
                break
            most = max(lead, affordable) if may_hold else lead
            hold = await self.intents.rerouted(
                m, where, rest, now, on_ground=False, finishing_s=finishing_s, lead_s=lead, max_hold_s=most
            )
            await self.give_way(m.spec.intent, air=air_gives_way)
            at = now + timedelta(seconds=hold)
            cmd = Resume(
                drone_id=m.drone_id,
                cmd_id=resume_id(m.mission_id, n, attempt),
                expires_at=self.commander.expiry(),
                resume_at=at,
                resume_by=at + margin,
            )
            ack = await self._answer(m, cmd, where)
            sent += 1
            if ack is not None and ack.accepted:
                self.latency.record((ack.ts - now).total_seconds())
                return hold
            reason = ack.reason if ack is not None else None
            if ack is None or reason is None or not reason.startswith(RESUME_WINDOW_PASSED):
                log.info("resume %s refused: %s", cmd.cmd_id, reason)
                return hold
            # It reached the drone that long after ``now``: the next one leaves room for that twice.
            took = (ack.ts - now).total_seconds()
            self.latency.record(took)
            log.info(
                "resume %s reached the drone %.0f s after its intent's start; a longer lead", cmd.cmd_id, took
            )
            lead = max(2 * lead, 2 * took)
        log.error("%s: %s; it is sent home", m.mission_id, why)
        payload = {"attempts": sent, "lead_s": round(lead, 1), "reason": why}
        await self.store.note("flight", m.mission_id, "resume_failed", actor=self.actor, payload=payload)
        if self.send_home is not None:
            await self.send_home(m, where, why)
        return hold

    async def _answer(self, m: ActiveMission, cmd: Resume, where: Sequence[float]) -> Ack | None:
        """Send the resume and return the drone's answer. Past its ``resume_by`` without one, the
        drone holds on where it is (it refuses a resume that late), outside the intent that had it
        gone on: a contingent column over it is declared until the answer comes, and the flights
        that meet it give way (a loaded machine once took 34 wall seconds to get a resume to a drone,
        and another drone flew through where it hovered). No answer at all: the column lapses."""
        send = asyncio.ensure_future(self.commander.send_new(cmd, m.mission_id))
        assert cmd.resume_by is not None
        due = asyncio.ensure_future(self.clock.sleep((cmd.resume_by - self.clock.now()).total_seconds()))
        try:
            await asyncio.wait({send, due}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            send.cancel()
            raise
        finally:
            due.cancel()
        if send.done():
            return send.result()
        now = self.clock.now()
        alt = max((w[2] for w in m.waypoints), default=0.0)
        column = self.intents.hover_column(m.drone_id, where, alt, now, OVERDUE_COLUMN_S)
        self.picture.contingent_intents[m.drone_id] = column
        log.warning(
            "%s: resume %s not answered by its resume_by: holds on, others keep clear", m.drone_id, cmd.cmd_id
        )
        await self.store.note(
            "flight", m.mission_id, "resume_overdue", actor=self.actor, payload={"cmd_id": cmd.cmd_id}
        )
        await self.give_way(column)
        ack = await send
        if ack is not None and self.picture.contingent_intents.get(m.drone_id) is column:
            del self.picture.contingent_intents[m.drone_id]  # the next intent says where it is
        return ack

    async def give_way(self, intent: OperationalIntent | None, *, air: bool = True) -> None:
        """A drone in the air that could not keep clear of every other intent has the right of way
        over the flights whose intents meet ``intent``.

        One that has not left the ground and whose start has not gone out is checked again just
        before it does and moved to a later slot clear of the others (:mod:`dispatch.service.planning`);
        one whose start went out (its drone waits on the ground for its take-off time) is given up
        on its drone before it takes off (audited ``gave_way``, naming the drone in the air; its work
        is planned again). With ``air``, one in the air (and not steered already) is told to hold
        where it is, then resumed once its own route is clear (:meth:`resume`, which gives way to
        no one in the air in turn); audited ``gave_way`` with ``in_air``."""
        if intent is None:
            return
        spots = self.intents.landing_spots()
        waiting = [
            (o.mission_id, o.spec.intent)
            for o in self.picture.missions.values()
            if o.state in GROUND_STATES and not o.aborting and o.spec.intent is not None
        ]
        for mid in met_by(intent, waiting, spots) if waiting else []:
            o = self.picture.missions.get(mid)
            if o is None or o.state not in GROUND_STATES or o.aborting:
                continue
            if not o.start_sent:
                o.give_way = True
                continue
            log.warning("%s gives way on the ground to %s in the air", mid, intent.drone_id)
            payload = {"to_drone": intent.drone_id}
            await self.store.note("flight", mid, "gave_way", actor=self.actor, payload=payload)
            await self.flights.abort(o, f"gave way on the ground to {intent.drone_id} in the air")
        if not air:
            return
        flying = [
            (o.mission_id, o.spec.intent)
            for o in self.picture.missions.values()
            if yields_in_air(o) and o.spec.intent is not None
        ]
        for mid in met_by(intent, flying, spots) if flying else []:
            self.flights.spawn(self._hold_and_resume(self.picture.missions[mid], intent.drone_id), "give-way")

    async def _hold_and_resume(self, o: ActiveMission, to_drone: str) -> None:
        """Hold ``o``'s drone where it is, for ``to_drone`` in the air, and resume it on an intent
        clear of the others (that drone's among them) as soon as its battery affords."""
        if o.steer.locked():
            return  # being steered: its steering works out an intent clear of the others
        async with o.steer:
            gone = o.mission_id not in self.picture.missions
            if gone or not yields_in_air(o) or self.picture.servicing(o.drone_id):
                return
            o.rerouting = True  # zone scans and conformance leave it alone, as for a steering
            try:
                n = o.reroutes = o.reroutes + 1
                expires = self.commander.expiry()
                cmd = Hold(drone_id=o.drone_id, cmd_id=hold_id(o.mission_id, n), expires_at=expires)
                ack = await self.commander.send_new(cmd, o.mission_id)
                if ack is None or not ack.accepted:
                    log.info("hold of %s for %s refused: %s", o.mission_id, to_drone, ack and ack.reason)
                    return
                self.air_yields += 1
                log.warning("%s holds in the air: it gives way to %s", o.mission_id, to_drone)
                payload = {"to_drone": to_drone, "in_air": True, "cmd_id": cmd.cmd_id}
                await self.store.note("flight", o.mission_id, "gave_way", actor=self.actor, payload=payload)
                where, finishing = await self._where(o, ack.ts)
                if where is not None:
                    await self.resume(o, n, where, finishing_s=finishing, air_gives_way=False)
            finally:
                o.rerouting = False
                if self.recheck is not None and o.mission_id in self.picture.missions:
                    self.recheck(o)

    async def _where(self, o: ActiveMission, after: datetime) -> tuple[tuple[float, float] | None, float]:
        """Where ``o``'s drone holds (its first sample after ``after``, else the latest position
        known) and the seconds of a pad service it finishes there first."""
        try:
            tele = await self.flights.telemetry_after(o.drone_id, after)
        except TimeoutError:
            return self.picture.position(o.drone_id), 0.0
        return (tele.lon, tele.lat), self.intents.finishing(o.drone_id, tele, o.waypoints)


def yields_in_air(o: ActiveMission) -> bool:
    """Whether a mission's drone can give way in the air: flying its route, not steered."""
    return o.state == FlightState.FLYING and not o.aborting and not o.rerouting
