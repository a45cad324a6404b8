"""The validator's separation rules (called by :func:`routing.validate.validate_plan`).

Independently of how the planner placed the trips, it checks:

- ``intent_missing`` / ``intent_unknown``: every trip has exactly one operational intent, and
  every intent names a trip of the plan;
- ``intent_not_containing``: the trip stays inside its intent — its position sampled every
  ``SAMPLE_S`` seconds along every leg (and at every waypoint), on every pad from landing to
  take-off (ground and cruise height), and over its ports for the take-off and landing slots,
  each sample inside some volume (time window, altitude band, outline within
  ``CONTAIN_TOLERANCE_M``);
- ``intent_conflict`` / ``port_over_capacity``: no intent of the plan intersects another one, nor
  one of the active intents given (flights already flying), and no port has more take-off or
  landing columns at once than its ``landing_spots``;
- ``separation_loss``: flying every leg at constant speed, no two drones come closer than the
  horizontal AND the vertical minimum at the same instant (exact, per pair of straight pieces);
- ``pad_conflict``: no two drones use pads closer than the horizontal minimum at the same time
  (ports: beyond their spots).

Trips already in flight when planning (first leg from ``start``) are the situation the plan
starts from: they are not compared with each other, nor with the active intents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from airspace.frame import LocalFrame
from routing.conformance import excess_of, volume_table
from routing.intents import IntentParams, OperationalIntent, intent_frame, reframed
from routing.problem import PORT, START, Plan, PlanningProblem, Trip
from routing.separation import (
    index_of,
    pad_conflicts,
    pieces_of,
    separation_losses,
    trip_occupancies,
)

SAMPLE_S = 2.0
CONTAIN_TOLERANCE_M = 0.5

Add = Callable[..., None]


def _samples(trip: Trip, frame: LocalFrame, port_slot_s: float, climb_mps: float = 5.0) -> np.ndarray:
    """Rows (t, x, y, z) the drone occupies on this trip (climbing out of its first port and
    gliding into its last at ``climb_mps`` while it flies on)."""
    rows: list[tuple[float, float, float, float]] = []
    to_xy = frame.to_xy
    legs = trip.legs
    for k, leg in enumerate(legs):
        pts = np.asarray([to_xy(w[0], w[1]) for w in leg.waypoints], dtype=float)
        z = leg.waypoints[0][2]
        dep, arr = leg.depart.timestamp(), leg.arrive.timestamp()
        seg = np.hypot(*(pts[1:] - pts[:-1]).T) if len(pts) > 1 else np.zeros(0)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        total = float(cum[-1])
        n = max(2, int((arr - dep) / SAMPLE_S) + 2)
        fr = np.unique(np.concatenate([np.linspace(0.0, 1.0, n), cum / total if total > 0 else [0.0]]))
        xs = np.interp(fr * total, cum, pts[:, 0])
        ys = np.interp(fr * total, cum, pts[:, 1])
        ts = dep + fr * (arr - dep)
        zs = np.full(len(ts), z)
        if k == 0 and leg.from_kind == PORT:
            zs = np.minimum(zs, climb_mps * (ts - dep))
        if k == len(legs) - 1 and leg.to_kind == PORT:
            zs = np.minimum(zs, climb_mps * (arr - ts))
        rows += [(float(t), x, y, float(h)) for t, x, y, h in zip(ts, xs, ys, zs, strict=True)]
        x0, y0 = float(pts[0, 0]), float(pts[0, 1])
        if k == 0 and leg.from_kind == PORT:
            rows += [(dep - port_slot_s / 2, x0, y0, 0.0), (dep, x0, y0, 0.0)]
        elif k > 0 and leg.from_kind != START:
            before = legs[k - 1].arrive.timestamp()
            for t in np.linspace(before, dep, max(2, int((dep - before) / SAMPLE_S) + 2)):
                rows += [(float(t), x0, y0, 0.0), (float(t), x0, y0, z)]
    if legs and legs[-1].to_kind == PORT:
        last = legs[-1]
        x1, y1 = (float(c) for c in to_xy(last.waypoints[-1][0], last.waypoints[-1][1]))
        arr = last.arrive.timestamp()
        rows += [(arr, x1, y1, 0.0), (arr + port_slot_s / 2, x1, y1, 0.0)]
    return np.asarray(rows, dtype=float)


def _outside(samples: np.ndarray, intent: OperationalIntent) -> np.ndarray:
    """Indices of the samples no volume of the intent contains. Each sample is tested only
    against the volumes whose time window can hold it (sorted by start, none longer than the
    longest): a trip's hundreds of volumes against its hundreds of samples would be all pairs."""
    tol = 1e-6
    table = volume_table(intent)
    if not len(table) or not len(samples):
        return np.arange(len(samples))
    table = table[np.argsort(table[:, 7], kind="stable")]
    longest = float((table[:, 8] - table[:, 7]).max())
    lo = np.searchsorted(table[:, 7], samples[:, 0] - longest - tol, side="left")
    count = np.searchsorted(table[:, 7], samples[:, 0] + tol, side="right") - lo
    rows = np.repeat(np.arange(len(samples)), count)
    cols = np.repeat(lo, count) + np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    lateral, vertical, time = excess_of(table[cols], samples[rows])
    held = (time <= tol) & (vertical <= tol) & (lateral <= CONTAIN_TOLERANCE_M)
    inside = np.bincount(rows[held], minlength=len(samples)) > 0
    return np.flatnonzero(~inside)


