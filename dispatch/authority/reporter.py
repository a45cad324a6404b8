"""The authority adapter on a running dispatcher: flight plans, 1 Hz positions, closures.

Sources: the dispatcher's flight transitions (``Flights.on_flight``, called after each committed
transition) and the fleet link's telemetry (a telemetry listener). A flight's plan is filed when
it is commanded (before its mission is uploaded, so before take-off); from its ``flying``
transition (the drone's ``took_off``) a ticker reports its position on a grid of one report per
clock second, from the latest fix of its drone (so the rate holds whatever the telemetry period,
and a stalled loop catches up with one report per missed second); a ``completed`` flight is
closed, and an ``aborted`` one is closed once its drone is back on the ground (its way home is
still reported under the flight's id). Every report is only enqueued here
(:class:`~dispatch.authority.backlog.Backlog`); the :class:`~dispatch.authority.sender.Sender`
delivers them in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dispatch.authority.backlog import Backlog
from dispatch.authority.reports import close_report, plan_report, position_report
from dispatch.authority.sender import Sender, Sink
from dispatch.lifecycle import FlightState
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.state import ActiveMission
from dispatch.service.timing import clock_speed
from fleet.messages import Telemetry

log = logging.getLogger(__name__)

PERIOD = timedelta(seconds=1)
ON_GROUND = frozenset({"idle", "ready", "fault"})


@dataclass(slots=True)
class Fix:
    """A drone's latest telemetry sample and the vertical speed from the one before."""

    tele: Telemetry
    vertical_mps: float = 0.0
    before: Telemetry | None = None  # the fix before it: a report on a time before ``tele``'s


@dataclass(slots=True)
class Airborne:
    """A flight being reported: the next report's time and sequence number."""

    flight_id: str
    drone_id: str
    next_at: datetime
    seq: int = 0
    closing: str | None = None  # aborted: closed with this reason once its drone is on the ground


