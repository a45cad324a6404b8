"""Planning: rounds over the accepted requests, commits of the first trips, and dispatch.

- **Rolling horizon.** Each planning round plans the accepted requests due first (at most
  ``round_requests``, earliest deadline first) on every usable drone of the fleet picture (busy
  drones from the end of their mission) but commits only the first trip of idle drones; the rest
  is re-planned in the next round. A request the planner cannot handle is found and given up
  (``unserved``), not every round with it.
- **Commit under the zone lock.** A zone added while a plan was solved either is seen at commit
  (the plan is dropped and made again) or scans the missions committed.
- **Write before you act.** A flight (with its legs and carried requests) is recorded before its
  upload and start are recorded (:class:`~dispatch.service.commander.Commander`) and sent.

The solver runs in a worker process (:class:`~dispatch.service.solver_pool.SolverPool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import msgspec

from airspace.zones import Zone
from dispatch.lifecycle import FlightState, InvalidTransition, RequestState
from dispatch.service.approvals import Approvals, DeniedGroup
from dispatch.service.commander import Commander, start_attempt, stored_ack
from dispatch.service.drone_service import serviceable
from dispatch.service.failpoints import failpoint
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.flights import Flights
from dispatch.service.isolation import find_unplannable, routable, unserve
from dispatch.service.missions import MissionSpec, mission_from_trip, new_flight, new_mission_id
from dispatch.service.reroute import route_clear
from dispatch.service.solver_pool import SolverPool
from dispatch.service.state import ActiveMission, DispatcherStats
from dispatch.service.steering import Steering
from dispatch.service.timing import StartLatency, deconfliction_params, start_lead_s
from dispatch.service.weather_gate import HOLD_REASON, WeatherGate
from dispatch.settings.model import DispatcherSettings
from dispatch.store import Conflict, NotFound, Store, StoreError
from dispatch.store.views import CommandView
from fleet.clock import Clock
from fleet.messages import TAKE_OFF_WINDOW_PASSED, Ack
from routing.deconflict import place_trip
from routing.intents import OperationalIntent, shifted
from routing.problem import DronePlan, Plan, PlanningProblem, Trip
from routing.requests import Request
from routing.wind_energy import leg_in_wind

log = logging.getLogger(__name__)

RETRY_LATER = ("no_capacity", "deconfliction")
URGENT_UPLOAD_WAIT_S = 2.0  # wall seconds a round waits for an urgent mission's upload, at most
RETIMES = 5  # later slots tried for a start that could not be sent, or was refused, in time


class Planning:
    """Planning rounds, their commits, and the dispatch of committed missions."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        pool: SolverPool,
        picture: FleetPicture,
        commander: Commander,
        flights: Flights,
        steering: Steering,
        stats: DispatcherStats,
        settings: DispatcherSettings,
        weather: WeatherGate,
        approvals: Approvals,
    ) -> None:
        self.store = store
        self.clock = clock
        self.pool = pool
        self.picture = picture
        self.commander = commander
        self.flights = flights
        self.steering = steering
        self.stats = stats
        self.weather = weather
        self.approvals = approvals
        self._held: dict[str, str] = {}  # request id -> why it waits on the ground, as recorded
        # Returns once a mission may take off, True if it was held on the ground meanwhile.
        self.ground_gate: Callable[[ActiveMission], Awaitable[bool]] | None = None
        self._round_holds: dict[str, str] = {}  # the same, as stored when the round began
        self.actor = settings.actor
        self.plan_seconds = settings.plan_seconds
        self.commit_window_s = settings.commit_window_s
        self.round_requests = settings.round_requests
        self._base_lead_s = start_lead_s(settings, clock)
        self.start_latency = StartLatency()
        self.deconfliction = deconfliction_params(settings, clock)

    @property
    def start_lead_s(self) -> float:
        """Clock seconds from a commit to the planned take-off, and from sending a start to it: the
        settings' lead, or more while starts are slow to reach the drones (:class:`StartLatency`)."""
        return max(self._base_lead_s, self.start_latency.lead())

    async def plan_round(self) -> None:
        assert self.picture.fleet is not None
        fleet = self.picture.usable_fleet()
        if fleet is None:
            return
        idle = [d.id for d in fleet.drones if self.picture.drones[d.id].mission is None]
        if not idle:
            return
        views = await self.store.requests.list(states=[RequestState.ACCEPTED], limit=10_000)
        if not views:
            return
        # Why requests wait on the ground (weather_hold: ...), named if they end deadline_infeasible.
        self._round_holds = {
            v.id: v.state_reason for v in views if v.state_reason and v.state_reason.startswith(HOLD_REASON)
        }
        now = self.clock.now()
        readable, broken = routable(views, now)
        give_up = functools.partial(self.flights.request_to, actor=self.actor)
        await unserve(give_up, broken)
        # Work not ready within the commit window waits for a later round: the solver would chain
        # it behind ready work on one trip, and a trip that waits for it is not committed, so the
        # ready work would wait with it (an urgent licence behind a document ready in 20 minutes).
        soon = now + timedelta(seconds=self.commit_window_s)
        requests = tuple(r for r in readable if r.ready_at <= soon)
        if not requests:
            return
        if len(requests) > self.round_requests:
            # A backlog larger than a round can solve (in time, and within the solver's integer
            # penalties): the ones due first now, the others in later rounds.
            due_first = sorted(requests, key=lambda r: (r.deadline, not r.urgent, r.ready_at, r.id))
            requests = tuple(due_first[: self.round_requests])
        # Requests whose flight the authority denied are planned in rounds of their own, around
        # the airspace denied to them (dispatch.service.approvals); the others as usual.
        groups, free = self.approvals.groups(requests)
        for group in groups:
            await self._plan_denied(group)
        if free:
            await self._plan(free, ())

    async def _plan_denied(self, group: DeniedGroup) -> None:
        """Plan requests around the airspace denied to them; give them up when it was a flight above
        the ceiling (no route keeps their drones lower)."""
        if group.ceiling:
            for r in group.requests:
                with contextlib.suppress(InvalidTransition, Conflict, NotFound):
                    await self.flights.request_to(
                        r.id,
                        RequestState.UNSERVED,
                        actor=self.actor,
                        details={"reason": group.reasons[r.id], "detail": "its flight above the ceiling"},
                        expected_state=RequestState.ACCEPTED,
                    )
            return
        await self._plan(group.requests, group.no_fly, group.reasons)

    async def _plan(
        self, requests: tuple[Request, ...], no_fly: tuple[Zone, ...], denied: dict[str, str] | None = None
    ) -> None:
        """Plan ``requests`` on the usable fleet around the zones in force (and ``no_fly``), and
        commit the first trip of each idle drone. ``denied``: why requests the plan cannot serve
        are given up (the authority's denial rather than the planner's reason)."""
        fleet = self.picture.usable_fleet()
        if fleet is None or all(self.picture.drones[d.id].mission is not None for d in fleet.drones):
            return
        now = self.clock.now()
        give_up = functools.partial(self.flights.request_to, actor=self.actor)
        states = self.picture.planning_states(fleet)
        zones = (*self.picture.zones, *no_fly)
        wind = self.weather.energy_forecast()  # the wind in every leg's energy (None: calm air)
        problem = PlanningProblem(
            zones, fleet, requests, now, tuple(states), terrain=self.picture.terrain, wind=wind
        )
        zones_seen = dict(self.picture.zone_stamp)
        t0 = time.perf_counter()
        # A guided local search runs until its limit even on a one-request problem, so small rounds
        # get a limit that grows with their size, up to plan_seconds: latency to the first command.
        seconds = min(self.plan_seconds, 0.05 + 0.01 * len(requests))
        try:
            plan = await self.pool.plan(problem, seconds, self.picture.active_intents(), self.deconfliction)
        except Exception:
            # One request the planner cannot handle must not fail every round: find it, give it up.
            broken = await find_unplannable(lambda rs: self.pool.assess(zones, fleet, rs, now), requests)
            if not broken:
                raise
            await unserve(give_up, broken)
            self.flights.wake()
            return
        failpoint("plan.solved")
        self.stats.plan_rounds += 1
        self.stats.plan_wall_s.append(time.perf_counter() - t0)
        self.stats.round_requests.append(len(requests))
        async with self.steering.zone_lock:
            # Committed under the zone lock: a zone added while the plan was solved either is seen
            # here (the plan is dropped and made again) or scans the missions committed here.
            if self.picture.zone_stamp != zones_seen:
                self.flights.wake()
                return
            await self._commit_plan(plan, requests, denied or {}, windy=wind is not None)

    async def _commit_plan(
        self, plan: Plan, requests: tuple[Request, ...], denied: dict[str, str], *, windy: bool = False
    ) -> None:
        """Commit the first trip of every idle drone; give up requests the plan says cannot be flown
        (with the reason in ``denied``, if any: the airspace the plan avoided was denied them).

        A request held on the ground before (``weather_hold: ...``) that ends ``deadline_infeasible``
        names the hold. ``windy``: the plan was made in the forecast wind, where ``out_of_range``
        is a weather hold until the wind drops or the deadline passes."""
        by_id = {r.id: r for r in requests}
        now = self.clock.now()
        fleet = self.picture.fleet
        assert fleet is not None
        # Committed trips keep clear of the intents in force, and of each other: the plan was made
        # a moment ago and its trips are flown back to back from their (maybe later) departure.
        earliest = now + timedelta(seconds=self.start_lead_s)

        def order(dp: DronePlan) -> tuple[bool, datetime, datetime]:
            # Urgent work is placed first, the earliest deadline first: it gets the earliest
            # conflict-free departures (and the pads and port spots it needs).
            first = dp.trips[0].legs if dp.trips else ()
            picked = [by_id[g.to_id] for g in first if g.to_kind == "pickup" and g.to_id in by_id]
            urgent = any(r.urgent for r in picked)
            due = min((r.deadline for r in picked if r.urgent), default=now)
            return (not urgent, due, first[0].depart if first else now)

        for dp in sorted(plan.drones, key=order):
            view = self.picture.drones[dp.drone_id]
            if view.mission is not None or not serviceable(view) or not dp.trips:
                continue
            trip = dp.trips[0]
            if trip.legs and trip.legs[0].from_kind == "port" and trip.legs[0].from_id != view.port:
                # Planned from the end port of a mission given up during the round: the drone is
                # still where it was. The next round plans it from there.
                continue
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
            places = [(w[0], w[1]) for leg in trip.legs for w in leg.waypoints]
            # The window from the earliest take-off to the planned landing: a later slot found by
            # deconfliction flies in conditions checked here or in a later round.
            held = self.weather.hold(model.weather, places, earliest, max(earliest, trip.legs[-1].arrive))
            if held is not None:
                self.stats.weather_holds += 1
                await self._hold(pickups, held)
                continue
            await self._hold(pickups, None)
            # The intents in force now (a start moved meanwhile counts): read, placed and reserved
            # with no await in between, so two placements never miss each other. The earliest
            # take-off counts from now: the commits before this one took time (under load, a
            # round's sixth commit came half a wall second after the first).
            earliest = max(earliest, self.clock.now() + timedelta(seconds=self.start_lead_s))
            index = self.steering.intents.others(dp.drone_id)
            placed = place_trip(
                dp.drone_id,
                1,
                trip,
                service_s=model.service_s,
                earliest=earliest,
                deadlines={r: by_id[r].deadline for r in pickups},
                index=index,
                params=self.deconfliction,
            )
            if isinstance(placed, str):
                log.info("trip of %s not committed: %s", dp.drone_id, placed)
                continue
            trip, intent = placed
            forecast = self.weather.energy_forecast()
            if forecast is not None:  # placed later: the wind of the hours it is then flown in
                trip = Trip(tuple(leg_in_wind(leg, model, forecast) for leg in trip.legs))
            urgent = any(by_id[r].urgent for r in pickups)
            await self._commit(dp.drone_id, trip, {r: by_id[r].weight_kg for r in pickups}, intent, urgent)
        for u in plan.unserved:
            # ``no_capacity`` and ``deconfliction`` wait for a drone or a free slot of airspace; any
            # other reason will not go away by waiting.
            if u.reason in RETRY_LATER:
                continue
            reason, detail = u.reason, u.detail
            held = self._round_holds.get(u.request_id) or self._held.get(u.request_id)
            if windy and reason == "out_of_range" and u.request_id not in denied:
                # Accepted in calm air: out of range only in the wind, which may drop.
                held = f"{HOLD_REASON}: out of range in the forecast wind ({detail})"
                if now < by_id[u.request_id].deadline:
                    self.stats.weather_holds += 1
                    await self._hold([u.request_id], held)
                    continue
                reason, detail = "deadline_infeasible", "the deadline has passed"
            if u.request_id in denied:
                reason, detail = denied[u.request_id], f"{u.reason}: {u.detail}"
            elif reason == "deadline_infeasible" and held is not None:
                detail = f"{detail}; held on the ground: {held}"
            with contextlib.suppress(InvalidTransition, Conflict, NotFound):
                await self.flights.request_to(
                    u.request_id,
                    RequestState.UNSERVED,
                    actor=self.actor,
                    details={"reason": reason, "detail": detail},
                    expected_state=RequestState.ACCEPTED,
                )
            self._held.pop(u.request_id, None)

    async def _hold(self, request_ids: list[str], why: str | None) -> None:
        """Record why these accepted requests wait on the ground (None: they wait no more), once
        per change."""
        for rid in request_ids:
            if self._held.get(rid) == why:
                continue
            with contextlib.suppress(NotFound):
                await self.store.requests.hold(rid, why, actor=self.actor)
            if why is None:
                self._held.pop(rid, None)
            else:
                self._held[rid] = why

    async def _commit(
        self,
        drone_id: str,
        trip: Trip,
        weights: dict[str, float],
        intent: OperationalIntent,
        urgent: bool = False,
    ) -> None:
        """Record the flight (requests ``accepted -> planned``), then send it in the background.
        An urgent one is uploaded before the round's next trip is committed: its take-off is at
        most one start lead away, and the next commits' writes would delay its upload past it
        (the ten-minute licence lost its departure slot so, then its deadline)."""
        spec = mission_from_trip(new_mission_id(drone_id), drone_id, trip, weights, intent)
        self.picture.set_own_intent(drone_id, intent)  # reserved before the store is awaited
        try:
            await self.store.flights.record(new_flight(spec, trip), actor=self.actor)
        except (InvalidTransition, Conflict, StoreError) as exc:
            log.info("plan for %s not committed: %s", drone_id, exc)
            self.picture.own_intents.pop(drone_id, None)
            return
        failpoint("plan.committed")
        m = ActiveMission.of(spec, FlightState.PLANNED)
        self.picture.add_mission(m)
        self.stats.missions += 1
        self.flights.spawn(self.dispatch(m), f"dispatch:{spec.mission_id}")
        if urgent:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(URGENT_UPLOAD_WAIT_S):  # wait_for can swallow a cancel (3.11)
                    await m.uploaded.wait()

    async def dispatch(self, m: ActiveMission) -> None:
        """Record upload and start (same ids on every attempt), send the upload, then the start."""
        spec = m.spec
        # Nothing is recorded for, or sent to, a drone whose flight enters controlled airspace
        # before the authority approves it.
        if not await self.approvals.cleared(m):
            return
        try:
            codes = {r: await self.store.requests.codes_for_mission(r) for r in spec.request_ids}
            up, go = self.commander.upload(spec, codes), self.commander.start(spec)
            rec_up = await self.commander.record(up, spec.mission_id)
            rec_go = await self.commander.record(go, spec.mission_id)
            await self.continue_dispatch(m, rec_up, rec_go)
        finally:
            m.uploaded.set()

    async def _later_slot(self, m: ActiveMission) -> MissionSpec | None:
        """The mission moved to the least later departure (at least one start lead from now, never
        before its own: a take-off held on the ground may still be early) whose
        shifted intent is clear of the others and whose arrival meets every carried deadline;
        None when there is none."""
        intent = m.spec.intent
        assert intent is not None
        deadlines = {r: (await self.store.requests.get(r)).deadline for r in m.spec.request_ids}
        slack = m.spec.slack_s({r: d for r, d in deadlines.items() if d is not None})
        limit = 1800.0 if slack is None else slack
        delay = max(
            0.0, (self.clock.now() + timedelta(seconds=self.start_lead_s) - m.spec.depart).total_seconds()
        )
        index = self.steering.intents.others(m.drone_id)
        alt = max(w[2] for w in m.spec.waypoints)
        p = self.deconfliction
        while delay <= limit:
            moved = shifted(intent, delay, alt, p.intents.half_band_m)
            found = index.conflicts(moved, first_volume=True)
            d = timedelta(seconds=delay)
            # The route was planned for its first departure: a temporary zone it passed before may
            # be in force at a later one.
            airspace, route = self.picture.airspace, m.spec.waypoints
            if not found and route_clear(airspace, route, m.spec.depart + d, m.spec.arrive + d):
                return m.spec.later(d, moved)
            jump = max((c.other.t1 - c.volume.t0 for c in found if c.other is not None), default=0.0)
            delay += max(p.delay_step_s, math.ceil(jump + 1e-3))
        return None

    def _conflicting(self, m: ActiveMission) -> bool:
        """Whether the mission's intent meets another in force."""
        assert m.spec.intent is not None
        return bool(self.steering.intents.others(m.drone_id).conflicts(m.spec.intent, first_only=True))

    async def _moved(
        self, m: ActiveMission, spec: MissionSpec, stored: Callable[[], Awaitable[CommandView]]
    ) -> CommandView | None:
        """Move ``m`` to ``spec``: reserved in the fleet picture before the store is awaited (so no
        other placement misses it), kept once ``stored()`` has written the start and the plan,
        given back if the store refuses. The start stored, or None."""
        before = m.spec
        m.spec = spec
        try:
            view = await stored()
        except Conflict:
            m.spec = before
            return None
        m.eta_end = spec.arrive
        return view

    async def _retimed(self, m: ActiveMission, go: CommandView) -> CommandView | None:
        """Move a mission whose start was never sent to a :meth:`_later_slot`; the stored plan and
        start follow (audited). None when there is no such slot."""
        spec = await self._later_slot(m)
        if spec is None:
            return None
        departed = m.spec.depart
        payload = msgspec.to_builtins(self.commander.start(spec, start_attempt(m.mission_id, go.cmd_id) or 0))
        view = await self._moved(
            m,
            spec,
            lambda: self.store.flights.retime_start(
                m.mission_id, go.cmd_id, plan=spec.to_plan(), payload=payload, actor=self.actor
            ),
        )
        if view is not None:
            moved_s = (spec.depart - departed).total_seconds()
            log.info("%s: start moved %.0f s later, clear of the others", m.mission_id, moved_s)
        return view

    async def _restarted(self, m: ActiveMission, refused: CommandView, reason: str) -> CommandView | None:
        """A new start for a mission whose drone refused its start for a missed take-off window,
        at a :meth:`_later_slot` (plan and start stored together, audited). None when there is no
        slot or the starts are used up."""
        attempt = (start_attempt(m.mission_id, refused.cmd_id) or 0) + 1
        spec = await self._later_slot(m) if attempt <= RETIMES else None
        if spec is None:
            return None
        start = self.commander.start(spec, attempt)
        view = await self._moved(
            m,
            spec,
            lambda: self.store.flights.replace_start(
                m.mission_id,
                refused.cmd_id,
                cmd_id=start.cmd_id,
                plan=spec.to_plan(),
                payload=msgspec.to_builtins(start),
                actor=self.actor,
            ),
        )
        if view is not None:
            log.info("%s: start refused (%s), new start %s", m.mission_id, reason, view.cmd_id)
        return view

    async def _send_start(self, m: ActiveMission, go: CommandView) -> Ack | None:
        """Send the start when it is due and return the drone's answer; None when the mission was
        given up meanwhile (aborted, or its drone unusable)."""
        m.start_sent = m.start_sent or go.sent_at is not None  # sent before a restart, maybe
        if go.sent_at is None and m.spec.intent is not None:
            # The start names the planned departure (the intent's time windows begin there) and
            # the latest take-off its intent allows. It is sent one start lead before, so that it
            # reaches the drone in time however slow the store and the broker are at that moment;
            # only a start still due may go: one already past its departure would spend its
            # window in transit, and the drone refuses one that arrives after it.
            for _ in range(RETIMES):
                wait = (m.spec.depart - self.clock.now()).total_seconds() - self.start_lead_s
                await self.clock.sleep(wait)
                held = self.ground_gate is not None and await self.ground_gate(m)
                if (held or m.give_way) and not m.aborting and self._conflicting(m):
                    # Held on the ground for a nonconforming flight, the airspace changed meanwhile
                    # (that drone's return home), or a drone in the air was given a route that
                    # could not keep clear of it (dispatch.service.resumes): a later slot, since
                    # its own is no longer clear.
                    retimed = await self._retimed(m, go)
                    if retimed is None:
                        await self.flights.abort(m, "no slot clear of the others after a hold")
                        return None
                    go = retimed
                    continue
                late = (self.clock.now() - m.spec.depart).total_seconds()
                if late <= 0:
                    break
                if m.aborting:
                    return None
                # Taking off now would fly outside the intent: a later slot clear of the others (the
                # same route), or its work is planned again.
                retimed = await self._retimed(m, go)
                if retimed is None:
                    await self.flights.abort(m, f"missed its departure slot by {late:.0f} s")
                    return None
                go = retimed
        first = go.sent_at is None
        m.start_sent = True
        while not m.aborting:
            # A start sent before (maybe received) is sent again as it was.
            decided = self.clock.now()
            ack = await self.commander.send_stored(go)
            if ack is not None:
                if first:  # a start answered only after re-sends measures the drone's link, not ours
                    self.start_latency.record((ack.ts - decided).total_seconds())
                return ack
            first = False
            if not self.picture.drones[m.drone_id].usable:
                return None
        return None

    async def continue_dispatch(self, m: ActiveMission, up: CommandView, go: CommandView) -> None:
        mid = m.mission_id
        if m.state == FlightState.PLANNED:
            # A flight recovered before its approval came is asked about again (nothing was sent).
            if not await self.approvals.cleared(m):
                return
            await self.store.flights.transition(mid, FlightState.COMMANDED, actor=self.actor)
            m.state = FlightState.COMMANDED
            self.flights.flown(m)
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
                if m.state != FlightState.COMMANDED:
                    return  # given up while its upload was on its way: no start follows it
                await self.store.flights.acknowledge(mid, actor=self.actor, cmd_id=up.cmd_id)
                m.state = FlightState.ACKED
            m.uploaded.set()
        if m.state == FlightState.ACKED and not m.aborting:
            while go.result != "ack":
                reason = (go.result_detail or "refused") if go.result == "nack" else None
                if reason is None:
                    sent = await self._send_start(m, go)
                    if sent is None:
                        return
                    if sent.accepted:
                        break
                    reason = sent.reason or "refused"
                # A drone refuses a start it could not take off by its window (take_off_by): a
                # later slot, clear of the others, with a new start; else its work is planned again.
                if reason.startswith(TAKE_OFF_WINDOW_PASSED) and m.spec.intent is not None and not m.aborting:
                    restarted = await self._restarted(m, go, reason)
                    if restarted is not None:
                        go = restarted
                        continue
                await self.flights.abort(m, f"start refused: {reason}")
                return
            await self.flights.flight_to(m, FlightState.FLYING)
