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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from airspace.zones import Zone
from dispatch.store.views import RequestView
from fleet.description import Fleet
from routing.feasibility import precheck
from routing.prepared import prepare
from routing.problem import DroneState, PlanningProblem
from routing.requests import Request

DEFAULT_DEADLINE = timedelta(hours=6)
"""The deadline of a request filed without one: this long after it is ready."""


@dataclass(frozen=True, slots=True)
class Assessment:
    """Intake's verdict: accepted with an ETA (and the drone of the estimate), or a reason code."""

    request_id: str
    accepted: bool
    reason: str | None = None
    detail: str = ""
    eta: datetime | None = None
    drone_id: str | None = None


def to_routing_request(view: RequestView, now: datetime) -> Request:
    """The planner's view of a stored request (no ready time: ready now; no deadline: the default)."""
    ready = view.ready_at or min(view.created_at, now)
    deadline = view.deadline or ready + DEFAULT_DEADLINE
    return Request(
        id=view.id,
        pickup=(view.pickup.lon, view.pickup.lat),
        dropoff=(view.dropoff.lon, view.dropoff.lat),
        weight_kg=view.weight_kg,
        priority=view.priority,
        ready_at=ready,
        deadline=deadline,
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
) -> list[Assessment]:
    """:func:`assess` each request on its own, sharing one preparation of the airspace and the
    fleet (the costly part), so a burst of filings is decided at the cost of about one."""
    if not requests:
        return []
    problem = PlanningProblem(tuple(zones), fleet, tuple(requests), now, tuple(drone_states))
    prep = prepare(problem)
    out = []
    for request in requests:
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
