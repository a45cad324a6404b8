"""Trips the battery can fly: the engine's routes with requests taken out of a trip that needs
more energy than its drone may use.

The engine's energy per arc counts only the documents that could be aboard on it, and leaves out
one whose whole flight from its pickup over that arc to its drop-off and home could not fit in the
battery (:func:`routing.mapping.aboard_bound`: counting it would price that long arc out of every
route, also the ones that do not carry it). So a route that does carry it there is priced below
its real energy, and now and then the engine chooses one (measured: on 2 of 5 seeds of a
500-request city round, a trip needing 755 Wh on a 600 Wh budget). Such a trip is caught here,
before it is timed against the others' intents, rather than by the validator after the whole
round: the request carrying the most weight over the most metres on it is taken out (normal
requests before urgent ones) until the trip fits, and reported ``no_capacity``. Pure: no I/O.
"""

from __future__ import annotations

from datetime import timedelta

from routing.feasibility import Candidate
from routing.mapping import DROPOFF_NODE, PICKUP_NODE, RELOAD_NODE, NodeInfo
from routing.prepared import Prepared
from routing.problem import DROPOFF, PICKUP, DronePlan, Trip
from routing.schedule import realise


def without(route: list[NodeInfo], removed: set[str], keep: str = "later") -> list[NodeInfo]:
    """``route`` without the visits of the requests ``removed``; empty when it then visits no
    request at all (port visits alone would fly the drone to another port for nothing, and such a
    trip, with no request to leave out, is one deconfliction could not drop: the validator could
    then repair nothing, and the whole round would fail).

    Where taking requests out leaves two port visits in a row, ``keep`` says which stays: the
    ``"later"`` (the next trip starts where the engine had it), the ``"earlier"`` (the trip before
    ends where the engine had it) or ``"both"`` (the drone flies from one port to the other with
    nothing on board; both trips around it as the engine had them)."""
    kept = [s for s in route if s.kind not in (PICKUP_NODE, DROPOFF_NODE) or s.ref not in removed]
    if not any(s.kind in (PICKUP_NODE, DROPOFF_NODE) for s in kept):
        return []
    if keep == "both":
        return [s for k, s in enumerate(kept) if not (k and s == kept[k - 1] and s.kind == RELOAD_NODE)]
    step = 1 if keep == "later" else -1
    return [
        s
        for k, s in enumerate(kept)
        if not (s.kind == RELOAD_NODE and 0 <= k + step < len(kept) and kept[k + step].kind == RELOAD_NODE)
    ]


def without_fitting(
    prep: Prepared, v: int, route: list[NodeInfo], removed: set[str], candidates: dict[str, Candidate]
) -> list[NodeInfo]:
    """:func:`without` keeping, of two port visits left in a row, the later if drone ``v``'s
    battery can fly every trip then, else the earlier, else both (the engine checked the trips
    around them with their own ports; a port moved may take a trip past the battery: measured, a
    single delivery's trip of 631 Wh on a 600 Wh budget)."""
    later, earlier, both = (without(route, removed, keep) for keep in ("later", "earlier", "both"))
    if later == both:
        return later  # no two port visits left in a row
    for candidate in (later, earlier, both):
        if over_budget(prep, v, realise(prep, v, candidate, candidates).plan) is None:
            return candidate
    return later


def within_battery(
    prep: Prepared, stops: list[list[NodeInfo]], candidates: dict[str, Candidate]
) -> tuple[list[list[NodeInfo]], dict[str, str]]:
    """``stops`` (per drone, in order) with requests taken out of every trip that needs more
    energy than its drone may use (see the module docstring); and why, per request taken out.
    Documents already on board are never taken out."""
    onboard = {r for s in prep.starts for r in s.onboard}
    out: dict[str, str] = {}
    routes = []
    for v, route in enumerate(stops):
        while route:
            done = realise(prep, v, route, candidates)
            over = over_budget(prep, v, done.plan)
            if over is None:
                break
            trip, budget = over
            carried = {r: c for r, c in _carried(prep, trip).items() if r not in onboard}
            if not carried:
                break  # nothing to take out: the validator will name the trip
            rid = max(carried, key=lambda r: (not prep.requests[r].urgent, carried[r], r))
            out[rid] = f"its trip would need {trip.energy_wh:.0f} Wh; the drone may use {budget:.0f} Wh"
            route = without(route, {rid})
        routes.append(route)
    return routes, out


def over_budget(prep: Prepared, v: int, plan: DronePlan | None) -> tuple[Trip, float] | None:
    """The first trip of ``plan`` that needs more energy than drone ``v`` may use on it, with that
    budget: the usable battery, or on a first trip that leaves before a swap, what is left above
    the reserve."""
    if plan is None:
        return None
    start = prep.starts[v]
    model = start.model
    for k, trip in enumerate(plan.trips):
        budget = model.usable_wh
        if k == 0 and trip.legs:
            swapped = prep.t0 + timedelta(seconds=start.available_s + model.turnaround_s)
            if start.port is None or trip.legs[0].depart < swapped:
                budget = start.energy_wh - model.battery_wh * model.reserve_fraction
        if trip.energy_wh > budget + 1e-6:
            return trip, budget
    return None


def _carried(prep: Prepared, trip: Trip) -> dict[str, float]:
    """Per request picked up or delivered on ``trip``: kilogram-metres it is carried on it."""
    aboard: set[str] = set()
    carried: dict[str, float] = {}
    for leg in trip.legs:
        if leg.from_kind == PICKUP:
            aboard.add(leg.from_id)
        for rid in aboard:
            carried[rid] = carried.get(rid, 0.0) + leg.distance_m * prep.requests[rid].weight_kg
        if leg.to_kind == DROPOFF:
            aboard.discard(leg.to_id)
            carried.setdefault(leg.to_id, 0.0)
    return carried
