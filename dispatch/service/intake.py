"""Intake: decide at once whether a new request can be served, and give it an ETA.

Pure and synchronous (the dispatcher runs it off the event loop). The decision reuses the
planner's own pre-check (:func:`routing.feasibility.precheck`) on the request alone, so intake
and planning always agree on the reason codes: ``pickup_in_zone``, ``dropoff_in_zone``,
``overweight``, ``unreachable``, ``out_of_range``, ``deadline_infeasible``.

The ETA of an accepted request is a **best-single-drone estimate**: the earliest drop-off
arrival of any drone the pre-check allows, flying the request alone from where and when it is
available (its port and the end of its battery swap; drones busy on a mission from the end of
that mission). It is a lower bound: it ignores the work queued before it, which the planning
round that follows accounts for (the planned ETA is then stored with the flight's legs).

Before any of that, :func:`edge_problem` refuses what no pre-check should see (the API answers
it with a 422 before anything is filed, and intake rejects a stored request with it, so neither
raises on it): a pickup or drop-off outside the service area (``outside_service_area``: farther
than :data:`SERVICE_RADIUS_M` from the centre of the fleet's ports; the planner's metric frame
only covers 100 km), or a ready time or deadline out of range (``time_out_of_range``: see
:data:`REQUEST_HORIZON`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain
from airspace.zones import Zone
from dispatch.store.views import Place, RequestView
from fleet.description import Fleet
from routing.feasibility import precheck
from routing.prepared import prepare
from routing.problem import DroneState, PlanningProblem
from routing.requests import Request

DEFAULT_DEADLINE = timedelta(hours=6)
"""The deadline of a request filed without one: this long after it is ready."""

REQUEST_HORIZON = timedelta(days=3)
"""How far from the area's clock a request's times may lie: ``ready_at`` at most this far ahead,
``deadline`` at most this plus :data:`DEFAULT_DEADLINE` ahead (the default deadline of a request
ready at the horizon), and neither more than this far behind. Within it a past ``ready_at`` means
ready now and a past ``deadline`` is ``deadline_infeasible``, as before."""

SERVICE_RADIUS_M = 50_000.0
"""A pickup or drop-off farther than this from the centre of the fleet's ports is outside the
service area. Every point of a planning round then lies within 71 km (50 km times the square root
of 2) of the centre of their bounding box, inside the 100 km the planner's metric frame covers;
no drone of the sample fleet flies a quarter of it on one battery."""

OUTSIDE_SERVICE_AREA = "outside_service_area"
TIME_OUT_OF_RANGE = "time_out_of_range"


@dataclass(frozen=True, slots=True)
class EdgeProblem:
    """Why a request is refused before any pre-check: ``code`` (:data:`OUTSIDE_SERVICE_AREA` or
    :data:`TIME_OUT_OF_RANGE`), the ``field`` at fault, a message, and details for clients."""

    code: str
    field: str
    message: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)  # 'field' is an attribute here


@functools.lru_cache(maxsize=16)
def _frame(lon: float, lat: float) -> LocalFrame:
    return LocalFrame.centred_on(lon, lat)


@functools.lru_cache(maxsize=16)
def _centre(ports: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    frame = LocalFrame.for_points(ports)  # the middle of their bounding box
    return frame.lon0, frame.lat0


@dataclass(frozen=True, slots=True)
class ServiceArea:
    """The disc of :data:`SERVICE_RADIUS_M` around the centre of the fleet's ports."""

    lon: float
    lat: float
    radius_m: float = SERVICE_RADIUS_M

    @classmethod
    def of(cls, fleet: Fleet) -> ServiceArea:
        """The service area of ``fleet`` (the centre of the bounding box of its ports)."""
        return cls(*_centre(tuple((p.lon, p.lat) for p in fleet.ports)))

    def distance_m(self, lon: float, lat: float) -> float:
        """Metres from the centre (exact: the frame is azimuthal equidistant about it)."""
        return _frame(self.lon, self.lat).distance_m((self.lon, self.lat), (lon, lat))

    def contains(self, lon: float, lat: float) -> bool:
        """Whether (lon, lat) is in the area (the distance is NaN for no real point: outside)."""
        return self.distance_m(lon, lat) <= self.radius_m

    def reaches(self, bounds: tuple[float, float, float, float], *, reach_m: float = 0.0) -> bool:
        """Whether any part of the lon/lat box ``(west, south, east, north)``, widened by
        ``reach_m`` metres, comes into the area: its point nearest the centre (the centre itself
        when the box holds it) is within the radius plus ``reach_m``."""
        west, south, east, north = bounds
        nearest = (min(max(self.lon, west), east), min(max(self.lat, south), north))
        return self.distance_m(*nearest) <= self.radius_m + reach_m


