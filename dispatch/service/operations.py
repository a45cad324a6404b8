"""Operations on a running :class:`~dispatch.service.dispatcher.Dispatcher` for front ends (the HTTP API).

Everything here uses the dispatcher's public attributes (``store``, ``link``, ``clock``, ``fleet``,
``zones``, ``drones``, ``missions``, ``pool``, ``stats``, ``add_zone``, ``reload_zones``, ``submit``,
``wake``, ``cancel_on_flight``) and the store; nothing here changes how the dispatcher plans or
commands.

* :func:`cancel_request`: an office withdraws a request whose document is not picked up yet.
* :func:`quote`: a what-if intake verdict (feasibility, ETA, reason) that files nothing.
* :func:`deactivate_zone`: a zone is lifted; the dispatcher reloads its airspace.
* :func:`fleet_snapshot`: every drone's live state (the dispatcher's view + latest telemetry).
* :func:`list_requests`, :func:`recent_flights`, :func:`request_counts`, :func:`delivery_counts`: store
  queries the repositories do not offer.
* :class:`LiveFeed`: one subscription to the fleet link and one reader of the audit chain, fanned
  out to any number of listeners (server-sent events), plus a bounded flown track per mission.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import func, select

from dispatch.lifecycle import RequestState
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.drone_service import port_now
from dispatch.service.intake import Assessment, deadline_in_force, routing_request
from dispatch.service.state import DroneView
from dispatch.store import Conflict, InvalidInput, NotFound, Place, RequestView, Store, ZoneView
from dispatch.store.models import AuditEntryRow, FlightRow, Pad, RequestRow
from dispatch.store.requests import request_view
from dispatch.store.views import FlightView
from fleet.link import LinkStatus
from fleet.messages import Ack, State, Telemetry

log = logging.getLogger(__name__)

CANCELLABLE = (RequestState.SUBMITTED.value, RequestState.ACCEPTED.value)
ON_FLIGHT = (RequestState.PLANNED.value, RequestState.DISPATCHED.value)


class NotCancellable(Conflict):
    """The request cannot be cancelled in its state. ``code`` says why (stable, for API clients)."""

    def __init__(self, request_id: str, state: str, code: str, message: str, **details: Any) -> None:
        self.code = code
        self.details = {"request_id": request_id, "state": state, **details}
        super().__init__(message)


class CancelPending(Exception):
    """The drone has not yet confirmed the route without the request; the cancel goes on, and the
    request becomes ``cancelled`` when it does. ``view`` is the request as it is now."""

    def __init__(self, view: RequestView) -> None:
        self.view = view
        super().__init__(f"request {view.id}: the drone is being re-routed without it")


async def cancel_request(
    dispatcher: Dispatcher,
    request_id: str,
    *,
    actor: str,
    reason: str = "cancelled by the office",
    wait_s: float = 30.0,
) -> RequestView:
    """Cancel a request whose document is not picked up yet.

    ``submitted`` or ``accepted``: cancelled at once. ``planned`` or ``dispatched``: the drone's
    mission is re-routed without its stops first (:meth:`Dispatcher.cancel_on_flight`); if the
    drone has not confirmed within ``wait_s``, :class:`CancelPending`. Raises
    :class:`NotCancellable` with a stable code: ``too_late`` (picked up, or in a final state),
    ``not_steered`` (the drone took no route without it; it stays on the mission).
    """
    store = dispatcher.store
    for _attempt in range(3):
        view = await store.requests.get(request_id)
        if view.state == RequestState.CANCELLED:
            return view
        if view.state in ON_FLIGHT:
            outcome = await dispatcher.cancel_on_flight(request_id, actor=actor, reason=reason, wait_s=wait_s)
            if outcome == "cancelled":
                dispatcher.wake()
                return await store.requests.get(request_id)
            if outcome == "pending":
                raise CancelPending(await store.requests.get(request_id))
            if outcome == "not_steered":
                raise NotCancellable(
                    request_id, view.state, "not_steered",
                    f"request {request_id}: its drone could not be re-routed without it, so it stays on"
                    " the mission (the audit log says why); try again or ask an operator",
                )  # fmt: skip
            if outcome == "picked_up":
                break
            continue  # not on a flight any more: look again
        if view.state not in CANCELLABLE:
            break
        try:
            done = await store.requests.transition(
                request_id,
                RequestState.CANCELLED,
                actor=actor,
                details={"reason": reason},
                expected_state=view.state,
            )
        except Conflict:
            continue  # the dispatcher moved it meanwhile (planned it): look again
        dispatcher.wake()
        return done
    now = await store.requests.get(request_id)
    raise NotCancellable(
        request_id,
        now.state,
        "too_late",
        f"request {request_id} is {now.state}: only a request whose document is not picked up yet can"
        " be cancelled",
    )


async def quote(
    dispatcher: Dispatcher,
    pickup: Place,
    dropoff: Place,
    weight_kg: float,
    *,
    priority: str = "normal",
    ready_at: datetime | None = None,
    deadline: datetime | None = None,
) -> Assessment:
    """What intake would answer for this request now, without filing anything.

    The same pre-check as :meth:`Dispatcher.submit` (in the dispatcher's intake worker process,
    so the event loop never blocks), with each drone counted from when it is next free
    (:meth:`~dispatch.service.fleet_picture.FleetPicture.planning_states`: as a planning round
    counts it, battery included): accepted with the earliest drop-off of any drone flying it alone,
    or the reason. (Intake counts every drone free now: its ETA is a lower bound.)
    """
    now = dispatcher.clock.now()
    request = routing_request(
        "quote", pickup, dropoff, weight_kg, priority, ready_at, deadline, ready_default=now
    )
    fleet = dispatcher.picture.planning_fleet()  # the fleet intake judges against
    states = dispatcher.picture.planning_states(fleet)
    verdicts = await dispatcher.pool.assess(dispatcher.zones, fleet, [request], now, states)
    return verdicts[0]


async def reload_zones(dispatcher: Dispatcher) -> list[str]:
    """Make the dispatcher read the zones from the store now (not at its next tick)."""
    return list(await dispatcher.reload_zones())


async def deactivate_zone(
    dispatcher: Dispatcher, zone_id: str, *, actor: str, reason: str | None = None
) -> ZoneView:
    """Deactivate a zone (kept for the record) and reload the dispatcher's airspace."""
    view = await dispatcher.store.zones.deactivate(zone_id, actor=actor, reason=reason)
    await reload_zones(dispatcher)
    dispatcher.wake()
    return view


