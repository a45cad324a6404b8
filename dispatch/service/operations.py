"""Operations on a running :class:`~dispatch.service.dispatcher.Dispatcher` for front ends (the HTTP API).

Everything here uses the dispatcher's public attributes (``store``, ``link``, ``clock``, ``fleet``,
``zones``, ``drones``, ``missions``, ``pool``, ``stats``, ``add_zone``, ``reload_zones``, ``submit``,
``wake``, ``cancel_on_flight``) and the store; nothing here changes how the dispatcher plans or
commands.

* :func:`cancel_request`: an office withdraws a request whose document is not picked up yet.
* :func:`quote`: a what-if intake verdict (feasibility, ETA, reason) that files nothing.
* :func:`deactivate_zone`: a zone is lifted; the dispatcher reloads its airspace.
* :func:`fleet_snapshot`: every drone's live state (the dispatcher's view + latest telemetry).
* :func:`delivery_counts`: deliveries, and those on time by the deadline intake holds them to.

The live feed the API streams is :mod:`dispatch.service.live_feed`; the store queries are the
repositories' (:class:`~dispatch.store.Store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatch.lifecycle import RequestState
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.drone_service import port_now
from dispatch.service.intake import Assessment, deadline_in_force, routing_request
from dispatch.service.state import DroneView
from dispatch.store import Conflict, Place, RequestView, Store, ZoneView

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
                    request_id,
                    view.state,
                    "not_steered",
                    f"request {request_id}: its drone could not be re-routed without it, so it stays on"
                    " the mission (the audit log says why); try again or ask an operator",
                )
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
    verdicts = await dispatcher.pool.assess(
        dispatcher.zones, fleet, [request], now, states, terrain=dispatcher.picture.terrain
    )
    return verdicts[0]


def quote_hold(dispatcher: Dispatcher, verdict: Assessment, pickup: Place, dropoff: Place) -> str | None:
    """Why the quoted flight could not take off now for the weather (``weather_hold: ...``), or
    None: judged for the quote's drone over its flight, from now to the quoted drop-off."""
    if not verdict.accepted or verdict.eta is None or verdict.drone_id is None:
        return None
    model = dispatcher.picture.model(verdict.drone_id)
    places = [(pickup.lon, pickup.lat), (dropoff.lon, dropoff.lat)]
    now = dispatcher.clock.now()
    return dispatcher.weather.hold(model.weather, places, now, max(now, verdict.eta))


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


# --- counts for the metrics ----------------------------------------------------------------------


async def delivery_counts(store: Store) -> tuple[int, int]:
    """(delivered, delivered by their deadline in force: the one filed, or the default after the
    request was ready)."""
    delivered = await store.requests.delivered()
    on_time = sum(1 for d in delivered if d.delivered_at <= deadline_in_force(d.ready_at, d.deadline))
    return len(delivered), on_time