class AuthorityReporter:
    """Reports a dispatcher's flights; an async context manager around the dispatcher's run."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        backlog: Backlog,
        sink: Sink,
        *,
        operator: str = "dronedispatch",
        takeoff_altitude_m: float = 0.0,
    ) -> None:
        self.dispatcher = dispatcher
        self.clock = dispatcher.clock
        self.backlog = backlog
        self.sender = Sender(backlog, sink)
        self.operator = operator
        self.takeoff_altitude_m = takeoff_altitude_m
        self.fixes: dict[str, Fix] = {}
        self.airborne: dict[str, Airborne] = {}  # by flight id
        self.filed: set[str] = set()
        self.closed: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # --- sources -----------------------------------------------------------------------------

    def on_flight(self, m: ActiveMission) -> None:
        """A flight transition was committed (``Flights.on_flight``)."""
        now = self.clock.now()
        if m.mission_id in self.closed:
            return
        if m.state in (FlightState.COMMANDED, FlightState.ACKED):
            self._file(m, now)
        elif m.state == FlightState.FLYING:
            self._file(m, now)
            self.airborne.setdefault(m.mission_id, Airborne(m.mission_id, m.drone_id, now))
        elif m.state == FlightState.COMPLETED and m.mission_id in self.filed:
            self._close(m.mission_id, m.drone_id, now, "completed", None)
        elif m.state == FlightState.ABORTED:
            a = self.airborne.get(m.mission_id)
            fix = self.fixes.get(m.drone_id)
            if a is not None and fix is not None and fix.tele.state not in ON_GROUND:
                a.closing = m.aborting or "aborted"
            elif m.mission_id in self.filed:
                self._close(m.mission_id, m.drone_id, now, "aborted", m.aborting)

    def on_telemetry(self, tele: Telemetry, received_at: datetime, shared: bool) -> None:
        """A link telemetry listener: keep each drone's latest fix."""
        del received_at, shared
        before = self.fixes.get(tele.drone_id)
        if before is not None and tele.ts <= before.tele.ts:
            return
        vs = 0.0
        if before is not None:
            vs = (tele.alt_m - before.tele.alt_m) / (tele.ts - before.tele.ts).total_seconds()
        self.fixes[tele.drone_id] = Fix(tele, vs, before.tele if before is not None else None)
        m = self.dispatcher.picture.mission_of(tele.drone_id, tele.mission_id)
        if m is not None and m.state == FlightState.FLYING and m.mission_id not in self.airborne:
            self.on_flight(m)  # flying before this process started (a restart): file and report it
        if tele.state in ON_GROUND:
            for a in [a for a in self.airborne.values() if a.drone_id == tele.drone_id and a.closing]:
                self._close(a.flight_id, a.drone_id, tele.ts, "aborted", a.closing)

    # --- reports -----------------------------------------------------------------------------

    def _put(self, report: dict[str, Any]) -> None:
        self.backlog.put(report)
        self.sender.kick()

    def _file(self, m: ActiveMission, now: datetime) -> None:
        if m.mission_id in self.filed:
            return
        self.filed.add(m.mission_id)
        s = m.spec
        self._put(
            plan_report(
                flight_id=m.mission_id,
                operator=self.operator,
                drone_id=m.drone_id,
                waypoints=[(w[0], w[1], w[2]) for w in m.waypoints],
                depart=s.depart,
                arrive=s.arrive,
                end_port=s.end_port,
                intent=s.intent,
                takeoff_altitude_m=self.takeoff_altitude_m,
                filed_at=now,
            )
        )

    def _positions(self, a: Airborne, until: datetime) -> None:
        """Reports for every whole period of ``a`` up to ``until``, from its drone's latest fix."""
        fix = self.fixes.get(a.drone_id)
        if fix is None:
            return
        while a.next_at <= until:
            # Never a fix from after the report's time (a report made late, once a newer fix came).
            t = fix.tele
            if t.ts > a.next_at and fix.before is not None and fix.before.ts <= a.next_at:
                t = fix.before
            a.seq += 1
            self._put(
                position_report(
                    flight_id=a.flight_id,
                    drone_id=a.drone_id,
                    seq=a.seq,
                    at=a.next_at,
                    fix_at=t.ts,
                    lon=t.lon,
                    lat=t.lat,
                    height_m=t.alt_m,
                    takeoff_altitude_m=self.takeoff_altitude_m,
                    ground_speed_mps=t.ground_speed_mps,
                    course_deg=t.heading_deg,
                    vertical_speed_mps=fix.vertical_mps,
                    battery_pct=t.battery_pct,
                    drone_state=t.state,
                )
            )
            a.next_at += PERIOD

    def _close(self, flight_id: str, drone_id: str, at: datetime, outcome: str, reason: str | None) -> None:
        a = self.airborne.pop(flight_id, None)
        if a is not None:
            self._positions(a, at)
        self.closed.add(flight_id)
        self._put(
            close_report(
                flight_id=flight_id,
                drone_id=drone_id,
                at=at,
                outcome=outcome,
                positions=a.seq if a is not None else 0,
                reason=reason,
            )
        )

    def tick(self) -> None:
        """Report every airborne flight up to now."""
        now = self.clock.now()
        for a in list(self.airborne.values()):
            self._positions(a, now)

    async def _ticker(self) -> None:
        # A tenth of a clock second in wall time (at most 0.1 s): the grid is kept by next_at.
        pause = min(0.1, 0.1 / clock_speed(self.clock))
        while True:
            self.tick()
            await asyncio.sleep(pause)

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Attach to the dispatcher and the link, start the ticker and the sender."""
        self.dispatcher.flights.on_flight = self.on_flight
        self.dispatcher.link.add_telemetry_listener(self.on_telemetry)
        self._tasks = [
            asyncio.create_task(self._ticker(), name="authority-ticker"),
            asyncio.create_task(self.sender.run(), name="authority-sender"),
        ]

    async def stop(self) -> None:
        """Detach and stop; undelivered reports stay in the backlog for the next start."""
        if self.dispatcher.flights.on_flight == self.on_flight:
            self.dispatcher.flights.on_flight = None
        self.dispatcher.link.remove_telemetry_listener(self.on_telemetry)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.sender.sink.aclose()

    async def __aenter__(self) -> AuthorityReporter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
