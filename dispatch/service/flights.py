"""Flights: the life cycle of requests and flights as the store records it, and the dispatcher's
background tasks.

Every collaborator of the dispatcher (events, steering, planning, recovery) moves a request or a
flight only through here, so the fleet picture follows the store: a flight given up is forgotten
by the picture and a planning round is asked for; a request transition is reported to
``on_progress`` once committed. A mission its drone may have started is aborted on the drone
first (:mod:`dispatch.service.abort`, which works on this object).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from dispatch.lifecycle import FlightState, InvalidTransition
from dispatch.service import abort
from dispatch.service.commander import Commander
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.state import ActiveMission, DispatcherStats
from dispatch.store import RequestView, Store
from fleet.clock import Clock
from fleet.link import FleetLink
from fleet.messages import Telemetry

log = logging.getLogger(__name__)


class Flights:
    """Request and flight transitions through the store, aborts, and the background tasks."""

    def __init__(
        self,
        store: Store,
        link: FleetLink,
        clock: Clock,
        picture: FleetPicture,
        commander: Commander,
        stats: DispatcherStats,
        wake: Callable[[], None],
        *,
        actor: str,
        silent_after_s: float,
    ) -> None:
        self.store = store
        self.link = link
        self.clock = clock
        self.picture = picture
        self.commander = commander
        self.stats = stats
        self.wake = wake
        self.actor = actor
        self.silent_after_s = silent_after_s
        self.on_progress: Callable[[str, str], None] | None = None  # (request id, new state)
        # Called with the flight after each committed flight transition (the authority adapter).
        self.on_flight: Callable[[ActiveMission], None] | None = None
        self.side: set[asyncio.Task[Any]] = set()

    @property
    def missions(self) -> dict[str, ActiveMission]:
        """The missions in progress (the fleet picture's)."""
        return self.picture.missions

    # --- background tasks ------------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Future[Any]:
        """Run ``coro`` in the background; a failure is counted (by the name's first part) and logged."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.side.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.side.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats.errors[task.get_name().split(":")[0]] += 1
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def telemetry_after(self, drone_id: str, after: datetime, timeout_s: float = 10.0) -> Telemetry:
        """The first telemetry sample of a drone stamped at or after ``after`` (real-time timeout),
        heard by this process or taken from the fleet view."""
        return await self.link.telemetry_after(drone_id, after, timeout_s)

    # --- transitions -----------------------------------------------------------------------------

    async def request_to(self, request_id: str, target: str, **kw: Any) -> RequestView:
        """One request transition through the store, reported to ``on_progress`` once it is committed."""
        view = await self.store.requests.transition(request_id, target, **kw)
        if self.on_progress is not None:
            self.on_progress(request_id, str(target))
        return view

    async def flight_to(self, m: ActiveMission, target: FlightState) -> None:
        """Move the flight to ``target`` (through ``flying`` when it completes from ``acked``)."""
        async with m.lock:
            if m.state == target or m.state in (FlightState.COMPLETED, FlightState.ABORTED):
                return
            if target == FlightState.COMPLETED and m.state == FlightState.ACKED:
                await self.store.flights.transition(m.mission_id, FlightState.FLYING, actor=self.actor)
                m.state = FlightState.FLYING
            await self.store.flights.transition(m.mission_id, target, actor=self.actor)
            m.state = target
        self.flown(m)

    def flown(self, m: ActiveMission) -> None:
        """Tell ``on_flight`` that ``m`` moved (after the store committed it)."""
        if self.on_flight is not None:
            self.on_flight(m)

    async def abort(self, m: ActiveMission, reason: str, *, silent: bool = False) -> None:
        """Abort a mission: one its drone may have started is aborted on the drone first and given
        up here once the drone acknowledges, or is written off as ``silent`` (dispatch.service.abort)."""
        if not await abort.abort_on_drone(self, m, reason, silent=silent):
            await self.abort_now(m, reason)

    async def abort_now(self, m: ActiveMission, reason: str) -> None:
        """Give a mission up: requests not picked up go back to ``accepted``; the drone is free."""
        async with m.lock:
            if m.state not in (FlightState.COMPLETED, FlightState.ABORTED):
                with contextlib.suppress(InvalidTransition):
                    await self.store.flights.abort(m.mission_id, actor=self.actor, reason=reason)
                m.state = FlightState.ABORTED
        self.flown(m)
        self.picture.forget(m)
        self.wake()
