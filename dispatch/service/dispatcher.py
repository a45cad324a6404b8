"""The dispatcher: intake, planning rounds, commands to the fleet and the life cycle driven by events.

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
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from airspace.paths import Airspace
from airspace.zones import Zone, parse_zones
from dispatch.lifecycle import FlightState, InvalidTransition, RequestState
from dispatch.service import abort
from dispatch.service.commander import (
    Commander,
    is_dispatch_id,
    start_id,
    stored_ack,
    upload_id,
    uses_steering_number,
)
from dispatch.service.drone_service import (
    load_service_states,
    port_at,
    return_to_service,
    serviceable,
)
from dispatch.service.events import Events
from dispatch.service.failpoints import failpoint
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flights import Flights
from dispatch.service.intake import Assessment
from dispatch.service.intake_batch import IntakeBatcher
from dispatch.service.isolation import (
    assess_isolated,
    find_unplannable,
    for_each,
    routable,
    run_steps,
    unserve,
)
from dispatch.service.missions import (
    MissionSpec,
    StopSpec,
    mission_from_trip,
    new_flight,
    new_mission_id,
)
from dispatch.service.reroute import next_waypoint
from dispatch.service.solver_pool import SolverPool
from dispatch.service.state import ActiveMission, DispatcherStats, DroneView
from dispatch.service.steering import Steering
from dispatch.store import Conflict, Intake, NewRequest, NotFound, RequestView, Store, StoreError
from dispatch.store.views import CommandView, FlightView
from fleet.clock import Clock
from fleet.description import Fleet
from fleet.link import FleetLink
from fleet.messages import (
    Telemetry,
)
from routing.problem import Plan, PlanningProblem
from routing.requests import Request

log = logging.getLogger(__name__)

FLYING_STATES = ("en_route", "servicing", "holding", "returning", "landing")
REROUTE_SLACK = timedelta(minutes=15)  # zones counted this long after a mission's expected end


class Dispatcher:
    """The dispatcher service over a store, a fleet link and a clock. ``async with`` or start/stop."""

    def __init__(
        self,
        store: Store,
        link: FleetLink,
        clock: Clock,
        *,
        pool: SolverPool | None = None,
        actor: str = "dispatcher",
        plan_seconds: float = 0.5,
        tick_s: float = 30.0,
        commit_window_s: float = 120.0,
        silent_after_s: float = 90.0,
        horizon: timedelta = timedelta(hours=2),
        round_requests: int = 100,
    ) -> None:
        if round_requests < 1:
            raise ValueError(f"round_requests must be >= 1, got {round_requests}")
        self.store = store
        self.link = link
        self.clock = clock
        self.pool = pool or SolverPool()
        self._own_pool = pool is None
        self.actor = actor
        self.plan_seconds = plan_seconds
        self.tick_s = tick_s
        self.commit_window_s = commit_window_s
        self.silent_after_s = silent_after_s
        self.horizon = horizon
        self.round_requests = round_requests
        self.stats = DispatcherStats()
        self.picture = FleetPicture(link.registry, clock)
        self.commander = Commander(store, link, clock)
        self.flights = Flights(
            store, link, clock, self.picture, self.commander, self.stats, self.wake,
            actor=actor, silent_after_s=silent_after_s,
        )  # fmt: skip
        self.steering = Steering(
            store, clock, self.picture, self.commander, self.flights, self.stats, actor=actor, horizon=horizon
        )
        self.events = Events(
            store, link, clock, self.picture, self.commander, self.flights, self.stats,
            self.steering.return_to_port,
            actor=actor, silent_after_s=silent_after_s,
        )  # fmt: skip
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._intake_lock = asyncio.Lock()
        self._intake_batch: IntakeBatcher[RequestView] = IntakeBatcher(self._intake)
        self._sub = link.subscribe(maxsize=100_000)
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
        self.link.expect_drones(d.id for d in fleet.drones)  # drop ids outside the fleet
        await load_service_states(self)
        await self.steering.load_zones()
        await self._recover()
        self.flights.spawn(self.steering.scan_recovered(), "scan-recovered")
        await self._locate_drones()
        await self._intake_pending()
        self._tasks = [
            asyncio.create_task(self._event_loop(), name="dispatcher-events"),
            asyncio.create_task(self._planner_loop(), name="dispatcher-planner"),
            asyncio.create_task(self._tick_loop(), name="dispatcher-tick"),
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

        await asyncio.wait_for(_wait(), timeout_s)

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

    async def submit(self, new: NewRequest, *, actor: str | None = None) -> RequestView:
        """File a request and decide intake at once: ``accepted`` (with an ETA) or ``rejected``."""
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
            return await self.pool.assess(self.zones, fleet, requests, now)

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
        """Decide every request filed as ``submitted`` by someone else (e.g. an HTTP front end),
        claiming them so that another dispatcher doing the same decides each one only once."""
        async with self._intake_lock:
            while decided := await self.store.requests.decide_submitted(self._assess, actor=self.actor):
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
            self._wake.clear()
            try:
                await self._plan_round()
            except Exception:
                self.stats.errors["plan_round"] += 1
                log.exception("planning round failed")
            if not self._wake.is_set():
                self.idle.set()
            await self._notify()

    async def _plan_round(self) -> None:
        assert self.fleet is not None
        fleet = self.picture.usable_fleet()
        if fleet is None:
            return
        idle = [d.id for d in fleet.drones if self.drones[d.id].mission is None]
        if not idle:
            return
        views = await self.store.requests.list(states=[RequestState.ACCEPTED], limit=10_000)
        if not views:
            return
        now = self.clock.now()
        readable, broken = routable(views, now)
        give_up = functools.partial(self.flights.request_to, actor=self.actor)
        await unserve(give_up, broken)
        requests = tuple(readable)
        if len(requests) > self.round_requests:
            # A backlog larger than a round can solve (in time, and within the solver's integer
            # penalties): the ones due first now, the others in later rounds.
            due_first = sorted(requests, key=lambda r: (r.deadline, not r.urgent, r.ready_at, r.id))
            requests = tuple(due_first[: self.round_requests])
        states = self.picture.planning_states(fleet)
        problem = PlanningProblem(tuple(self.zones), fleet, requests, now, tuple(states))
        zones_seen = dict(self._zone_stamp)
        t0 = time.perf_counter()
        # A guided local search runs until its limit even on a one-request problem, so small rounds
        # get a limit that grows with their size, up to plan_seconds: latency to the first command.
        seconds = min(self.plan_seconds, 0.05 + 0.01 * len(requests))
        try:
            plan = await self.pool.plan(problem, seconds)
        except Exception:
            # One request the planner cannot handle must not fail every round: find it, give it up.
            broken = await find_unplannable(lambda rs: self.pool.assess(self.zones, fleet, rs, now), requests)
            if not broken:
                raise
            await unserve(give_up, broken)
            self.wake()
            return
        failpoint("plan.solved")
        self.stats.plan_rounds += 1
        self.stats.plan_wall_s.append(time.perf_counter() - t0)
        self.stats.round_requests.append(len(requests))
        async with self.steering.zone_lock:
            # Committed under the zone lock: a zone added while the plan was solved either is seen
            # here (the plan is dropped and made again) or scans the missions committed here.
            if self._zone_stamp != zones_seen:
                self.wake()
                return
            await self._commit_plan(plan, requests)

    async def _commit_plan(self, plan: Plan, requests: tuple[Request, ...]) -> None:
        """Commit the first trip of every idle drone; give up requests the plan says cannot be flown."""
        by_id = {r.id: r for r in requests}
        now = self.clock.now()
        for dp in plan.drones:
            view = self.drones[dp.drone_id]
            if view.mission is not None or not serviceable(view) or not dp.trips:
                continue
            trip = dp.trips[0]
            pickups = [leg.to_id for leg in trip.legs if leg.to_kind == "pickup"]
            if not pickups:
                continue
            if any((by_id[r].ready_at - now).total_seconds() > self.commit_window_s for r in pickups):
                continue
            model = self.picture.model(dp.drone_id)
            energy = self.picture.planning_energy(dp.drone_id, now)
            left = energy - model.battery_wh * model.reserve_fraction
            if sum(leg.energy_wh for leg in trip.legs) > left:
                # The plan swaps the battery first (the drone would wait at its port), but nothing
                # swaps a battery that is not landing: the drone would refuse the mission, and the
                # same plan would come back every round. Its work waits for the next round.
                continue
            await self._commit(dp.drone_id, trip, {r: by_id[r].weight_kg for r in pickups})
        for u in plan.unserved:
            # ``no_capacity`` waits for a drone; any other reason will not go away by waiting.
            if u.reason != "no_capacity":
                with contextlib.suppress(InvalidTransition, Conflict, NotFound):
                    await self.flights.request_to(
                        u.request_id, RequestState.UNSERVED, actor=self.actor,
                        details={"reason": u.reason, "detail": u.detail},
                        expected_state=RequestState.ACCEPTED,
                    )  # fmt: skip

    async def _commit(self, drone_id: str, trip: Any, weights: dict[str, float]) -> None:
        """Record the flight (requests ``accepted -> planned``), then send it in the background."""
        spec = mission_from_trip(new_mission_id(drone_id), drone_id, trip, weights)
        try:
            await self.store.flights.record(new_flight(spec, trip), actor=self.actor)
        except (InvalidTransition, Conflict, StoreError) as exc:
            log.info("plan for %s not committed: %s", drone_id, exc)
            return
        failpoint("plan.committed")
        m = ActiveMission.of(spec, FlightState.PLANNED)
        self.picture.add_mission(m)
        self.stats.missions += 1
        self.flights.spawn(self._dispatch(m), f"dispatch:{spec.mission_id}")

    async def _dispatch(self, m: ActiveMission) -> None:
        """Record upload and start (same ids on every attempt), send the upload, then the start."""
        spec = m.spec
        codes = {r: await self.store.requests.codes_for_mission(r) for r in spec.request_ids}
        up, go = self.commander.upload(spec, codes), self.commander.start(spec)
        rec_up = await self.commander.record(up, spec.mission_id)
        rec_go = await self.commander.record(go, spec.mission_id)
        await self._continue_dispatch(m, rec_up, rec_go)

    async def _continue_dispatch(self, m: ActiveMission, up: CommandView, go: CommandView) -> None:
        mid = m.mission_id
        if m.state == FlightState.PLANNED:
            await self.store.flights.transition(mid, FlightState.COMMANDED, actor=self.actor)
            m.state = FlightState.COMMANDED
        if m.state == FlightState.COMMANDED:
            wall = time.time()
            for r in m.spec.request_ids:
                self.stats.first_command_wall.setdefault(r, wall)
            ack = await self.commander.send_stored(up) if up.result is None else stored_ack(up)
            if ack is None:
                await self.flights.abort(m, "the drone did not acknowledge the mission upload")
                return
            if not ack.accepted:
                await self.flights.abort(m, f"mission refused: {ack.reason}")
                return
            async with m.lock:
                await self.store.flights.acknowledge(mid, actor=self.actor, cmd_id=up.cmd_id)
                m.state = FlightState.ACKED
        if m.state == FlightState.ACKED and not m.aborting:
            while go.result is None:
                ack = await self.commander.send_stored(go)
                if ack is not None:
                    if not ack.accepted:
                        await self.flights.abort(m, f"start refused: {ack.reason}")
                        return
                    break
                if not self.drones[m.drone_id].usable:
                    return
            await self.flights.flight_to(m, FlightState.FLYING)

    # --- events ------------------------------------------------------------------------------

    async def _event_loop(self) -> None:
        async for update in self._sub:
            try:
                await self.events.handle(update)
            except Exception:
                self.stats.errors["event"] += 1
                log.exception("handling %s failed", type(update).__name__)
            await self._notify()

    # --- tick: liveness, ETAs, requests and zones filed elsewhere ----------------------------

    async def _tick_loop(self) -> None:
        while True:
            await self.clock.sleep(self.tick_s)
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
        await run_steps("tick", [
            ("intake", self._intake_pending),
            ("zones", self.steering.zones_changed),
            ("silence", lambda: for_each("tick.silence", self.drones, silence, errors)),
            ("service", lambda: return_to_service(self)),
            ("eta", lambda: for_each("tick.eta", self.missions.values(), eta, errors)),
        ], errors)  # fmt: skip
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

    # --- recovery ----------------------------------------------------------------------------

    async def _recover(self) -> None:
        """Rebuild the view of missions from the store, re-send commands never acknowledged and
        re-examine flights left holding by a re-route that never finished."""
        held: set[str] = set()
        for flight in await self.store.flights.list_active():
            m = self._rebuild(flight)
            await self._note_adopted_reroutes(flight)
            self.picture.add_mission(m)
            for rid in flight.request_ids:
                req = await self.store.requests.get(rid)
                if req.state == RequestState.PICKED_UP:
                    m.picked.add(rid)
                    self.drones[m.drone_id].onboard.add(rid)
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
            up, go = cmds.get(upload_id(m.mission_id)), cmds.get(start_id(m.mission_id))
            if up is None or go is None:
                self.flights.spawn(self._dispatch(m), f"dispatch:{m.mission_id}")
            elif m.state in (FlightState.PLANNED, FlightState.COMMANDED, FlightState.ACKED):
                self.flights.spawn(self._continue_dispatch(m, up, go), f"dispatch:{m.mission_id}")
            if m.state in (FlightState.ACKED, FlightState.FLYING) and _held_without_resume(flight):
                # Stopped between a re-route's hold and its resume: the drone hovers until told
                # otherwise. Look again at its path against every zone now in force (below).
                held.add(m.mission_id)
                m.rerouting = True
        for cmd in await self.store.flights.pending_commands():
            # Mission upload and start are re-sent by the dispatch sequence above, in order; a
            # pending hold of a flight re-examined below is replaced by the re-route's own.
            # An abort of a flight still being aborted is re-sent by abort.recover above.
            if is_dispatch_id(cmd.cmd_id) or (cmd.kind == "Hold" and cmd.mission_id in held):
                continue
            if cmd.kind == abort.KIND and cmd.mission_id in self.missions:
                continue
            if cmd.kind == "Reroute":
                # Before the held flight is looked at again: that starts from the route it flies.
                m = self.missions.get(cmd.mission_id or "")
                self.flights.spawn(self._resend_reroute(m, cmd), f"resend:{cmd.cmd_id}")
            else:
                self.flights.spawn(self.commander.send_stored(cmd), f"resend:{cmd.cmd_id}")
        for mission_id in sorted(held):
            m = self.missions[mission_id]
            every = [z.id for z in self.zones]
            again = self.steering.reroute(m, every, time.perf_counter(), self.clock.now())
            self.flights.spawn(again, f"reroute:{mission_id}")

    async def _locate_drones(self, timeout_s: float = 3.0) -> None:
        """Find the port each idle drone stands at from its telemetry: after a restart a drone may
        stand at another port than its home (drones the broker does not know online are skipped)."""
        assert self.fleet is not None
        since = self.clock.now() - timedelta(hours=1)
        idle = [
            d for d in self.fleet.drones
            if self.drones[d.id].mission is None and self.link.registry.get(d.id) is not None
        ]  # fmt: skip
        found = await asyncio.gather(
            *(self.flights.telemetry_after(d.id, since, timeout_s) for d in idle), return_exceptions=True
        )
        for d, tele in zip(idle, found, strict=True):
            port = port_at(self.fleet.ports, tele.lon, tele.lat) if isinstance(tele, Telemetry) else None
            if port is not None:
                self.drones[d.id].port = port

    async def _note_adopted_reroutes(self, flight: FlightView) -> None:
        """Write the ``rerouted`` note of each acknowledged re-route that has none: the previous
        dispatcher stored the drone's ack and died before its note (the route itself is rebuilt
        from the acknowledged command; the note keeps the flight's history complete)."""
        acked = [c for c in flight.commands if c.kind == "Reroute" and c.result == "ack"]
        if not acked:
            return
        noted = {
            e.payload.get("cmd_id") for e in await self.store.history("flight", flight.mission_id)
            if e.action == "rerouted"
        }  # fmt: skip
        for cmd in acked:
            if cmd.cmd_id not in noted:
                await self._note_recovered_reroute(flight.mission_id, cmd)

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
            if ack is not None and ack.accepted and m.mission_id in self.missions:
                _adopt_reroute(m, cmd.payload)
                await self._note_recovered_reroute(m.mission_id, cmd)

    def _rebuild(self, flight: FlightView) -> ActiveMission:
        spec = MissionSpec.from_plan(flight.mission_id, flight.drone_id, flight.plan)
        m = ActiveMission.of(spec, FlightState(flight.state))
        for cmd in flight.commands:
            if cmd.kind == "Reroute" and cmd.result == "ack":
                _adopt_reroute(m, cmd.payload)
            # Command ids count holds and ground re-routes: a new one never reuses a known id.
            m.reroutes += 1 if uses_steering_number(m.mission_id, cmd.cmd_id, cmd.kind) else 0
        return m


def _adopt_reroute(m: ActiveMission, payload: dict[str, Any]) -> None:
    """Make a re-route the drone acknowledged (a stored ``Reroute`` command's payload) the mission's
    route in memory."""
    m.adopt(
        int(payload["from_index"]),
        [tuple(w) for w in payload["waypoints"]],  # type: ignore[misc]
        [StopSpec(int(s["at"]), s["action"], s["request_id"], float(s.get("payload_kg", 0.0)))
         for s in payload["stops"]],
    )  # fmt: skip


def _held_without_resume(flight: FlightView) -> bool:
    """Whether the flight's last hold, resume or re-route (not refused) is a hold."""
    steering = sorted(
        (c for c in flight.commands if c.kind in ("Hold", "Resume", "Reroute") and c.result != "nack"),
        key=lambda c: c.created_at,
    )
    return bool(steering) and steering[-1].kind == "Hold"