def deadline_in_force(ready: datetime, deadline: datetime | None) -> datetime:
    """``deadline``, or :data:`DEFAULT_DEADLINE` after ``ready`` (at most the latest time there is)."""
    if deadline is not None:
        return deadline
    try:
        return ready + DEFAULT_DEADLINE
    except OverflowError:  # a ready time in year 9999: edge_problem refuses it
        return datetime.max.replace(tzinfo=ready.tzinfo or UTC)


def place_problem(area: ServiceArea, name: str, lon: float, lat: float) -> EdgeProblem | None:
    """:data:`OUTSIDE_SERVICE_AREA` for a place (the field ``name``) outside ``area``, or None."""
    if area.contains(lon, lat):
        return None
    km = area.distance_m(lon, lat) / 1000
    return EdgeProblem(
        OUTSIDE_SERVICE_AREA,
        name,
        f"{name} ({lon}, {lat}) is {km:.0f} km from the centre of the service area "
        f"({area.lon:.4f}, {area.lat:.4f}); it serves {area.radius_m / 1000:g} km around it",
        {"field": name, "lon": lon, "lat": lat, "centre": [area.lon, area.lat], "radius_m": area.radius_m},
    )


def edge_problem(area: ServiceArea, request: Request, now: datetime) -> EdgeProblem | None:
    """What refuses ``request`` (its times in force) before any pre-check, or None.

    One check for the API (on what is filed or quoted) and for intake (on what is stored, so a
    request filed past the API is rejected with the reason, never raises): the places against
    ``area``, then ``ready_at`` and ``deadline`` against :data:`REQUEST_HORIZON` around ``now``.
    """
    for name, (lon, lat) in (("pickup", request.pickup), ("dropoff", request.dropoff)):
        if (outside := place_problem(area, name, lon, lat)) is not None:
            return outside
    return time_problem("ready_at", request.ready_at, now, REQUEST_HORIZON, REQUEST_HORIZON) or time_problem(
        "deadline", request.deadline, now, REQUEST_HORIZON, REQUEST_HORIZON + DEFAULT_DEADLINE
    )


def time_problem(
    name: str, value: datetime, now: datetime, behind: timedelta, ahead: timedelta
) -> EdgeProblem | None:
    """:data:`TIME_OUT_OF_RANGE` for a time (the field ``name``) more than ``behind`` before
    ``now`` or ``ahead`` after it, or None (comparing aware times never overflows; converting may)."""
    earliest, latest = now - behind, now + ahead
    if earliest <= value <= latest:
        return None
    return EdgeProblem(
        TIME_OUT_OF_RANGE,
        name,
        f"{name} {value.isoformat()} is out of range: from {earliest.isoformat()} to {latest.isoformat()}"
        f" (the area's clock {_span(behind)} back, {_span(ahead)} ahead)",
        {
            "field": name,
            "value": value.isoformat(),
            "earliest": earliest.isoformat(),
            "latest": latest.isoformat(),
        },
    )