# --- the live fleet ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DroneSnapshot:
    """One drone as the dispatcher sees it right now."""

    id: str
    model: str
    home_port: str
    port: str | None
    online: bool
    usable: bool
    why_unusable: str
    in_service: bool  # False: an operator took it out of service (``why_unusable`` says why)
    returning: bool
    mission_id: str | None
    onboard: tuple[str, ...]
    state: str | None
    lon: float | None
    lat: float | None
    alt_m: float | None
    battery_pct: float | None
    ground_speed_mps: float | None
    heading_deg: float | None
    telemetry_at: datetime | None
    planned_path: tuple[tuple[float, ...], ...]  # the waypoints still ahead of the drone


def fleet_snapshot(dispatcher: Dispatcher) -> list[DroneSnapshot]:
    """Every drone: the dispatcher's in-memory view and the link's latest telemetry (no I/O)."""
    if dispatcher.fleet is None:
        return []
    now = dispatcher.clock.now()
    out = []
    for d in dispatcher.fleet.drones:
        view = dispatcher.drones.get(d.id)
        status = dispatcher.link.registry.get(d.id)
        tele = status.telemetry if status is not None else None
        mission = dispatcher.missions.get(view.mission) if view is not None and view.mission else None
        path: tuple[tuple[float, ...], ...] = ()
        if mission is not None:
            path = tuple(tuple(float(c) for c in w) for w in mission.waypoints[max(0, mission.reached_at) :])
        out.append(
            DroneSnapshot(
                id=d.id,
                model=d.model,
                home_port=d.port,
                port=port_now(dispatcher, d.id),
                online=dispatcher.link.registry.is_online(d.id, now),
                usable=view is not None and view.usable and view.out_of_service is None,
                why_unusable=_why_unusable(view),
                in_service=view is not None and view.out_of_service is None,
                returning=view.returning if view is not None else False,
                mission_id=view.mission if view is not None else None,
                onboard=tuple(sorted(view.onboard)) if view is not None else (),
                state=str(tele.state) if tele is not None else None,
                lon=tele.lon if tele is not None else None,
                lat=tele.lat if tele is not None else None,
                alt_m=tele.alt_m if tele is not None else None,
                battery_pct=tele.battery_pct if tele is not None else None,
                ground_speed_mps=tele.ground_speed_mps if tele is not None else None,
                heading_deg=tele.heading_deg if tele is not None else None,
                telemetry_at=tele.ts if tele is not None else None,
                planned_path=path,
            )
        )
    return out