def check_separation(
    problem: PlanningProblem,
    plan: Plan,
    active: Sequence[OperationalIntent],
    params: IntentParams,
    add: Add,
) -> None:
    """Add a violation (``add(kind, detail, drone_id=..., trip=...)``) for every broken rule above."""
    check_intents(problem, plan, active, params, add)
    check_trajectories(problem, plan, params, add)


def _setting(
    problem: PlanningProblem, plan: Plan
) -> tuple[LocalFrame, dict[str, int], dict[tuple[str, int], Trip], set[tuple[str, int]]]:
    """What both halves of the check read: the fleet's intent frame, the ports' landing spots, the
    plan's trips by (drone, number), and those in flight at planning time."""
    spots = {p.id: p.landing_spots for p in problem.fleet.ports}
    trips = {(d.drone_id, k): t for d in plan.drones for k, t in enumerate(d.trips, 1) if t.legs}
    fixed = {key for key, t in trips.items() if key[1] == 1 and t.legs[0].from_kind == START}
    return intent_frame(problem.fleet), spots, trips, fixed


def check_intents(
    problem: PlanningProblem,
    plan: Plan,
    active: Sequence[OperationalIntent],
    params: IntentParams,
    add: Add,
) -> None:
    """The rules on intents above: one per trip, containing it, none in conflict."""
    frame, spots, trips, fixed = _setting(problem, plan)
    by_trip: dict[tuple[str, int], OperationalIntent] = {}
    for intent in plan.intents:
        key = (intent.drone_id, intent.trip)
        if key not in trips or key in by_trip:
            add(
                "intent_unknown",
                "an intent names no trip of the plan (or a trip twice)",
                drone_id=key[0],
                trip=key[1],
            )
        by_trip[key] = reframed(intent, frame)
    for key, trip in trips.items():
        where = {"drone_id": key[0], "trip": key[1]}
        own = by_trip.get(key)
        if own is None:
            add("intent_missing", "the trip has no operational intent", **where)
            continue
        samples = _samples(trip, frame, params.port_slot_s, params.climb_mps)
        out = _outside(samples, own)
        if len(out):
            t, x, y, z = samples[out[0]]
            add(
                "intent_not_containing",
                f"{len(out)} sampled positions outside the intent, first at t={t:.0f} "
                f"({x:.0f}, {y:.0f}) m, {z:.0f} m",
                **where,
            )
    index = index_of(active, frame, spots)
    for key in sorted(fixed & set(by_trip)):
        index.add(by_trip[key])
    for key in sorted(set(by_trip) - fixed):
        for c in index.conflicts(by_trip[key]):
            kind = "port_over_capacity" if c.kind == "port_capacity" else "intent_conflict"
            add(kind, str(c), drone_id=key[0], trip=key[1])
        index.add(by_trip[key])


def check_trajectories(problem: PlanningProblem, plan: Plan, params: IntentParams, add: Add) -> None:
    """The rules on the flown trips above: no loss of separation, no two drones on pads at once."""
    frame, spots, trips, fixed = _setting(problem, plan)
    minima = params.minima
    drones = [(d.drone_id, d.trips) for d in plan.drones]
    losses, _ = separation_losses(pieces_of(drones, frame), minima, skip=fixed)
    for loss in losses:
        add(
            "separation_loss",
            f"{loss.drone_a} trip {loss.trip_a} and {loss.drone_b} trip {loss.trip_b} "
            f"{loss.horizontal_m:.1f} m apart horizontally, {loss.vertical_m:.1f} m vertically "
            f"at t={loss.t:.0f}",
            drone_id=loss.drone_b,
            trip=loss.trip_b,
        )
    occ = [o for (did, k), t in trips.items() for o in trip_occupancies(did, k, t, frame, params.port_slot_s)]
    for o, q in pad_conflicts(occ, spots, minima):
        if q is not None and (o.drone_id, o.trip) in fixed and (q.drone_id, q.trip) in fixed:
            continue
        if q is None:
            add(
                "port_over_capacity",
                f"port {o.port}: more drones than landing spots",
                drone_id=o.drone_id,
                trip=o.trip,
            )
        else:
            add(
                "pad_conflict",
                f"on a pad {((o.x - q.x) ** 2 + (o.y - q.y) ** 2) ** 0.5:.0f} m from {q.drone_id} "
                f"trip {q.trip} at the same time",
                drone_id=o.drone_id,
                trip=o.trip,
            )
