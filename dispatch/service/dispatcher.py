"""The dispatcher: the service that turns filed requests into flights and follows them to the hand-over.

It wires small collaborators around one fleet picture and keeps the public verbs (``submit``,
``add_zone``, ``reload_zones``, ``cancel_on_flight``, ``running``, ``wait_until``, ``wake``,
``stats``), the life cycle (start, stop; the event, planning and tick loops) and intake.
Dependencies go one way, each collaborator getting what it uses in its constructor:

- :mod:`~dispatch.service.fleet_picture`: drones, their latest state, missions, zones in force, the
  airspace; the usable fleet and each drone's planning state (one definition);
- :mod:`~dispatch.service.commander`: write before you act, stored commands sent as stored,
  expiry, the command-id grammar;
- :mod:`~dispatch.service.flights`: request and flight transitions, aborts, background tasks;
- :mod:`~dispatch.service.steering`: zone scans, re-routes, hold/resume, returns, cancels;
- :mod:`~dispatch.service.events`: the drones' events, custody, faults, battery, silence;
- :mod:`~dispatch.service.planning`: rounds, commits, dispatch;
- :mod:`~dispatch.service.recovery`: the missions rebuilt at start, pending commands re-sent;
- :mod:`~dispatch.service.unknown_missions`: a drone on a mission the dispatcher does not have is
  stopped, and brought home if it flies.

Rules it keeps, whatever fails:

- **Write before you act.** A flight (with its legs and carried requests) and its commands are
  recorded in the store before the first byte goes to the drone; command ids are derived from the
  mission id, so a re-send (after a timeout or a restart) carries the *same* ``cmd_id`` and the
  drone applies it once.
- **Each request flies once.** Only ``accepted`` requests are planned. A request leaves a mission
  only through the store's life cycle: back to ``accepted`` if it was never picked up (abort,
  refused mission), or ``failed`` when it is on board a drone that cannot finish.
- **Rolling horizon.** Each planning round plans the accepted requests due first (at most
  ``round_requests``, earliest deadline first) on every usable drone (busy drones from the end of
  their mission) but commits only the first trip of idle drones; the rest is re-planned in the
  next round, which runs on a new request, a drone becoming free, a zone change, a failure, or the
  periodic tick. The cap keeps a round's solve bounded when a burst of filings outruns the fleet.
- **Drones in flight keep their missions** unless a zone change (re-route, or hold/return when no
  safe path exists), a fault, silence or low battery forces a change.

The solver and the intake pre-check run in worker processes (:class:`SolverPool`), so the event
loop that handles acks, events and telemetry is never blocked by OR-Tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from airspace.paths import Airspace
from airspace.terrain import AreaTerrain
from airspace.zones import Zone, parse_zones
from dispatch.lifecycle import FlightState, RequestState
from dispatch.service.approvals import Approvals
from dispatch.service.commander import Commander
from dispatch.service.conformance import Conformance, tolerance_for
from dispatch.service.drone_service import load_service_states, return_to_service
from dispatch.service.events import Events
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flights import Flights
from dispatch.service.grounding import restore_grounding
from dispatch.service.inbox import replay_inbox
from dispatch.service.intake import Assessment
from dispatch.service.intake_batch import IntakeBatcher
from dispatch.service.isolation import assess_isolated, for_each, run_steps
from dispatch.service.loop_lag import probe_loop_lag
from dispatch.service.nonconformance import NonconformanceReaction
from dispatch.service.planning import Planning
from dispatch.service.recovery import Recovery
from dispatch.service.reroute import next_waypoint
from dispatch.service.solver_pool import SolverPool
from dispatch.service.state import ActiveMission, DispatcherStats, DroneView
from dispatch.service.steering import Steering
from dispatch.service.timing import take_off_window_s
from dispatch.service.unknown_missions import UnknownMissions
from dispatch.service.weather_gate import WeatherGate
from dispatch.service.weather_returns import turn_back_for_weather
from dispatch.settings.model import DispatcherSettings
from dispatch.store import Intake, NewRequest, RequestView, Store
from fleet.clock import Clock
from fleet.description import Fleet
from fleet.journal import event_key
from fleet.link import FleetLink
from fleet.messages import Event
from routing.requests import Request

log = logging.getLogger(__name__)

INTAKE_SETTLE_WALL_S = 1.0  # the longest a woken planner waits for intake decisions in progress


class Dispatcher:
    """The dispatcher service over a store, a fleet link and a clock. ``async with`` or start/stop."""

    def __init__(
        self,
        store: Store,
        link: FleetLink,
        clock: Clock,
        settings: DispatcherSettings | None = None,
        *,
        pool: SolverPool | None = None,
        terrain: AreaTerrain | None = None,
    ) -> None:
        settings = settings or DispatcherSettings()
        self.terrain = terrain  # the area's terrain model (None: flat ground); taken on start
        if settings.round_requests < 1:
            raise ValueError(f"round_requests must be >= 1, got {settings.round_requests}")
        self.settings = settings
        self.store = store
        self.link = link
        self.clock = clock
        self.pool = pool or SolverPool()
        self._own_pool = pool is None
        self.actor = settings.actor
        self.stats = DispatcherStats()
        self.picture = FleetPicture(link.registry, clock)
        self.weather = WeatherGate()  # off until a weather source is configured (dispatch.weather_feed)
        self.commander = Commander(
            store,
            link,
            clock,
            expiry_s=settings.command_expiry_s,
            take_off_window_s=take_off_window_s(settings, clock),
        )
        self.flights = Flights(
            store,
            link,
            clock,
            self.picture,
            self.commander,
            self.stats,
            self.wake,
            actor=settings.actor,
            silent_after_s=settings.silent_after_s,
        )
        self.approvals = Approvals(store, self.picture, self.flights, actor=settings.actor)
        self.steering = Steering(
            store, clock, self.picture, self.commander, self.flights, self.stats, settings, self.weather
        )
        self.planning = Planning(
            store,
            clock,
            self.pool,
            self.picture,
            self.commander,
            self.flights,
            self.steering,
            self.stats,
            settings,
            self.weather,
            self.approvals,
        )
        self.recovery = Recovery(
            store,
            link,
            clock,
            self.picture,
            self.commander,
            self.flights,
            self.steering,
            self.planning,
        )
        self.events = Events(
            store,
            link,
            clock,
            self.picture,
            self.commander,
            self.flights,
            self.stats,
            self.steering.return_to_port,
            actor=settings.actor,
            silent_after_s=settings.silent_after_s,
        )
        self.conformance = Conformance(
            store,
            self.picture,
            self.stats,
            self.flights.spawn,
            actor=settings.actor,
            minima=self.planning.deconfliction.intents.minima,
            tolerance=tolerance_for(clock),
            notify=self._notify,
        )
        self.nonconformance = NonconformanceReaction(
            store,
            clock,
            self.picture,
            self.commander,
            self.flights,
            self.steering,
            actor=settings.actor,
            return_after_s=settings.conformance_return_after_s,
            tick_s=settings.tick_s,
        )
        self.conformance.reaction = self.nonconformance
        self.unknown_missions = UnknownMissions(
            store,
            self.picture,
            self.commander,
            self.flights,
            self.steering.return_to_port,
            actor=settings.actor,
        )
        self.planning.ground_gate = self.nonconformance.ground_clear
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._intake_lock = asyncio.Lock()
        self._filings: dict[object, datetime] = {}  # filings in progress: when each began (store clock)
        self._intake_batch: IntakeBatcher[RequestView] = IntakeBatcher(
            self._intake, urgent=lambda v: v.priority == "urgent"
        )
        self._sub = link.subscribe(maxsize=100_000)
        self._replayed: set[tuple[str, str]] = set()  # events handled from the inbox at start
        self.idle = asyncio.Event()  # set when a planning round found nothing left to do
        self._progress = asyncio.Condition()

    # --- the fleet picture (read by front ends and tests) -------------------------------------

    @property
    def fleet(self) -> Fleet | None:
        """The fleet description (None before :meth:`start`)."""
        return self.picture.fleet

    @property
    def drones(self) -> dict[str, DroneView]:
        """The dispatcher's view of each drone, by id."""
        return self.picture.drones

    @property
    def missions(self) -> dict[str, ActiveMission]:
        """The missions in progress, by id."""
        return self.picture.missions

    @property
    def zones(self) -> list[Zone]:
        """The zones in force."""
        return self.picture.zones

    @property
    def airspace(self) -> Airspace:
        """The airspace of the zones in force."""
        return self.picture.airspace

    @property
    def _zone_stamp(self) -> dict[str, datetime]:
        return self.picture.zone_stamp

    @property
    def on_progress(self) -> Callable[[str, str], None] | None:
        """Called with (request id, new state) after each request transition is committed."""
        return self.flights.on_progress

    @on_progress.setter
    def on_progress(self, callback: Callable[[str, str], None] | None) -> None:
        self.flights.on_progress = callback

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the fleet and zones, rebuild the view from the store, start the loops."""
        if self._own_pool:
            await self.pool.warm_up()
        fleet = await self.store.directory.fleet()
        self.picture.load_fleet(fleet)
        self.picture.use_terrain(self.terrain)
        self.commander.altitude_frame = "terrain" if self.terrain is not None else "relative"
        self.link.expect_drones(d.id for d in fleet.drones)  # drop ids outside the fleet
        await load_service_states(self)
        await restore_grounding(self.store, self.weather)
        await self.steering.load_zones()
        if self.terrain is not None:  # its profiles took 0.2-0.5 s in a first round
            pads = [(p.lon, p.lat) for p in (await self.store.directory.pads()).values()]
            await self.pool.warm_area(self.zones, fleet, pads, self.terrain, self.clock.now())
        await self.recovery.recover()
        self._replayed = await replay_inbox(self.store, self.link, self.events.handle)
        self.flights.spawn(self.steering.scan_recovered(), "scan-recovered")
        await self.recovery.locate_drones()
        await self._intake_pending()
        self.link.add_telemetry_listener(self.conformance.on_telemetry)
        self.link.add_telemetry_listener(self.unknown_missions.on_telemetry)
        self._tasks = [
            asyncio.create_task(self._event_loop(), name="dispatcher-events"),
            asyncio.create_task(self._planner_loop(), name="dispatcher-planner"),
            asyncio.create_task(self._tick_loop(), name="dispatcher-tick"),
            asyncio.create_task(probe_loop_lag(self.stats.loop_lag), name="dispatcher-loop-lag"),
        ]
        self.wake()

    async def stop(self) -> None:
        """Stop the loops and in-flight command sequences; the store keeps everything."""
        for task in [*self._tasks, *self.flights.side]:
            task.cancel()
        for task in [*self._tasks, *self.flights.side]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks, self.flights.side = [], set()
        self._sub.close()
        self.link.remove_telemetry_listener(self.conformance.on_telemetry)
        self.link.remove_telemetry_listener(self.unknown_missions.on_telemetry)
        if self._own_pool:
            self.pool.close()

    async def __aenter__(self) -> Dispatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def wait_until(self, predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
        """Wait until ``await predicate()`` is true, re-checked after every event handled and every
        planning round (TimeoutError after ``timeout_s`` real seconds)."""

        async def _wait() -> None:
            while True:
                async with self._progress:
                    if await predicate():
                        return
                    await self._progress.wait()

        async with asyncio.timeout(timeout_s):
            await _wait()

    def wake(self) -> None:
        """Ask for a planning round soon."""
        self.idle.clear()
        self._wake.set()

    @property
    def running(self) -> bool:
        """Started (fleet loaded), and none of its loops has ended."""
        return self.fleet is not None and bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def reload_zones(self) -> list[str]:
        """Read the zones from the store now (not at the next tick); return the missions being
        re-routed around zones that are new or changed."""
        return await self.steering.zones_changed()

    # --- intake ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def filing(self) -> Iterator[None]:
        """Mark a filing of this process in progress: the requests it stores meanwhile are decided
        by it, not claimed by the tick's sweep of requests left ``submitted`` (:meth:`submit` marks
        its own; a caller that stores the request first marks both steps)."""
        token = object()
        self._filings[token] = self.store.db.now()
        try:
            yield
        finally:
            del self._filings[token]

    async def submit(self, new: NewRequest, *, actor: str | None = None) -> RequestView:
        """File a request and decide intake at once: ``accepted`` (with an ETA) or ``rejected``."""
        with self.filing():
            created = await self.store.requests.create(new, actor=actor or new.office_id)
            if created.request.state != RequestState.SUBMITTED:
                return created.request
            # Concurrent filings are decided together (one airspace preparation for the batch).
            return await self._intake_batch.decide(created.request)

    async def _assess(self, views: list[RequestView]) -> list[Intake]:
        """Intake decisions for ``views`` (in the intake worker), as the store records them; one
        request whose decision raises is rejected (``internal_error``), not the batch."""
        assert self.fleet is not None
        now = self.clock.now()
        fleet = self.picture.planning_fleet()

        async def assess(requests: list[Request]) -> list[Assessment]:
            return await self.pool.assess(self.zones, fleet, requests, now, terrain=self.picture.terrain)

        return await assess_isolated(assess, views, now)

    async def _intake(self, views: list[RequestView]) -> list[RequestView]:
        # One transaction for the batch: one write per request, each waiting its turn on the
        # event loop, made a burst of filings wait seconds for their decisions.
        decisions = list(zip((v.id for v in views), await self._assess(views), strict=True))
        out = await self.store.requests.record_intakes(decisions, actor=self.actor)
        if any(v.state == RequestState.ACCEPTED for v in out):
            self.wake()
        return out

    async def _intake_pending(self) -> None:
        """Decide every request filed as ``submitted`` by someone else (e.g. a front end, or a
        dispatcher that stopped before deciding it), claiming them so that another dispatcher
        doing the same decides each one only once. This process's filings in progress are left
        to them (:meth:`filing`): claimed here, they would be decided twice, and the store's
        write lock, held meanwhile, would keep an urgent one's decision waiting."""
        async with self._intake_lock:
            while decided := await self.store.requests.decide_submitted(
                self._assess, actor=self.actor, filed_before=min(self._filings.values(), default=None)
            ):
                if any(v.state == RequestState.ACCEPTED for v in decided):
                    self.wake()

    # --- zones -------------------------------------------------------------------------------

    async def add_zone(
        self,
        feature: dict[str, Any],
        *,
        actor: str,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> list[str]:
        """An operator adds (or re-activates) a zone: store it, re-route every flight whose rest of
        path now enters it, and re-plan. Returns the missions being re-routed.

        Raises :class:`~airspace.zones.ZoneFormatError` (nothing stored) for a zone the airspace
        cannot read: stored, it would fail every later zone load, each tick and each restart."""
        parse_zones({"type": "FeatureCollection", "features": [feature]}, source="zone")
        await self.store.zones.upsert(feature, actor=actor, valid_from=valid_from, valid_until=valid_until)
        hit = await self.steering.zones_changed()
        # The periodic tick may have seen the new zone first and started the re-routes itself.
        return sorted(set(hit) | {m.mission_id for m in self.missions.values() if m.rerouting})

    # --- cancelling a request on a drone's mission ---------------------------------------------

    async def cancel_on_flight(
        self, request_id: str, *, actor: str, reason: str, wait_s: float = 30.0
    ) -> str:
        """Take a request planned on or dispatched to a drone off the drone's mission, then record it
        ``cancelled`` (:meth:`~dispatch.service.steering.Steering.cancel_on_flight` says how and
        what the outcomes mean): ``cancelled``, ``picked_up``, ``not_on_flight``, ``pending`` or
        ``not_steered``."""
        return await self.steering.cancel_on_flight(request_id, actor=actor, reason=reason, wait_s=wait_s)

    # --- planning ----------------------------------------------------------------------------

    async def _planner_loop(self) -> None:
        while True:
            await self._wake.wait()
            # Filings that arrive together are planned together: the first one decided wakes the
            # planner while the others are still in intake (an urgent licence filed with a dozen
            # others must not find the pad it needs taken by the first one's round). Urgent work
            # is decided first (IntakeBatcher): once it is, the round waits for no more than the
            # other urgent filings, and the ordinary ones go to the next round.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(INTAKE_SETTLE_WALL_S):
                    await self._intake_batch.settled()
            self._wake.clear()
            try:
                await self.planning.plan_round()
            except Exception:
                self.stats.errors["plan_round"] += 1
                log.exception("planning round failed")
            if not self._wake.is_set():
                self.idle.set()
            await self._notify()

    # --- events ------------------------------------------------------------------------------

    async def _event_loop(self) -> None:
        async for update in self._sub:
            event = update if isinstance(update, Event) else None
            if event is not None and event_key(event) in self._replayed:
                self.link.settle(event)  # handled from the inbox at start
                continue
            try:
                await self.events.handle(update)
            except Exception:
                self.stats.errors["event"] += 1
                log.exception("handling %s failed", type(update).__name__)
            if event is not None:
                self.link.settle(event)  # handled (or failed for good): its inbox entry may go
            await self._notify()

    # --- tick: liveness, ETAs, requests and zones filed elsewhere ----------------------------

    async def _tick_loop(self) -> None:
        while True:
            await self.clock.sleep(self.settings.tick_s)
            try:
                await self._tick()
            except Exception:
                self.stats.errors["tick"] += 1
                log.exception("tick failed")

    async def _tick(self) -> None:
        now = self.clock.now()
        errors = self.stats.errors

        async def eta(m: ActiveMission) -> None:
            self._update_eta(m, now)

        async def silence(drone_id: str) -> None:
            await self.events.check_silence(drone_id, now)

        # Each step, and each drone or mission within one, on its own: one failure skips nothing else.
        await run_steps(
            "tick",
            [
                ("intake", self._intake_pending),
                ("zones", self.steering.zones_changed),
                ("nonconforming", self.nonconformance.sweep),
                ("silence", lambda: for_each("tick.silence", self.drones, silence, errors)),
                ("service", lambda: return_to_service(self)),
                ("weather", lambda: turn_back_for_weather(self)),
                ("eta", lambda: for_each("tick.eta", self.missions.values(), eta, errors)),
            ],
            errors,
        )
        self.wake()

    def _update_eta(self, m: ActiveMission, now: datetime) -> None:
        """Estimate the mission's end from the drone's telemetry (rest of the path at cruise speed)."""
        assert self.fleet is not None
        pos = self.picture.position(m.drone_id)
        if pos is None or m.state != FlightState.FLYING or self.airspace.frame is None:
            return
        model = self.picture.model(m.drone_id)
        k = next_waypoint(self.airspace, pos, m.waypoints, max(1, m.reached_at))
        pts = [pos] + [(w[0], w[1]) for w in m.waypoints[k:]]
        xy = [self.airspace.frame.to_xy(p[0], p[1]) for p in pts]
        length = sum(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 for a, b in itertools.pairwise(xy))
        left = len([s for s in m.stops if s.at >= k])
        m.eta_end = now + timedelta(seconds=length / model.cruise_speed_mps + left * model.service_s)