def _span(span: timedelta) -> str:
    days, hours = divmod(span.total_seconds() / 3600, 24)
    return " ".join(part for part in (f"{days:g} d" if days else "", f"{hours:g} h" if hours else "") if part)


@dataclass(frozen=True, slots=True)
class Assessment:
    """Intake's verdict: accepted with an ETA (and the drone of the estimate), or a reason code."""

    request_id: str
    accepted: bool
    reason: str | None = None
    detail: str = ""
    eta: datetime | None = None
    drone_id: str | None = None


def routing_request(
    request_id: str,
    pickup: Place,
    dropoff: Place,
    weight_kg: float,
    priority: str,
    ready_at: datetime | None,
    deadline: datetime | None,
    *,
    ready_default: datetime,
) -> Request:
    """The planner's view of a request as filed: without ``ready_at`` ready at ``ready_default``,
    without ``deadline`` due by :func:`deadline_in_force`."""
    ready = ready_at or ready_default
    return Request(
        id=request_id,
        pickup=(pickup.lon, pickup.lat),
        dropoff=(dropoff.lon, dropoff.lat),
        weight_kg=weight_kg,
        priority=priority,
        ready_at=ready,
        deadline=deadline_in_force(ready, deadline),
    )


def to_routing_request(view: RequestView, now: datetime) -> Request:
    """The planner's view of a stored request (no ready time: ready now; no deadline: the default)."""
    return routing_request(
        view.id,
        view.pickup,
        view.dropoff,
        view.weight_kg,
        view.priority,
        view.ready_at,
        view.deadline,
        ready_default=min(view.created_at, now),
    )


def assess(
    zones: Sequence[Zone],
    fleet: Fleet,
    request: Request,
    now: datetime,
    drone_states: Sequence[DroneState] = (),
) -> Assessment:
    """Pre-check ``request`` alone against the fleet at ``now``; accept with an ETA or give the reason."""
    return assess_many(zones, fleet, (request,), now, drone_states)[0]


def assess_many(
    zones: Sequence[Zone],
    fleet: Fleet,
    requests: Sequence[Request],
    now: datetime,
    drone_states: Sequence[DroneState] = (),
    terrain: AreaTerrain | None = None,
) -> list[Assessment]:
    """:func:`assess` each request on its own, sharing one preparation of the airspace and the
    fleet (the costly part), so a burst of filings is decided at the cost of about one. A request
    with an :func:`edge_problem` is refused with it and kept out of the preparation."""
    area = ServiceArea.of(fleet)
    refused: dict[str, Assessment] = {}
    for request in requests:
        edge = edge_problem(area, request, now)
        if edge is not None:
            refused[request.id] = Assessment(request.id, False, edge.code, edge.message)
    kept = tuple(r for r in requests if r.id not in refused)
    if not kept:
        return [refused[r.id] for r in requests]
    problem = PlanningProblem(tuple(zones), fleet, kept, now, tuple(drone_states), terrain=terrain)
    prep = prepare(problem)
    out = []
    for request in requests:
        if request.id in refused:
            out.append(refused[request.id])
            continue
        verdict = precheck(prep, request)
        if verdict.candidate is None:
            assert verdict.reason is not None
            out.append(Assessment(request.id, False, verdict.reason.value, verdict.detail))
            continue
        cand = verdict.candidate
        pu, do = prep.pickup_site[request.id], prep.dropoff_site[request.id]
        best: tuple[float, str] | None = None
        for v in cand.vehicles:
            start = prep.starts[v]
            net = prep.networks[start.model.name]
            service_start = max(start.available_s + net.flight_s(start.site, pu), cand.pickup_window[0])
            arrival = max(
                service_start + start.model.service_s + net.flight_s(pu, do), cand.dropoff_window[0]
            )
            if best is None or arrival < best[0]:
                best = (arrival, start.drone.id)
        assert best is not None
        out.append(Assessment(request.id, True, eta=prep.time(best[0]), drone_id=best[1]))
    return out
