"""When the pads are taken by the intents in force, so that the solver and the schedule avoid it.

Deconfliction (:mod:`routing.deconflict`) places every trip exactly, after the solver has chosen
its routes and times; a solver that sends a drone to a pad while another drone of ours holds it
there leaves deconfliction a ground delay that may break a deadline. The intents already in force
(flights in the air, and in the planner's later passes the trips just placed) say exactly when each
pad is held: their pad columns (from the ground up, from landing to take-off). A service at a pad
starting inside ``(t0 - service - reach, t1 + reach)`` of such a column, ``reach`` covering the
glide-in and climb-out of both drones with their timing margins, would meet it. Those instants are
taken out of the solver's domain for each visit there (:attr:`routing.instance.Instance.forbidden`)
and skipped by the schedule (the drone leaves its previous stop later). The exact check stays
deconfliction's: this only steers the choice. Pure: no I/O, no event loop.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from routing.intents import IntentParams, OperationalIntent, intent_frame
from routing.prepared import Prepared

REACH_MARGIN_S = 1800.0  # flight time covered by the timing margins counted in ``reach``


def busy_pads(
    prep: Prepared, intents: Sequence[OperationalIntent], params: IntentParams
) -> dict[int, list[tuple[float, float]]]:
    """Per pad site (pickups and drop-offs; not ports, which have landing spots): the service
    start times (seconds after the planning instant, open intervals, sorted and merged) at which a
    visit would meet a pad column of ``intents``."""
    columns = [
        v
        for i in intents
        for v in i.volumes
        if v.lo_m <= 0.0 and v.resource is None and v.ax == v.bx and v.ay == v.by
    ]
    pads = sorted(set(prep.pickup_site.values()) | set(prep.dropoff_site.values()))
    if not columns or not pads:
        return {}
    frame = intent_frame(prep.problem.fleet)
    xy = frame.points_to_xy([prep.sites.points[s] for s in pads])
    cols = np.array([(v.ax, v.ay, v.radius_m, v.t0, v.t1) for v in columns])
    t0 = prep.t0.timestamp()
    highest = max(max(m.layers, default=m.cruise_altitude_m) for m in prep.problem.fleet.models.values())
    margin = params.timing_margin_s + params.timing_growth * REACH_MARGIN_S
    reach = highest / params.climb_mps + margin
    service = max(s.model.service_s for s in prep.starts) if prep.starts else 0.0
    out: dict[int, list[tuple[float, float]]] = {}
    for k, site in enumerate(pads):
        near = np.hypot(cols[:, 0] - xy[k, 0], cols[:, 1] - xy[k, 1]) < cols[:, 2] + params.radius_m
        if not near.any():
            continue
        spans = sorted((a - t0 - service - reach, b - t0 + reach) for a, b in cols[near][:, 3:5].tolist())
        merged: list[tuple[float, float]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        out[site] = merged
    return out


def after_busy(spans: list[tuple[float, float]], t: float) -> float:
    """The earliest instant at or after ``t`` inside none of the open intervals ``spans`` (sorted,
    merged)."""
    k = bisect.bisect_right(spans, (t, float("inf"))) - 1
    if k >= 0 and spans[k][0] < t < spans[k][1]:
        return spans[k][1]
    return t