def _why_unusable(view: DroneView | None) -> str:
    if view is None:
        return "not in the dispatcher's fleet"
    if view.out_of_service is not None:
        return f"taken out of service: {view.out_of_service}"
    return view.why_unusable


# --- store queries the repositories do not offer -------------------------------------------------


async def recent_flights(store: Store, limit: int = 50) -> list[FlightView]:
    """Active flights and the most recently finished ones (newest first), at most ``limit`` in all."""
    async with store.db.read() as session:
        ids = list(
            await session.scalars(
                select(FlightRow.mission_id)
                .order_by(FlightRow.updated_at.desc(), FlightRow.mission_id)
                .limit(limit)
            )
        )
    flights = []
    for mission_id in ids:
        with contextlib.suppress(NotFound):
            flights.append(await store.flights.get(mission_id))
    return flights


async def list_requests(
    store: Store,
    *,
    office_id: str | None = None,
    states: Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RequestView], bool]:
    """A page of requests oldest first (created, id) and whether more follow; ``offset`` is unbounded
    (the repository pages by cursor, clients of the API by offset)."""
    known = {s.value for s in RequestState}
    unknown = [s for s in states or () if s not in known]
    if unknown:
        raise InvalidInput(
            f"unknown request state(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    query = select(RequestRow)
    if office_id is not None:
        query = query.where(RequestRow.office_id == office_id)
    if states is not None:
        query = query.where(RequestRow.state.in_(list(states)))
    query = query.order_by(RequestRow.created_at, RequestRow.id).offset(offset).limit(limit + 1)
    async with store.db.read() as session:
        rows = list(await session.scalars(query))
    return [request_view(r) for r in rows[:limit]], len(rows) > limit


async def request_counts(store: Store) -> dict[str, int]:
    """How many requests are in each state (every state listed, zero included)."""
    async with store.db.read() as session:
        rows = (
            await session.execute(select(RequestRow.state, func.count()).group_by(RequestRow.state))
        ).all()
    counts = {s.value: 0 for s in RequestState}
    counts.update({state: int(n) for state, n in rows})
    return counts


async def delivery_counts(store: Store) -> tuple[int, int]:
    """(delivered, delivered by their deadline in force: the one filed, or the default after the
    request was ready): a delivered request changes no more, so its ``updated_at`` is the moment
    of the hand-over."""
    async with store.db.read() as session:
        rows = (
            await session.execute(
                select(
                    RequestRow.updated_at, RequestRow.ready_at, RequestRow.created_at, RequestRow.deadline
                ).where(RequestRow.state == RequestState.DELIVERED.value)
            )
        ).all()
    on_time = sum(
        1 for at, ready, created, deadline in rows if at <= deadline_in_force(ready or created, deadline)
    )
    return len(rows), on_time


async def pad_names(store: Store) -> dict[str, str]:
    """Every pad's display name by id."""
    async with store.db.read() as session:
        return {r.id: r.name for r in await session.scalars(select(Pad).order_by(Pad.id))}


async def create_office(store: Store, office_id: str, name: str, pad_id: str, *, actor: str) -> None:
    """Add (or rename, or move to another pad) an office through the directory's audited seed."""
    fleet = await store.directory.fleet()
    place = await store.directory.pad(pad_id)
    names = await pad_names(store)
    await store.directory.seed(
        fleet, {pad_id: (names[pad_id], place)}, {office_id: (name, pad_id)}, actor=actor
    )


async def create_pad(store: Store, pad_id: str, name: str, lon: float, lat: float, *, actor: str) -> None:
    """Add (or move) a pad through the directory's audited seed (no office is created for it)."""
    fleet = await store.directory.fleet()
    await store.directory.seed(fleet, {pad_id: (name, Place(lon, lat, pad_id))}, {}, actor=actor)


# --- live feed -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One message for stream listeners: ``kind`` is ``telemetry``, ``event`` or ``request``."""

    kind: str
    data: dict[str, Any]
    request_id: str | None = None  # set on request messages, for per-request listeners

    def json(self) -> str:
        """The data as compact JSON."""
        return json.dumps(self.data, separators=(",", ":"), default=str)


END = FeedMessage("end", {})
"""The last message a listener gets when the feed closes."""


class Listener:
    """One consumer's bounded queue; when it falls behind, the oldest messages are dropped."""

    def __init__(self, feed: LiveFeed, maxsize: int, request_id: str | None) -> None:
        self._feed = feed
        self.queue: asyncio.Queue[FeedMessage] = asyncio.Queue(maxsize)
        self.request_id = request_id
        self.dropped = 0

    def offer(self, message: FeedMessage) -> None:
        """Queue a message (dropping the oldest if full)."""
        if self.request_id is not None and message.request_id != self.request_id:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    def end(self) -> None:
        """Queue :data:`END` (dropping the oldest message if full) and stop receiving."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(END)
        self.close()

    def close(self) -> None:
        """Stop receiving."""
        self._feed._listeners.discard(self)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(slots=True)
class _Track:
    points: deque[tuple[datetime, float, float, float]] = field(default_factory=lambda: deque(maxlen=5000))


class LiveFeed:
    """Fans the fleet link and the audit chain out to stream listeners; keeps flown tracks.

    * Telemetry: every drone's samples, throttled to ``telemetry_hz`` per drone (wall time).
    * Events: the drones' events (took off, picked up, delivered, landed, faults...) and the link
      going up or down, as they arrive.
    * Request changes: every request entry appended to the audit chain (filed, each transition),
      read from the store every ``poll_s`` seconds (and at once after :meth:`nudge`), so changes
      made by any process, the dispatcher included, reach the listeners in commit order.
    * Tracks: the positions each mission's drone reported, at most ``track_points`` per mission
      for the ``track_missions`` most recent missions, in memory (lost on restart).
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        telemetry_hz: float = 2.0,
        poll_s: float = 0.25,
        track_missions: int = 500,
        track_points: int = 5000,
    ) -> None:
        self.dispatcher = dispatcher
        self.min_interval_s = 1.0 / telemetry_hz
        self.poll_s = poll_s
        self.track_missions = track_missions
        self.track_points = track_points
        self._listeners: set[Listener] = set()
        self._last_sent: dict[str, float] = {}
        self._tracks: OrderedDict[str, deque[tuple[datetime, float, float, float]]] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._poke = asyncio.Event()
        self._last_seq = 0
        self._rate: deque[tuple[float, int]] = deque(maxlen=200)
        self.ready = asyncio.Event()
        self.closing = False

    async def start(self) -> None:
        """Subscribe to the link and start reading the audit chain from its current end."""
        async with self.dispatcher.store.db.read() as session:
            self._last_seq = int((await session.scalar(select(func.max(AuditEntryRow.seq)))) or 0)
        sub = self.dispatcher.link.subscribe(maxsize=50_000, telemetry=True)
        self._tasks = [
            asyncio.create_task(self._link_loop(sub), name="feed-link"),
            asyncio.create_task(self._audit_loop(), name="feed-audit"),
        ]
        self.ready.set()

    async def stop(self) -> None:
        """Stop both loops."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def listen(self, *, request_id: str | None = None, maxsize: int = 1000) -> Listener:
        """A new listener (all messages, or only ``request`` messages of one request)."""
        listener = Listener(self, maxsize, request_id)
        if self.closing:
            listener.queue.put_nowait(END)
        else:
            self._listeners.add(listener)
        return listener

    def close_listeners(self) -> None:
        """End every listener (each gets :data:`END`): the server is shutting down."""
        self.closing = True
        for listener in list(self._listeners):
            listener.end()

    def nudge(self) -> None:
        """Read the audit chain now (after a change this process made)."""
        self._poke.set()

    def _publish(self, message: FeedMessage) -> None:
        for listener in list(self._listeners):
            listener.offer(message)

    # --- tracks ---

    def track(self, mission_id: str) -> list[tuple[datetime, float, float, float]]:
        """The positions (time, lon, lat, alt) reported while flying a mission, oldest first."""
        return list(self._tracks.get(mission_id, ()))

    def _record(self, t: Telemetry) -> None:
        if t.mission_id is None:
            return
        track = self._tracks.get(t.mission_id)
        if track is None:
            track = self._tracks[t.mission_id] = deque(maxlen=self.track_points)
            while len(self._tracks) > self.track_missions:
                self._tracks.popitem(last=False)
        track.append((t.ts, t.lon, t.lat, t.alt_m))

    # --- telemetry rate ---

    def telemetry_rate(self) -> float:
        """Telemetry messages per second received by the link over about the last 10 s."""
        self._sample_rate()
        (t0, n0), (t1, n1) = self._rate[0], self._rate[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def _sample_rate(self) -> None:
        now = time.monotonic()
        self._rate.append((now, self.dispatcher.link.stats.telemetry))
        while len(self._rate) > 2 and now - self._rate[0][0] > 10.0:
            self._rate.popleft()

    # --- loops ---

    async def _link_loop(self, sub: Any) -> None:
        with sub:
            async for update in sub:
                try:
                    self._on_update(update)
                except Exception:
                    log.exception("live feed: handling %s failed", type(update).__name__)

    def _on_update(self, u: object) -> None:
        if isinstance(u, Telemetry):
            self._record(u)
            now = time.monotonic()
            if now - self._last_sent.get(u.drone_id, -1e9) < self.min_interval_s:
                return
            self._last_sent[u.drone_id] = now
            self._publish(FeedMessage("telemetry", msgspec.to_builtins(u)))
        elif isinstance(u, LinkStatus):
            self._publish(FeedMessage("event", {"event": "link", "status": u.status, "detail": u.detail}))
        elif isinstance(u, State):
            self._publish(FeedMessage("event", {"event": "state", **msgspec.to_builtins(u)}))
        elif isinstance(u, Ack):
            return
        elif isinstance(u, msgspec.Struct):
            data = msgspec.to_builtins(u)
            data.pop("code", None)  # never stream a code, should an event ever carry one
            self._publish(FeedMessage("event", data))

    async def _audit_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.poll_s)
            self._poke.clear()
            self._sample_rate()
            try:
                await self._read_audit()
            except Exception:
                log.exception("live feed: reading the audit chain failed")

    async def _read_audit(self) -> None:
        async with self.dispatcher.store.db.read() as session:
            rows = list(
                await session.scalars(
                    select(AuditEntryRow)
                    .where(AuditEntryRow.seq > self._last_seq)
                    .order_by(AuditEntryRow.seq)
                    .limit(1000)
                )
            )
        for row in rows:
            self._last_seq = row.seq
            for message in _audit_messages(row):
                self._publish(message)
        if len(rows) == 1000:
            self._poke.set()


def _audit_messages(row: AuditEntryRow) -> Iterator[FeedMessage]:
    try:
        payload = json.loads(row.payload)
    except json.JSONDecodeError:
        return
    at = row.at.isoformat()
    if row.entity == "request" and row.action == "submitted":
        yield FeedMessage(
            "request",
            {
                "id": row.entity_id,
                "state": "submitted",
                "from": None,
                "reason": None,
                "at": at,
                "seq": row.seq,
                "office_id": payload.get("office_id"),
            },
            request_id=row.entity_id,
        )
    elif row.entity == "request" and row.action == "transition":
        details = payload.get("details") or {}
        yield FeedMessage(
            "request",
            {
                "id": row.entity_id,
                "state": payload.get("to"),
                "from": payload.get("from"),
                "reason": details.get("reason"),
                "details": details,
                "at": at,
                "seq": row.seq,
            },
            request_id=row.entity_id,
        )
    elif row.entity == "request":
        yield FeedMessage(
            "request",
            {"id": row.entity_id, "note": row.action, "details": payload, "at": at, "seq": row.seq},
            request_id=row.entity_id,
        )
    elif row.entity in ("flight", "zone", "drone"):
        yield FeedMessage(
            "event",
            {
                "event": f"{row.entity}_{row.action}",
                "id": row.entity_id,
                "details": payload,
                "at": at,
                "seq": row.seq,
            },
        )
