"""A leg's flown profile over terrain (pure): the heights a drone flies along a path, sampled,
kept inside the true-height band and simplified to waypoints.

The planner (:mod:`routing.terrain_legs`) and a drone's terrain following (the simulator's
``terrain`` altitude frame) fly the same rule: :func:`airspace.terrain.altitude_profile`, with
:data:`PLANNING_MARGIN_M` kept inside the band and the ground sampled every
:data:`PLANNING_STEP_M`, so that an independent check sampling elsewhere (the validator, the
simulator's terrain monitor) finds the clearance and the ceiling kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain, altitude_profile_batch

LonLat = tuple[float, float]
Waypoint = tuple[float, float, float]

PLANNING_MARGIN_M = 3.0  # kept inside the band on both sides: checks sample the ground elsewhere
PLANNING_STEP_M = 10.0  # ground samples along a leg, finer than the checks' 25 m
SIMPLIFY_TOLERANCE_M = 0.5  # a profile's waypoints stay this close to the computed altitudes


def planning_band(area: AreaTerrain) -> tuple[float, float]:
    """The true-height band the planner flies in: the area's, less the margin on both sides
    (never inverted: a band narrower than twice the margin collapses to its middle)."""
    lo, hi = area.clearance_m + PLANNING_MARGIN_M, area.ceiling_m - PLANNING_MARGIN_M
    if lo > hi:
        lo = hi = (area.clearance_m + area.ceiling_m) / 2
    return lo, hi


@dataclass(frozen=True, slots=True)
class LegHeights:
    """A leg's flown profile over terrain: waypoints (lon, lat, altitude AMSL), simplified to the
    points where the climb changes plus every corner of the path; its total climb; the least and
    the most true height along it; whether it stays in the band."""

    waypoints: tuple[Waypoint, ...]
    climb_m: float
    min_true_m: float
    max_true_m: float
    clears: bool


def sample_path(xy: np.ndarray, lonlat: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along a polyline given in local metres and in lon/lat (the same vertices) at most
    ``step`` apart: distances along it, the points in lon/lat (interpolated linearly between
    vertices: within millimetres of the metric straight line over a leg), and the indices of the
    polyline's own vertices among them."""
    if len(xy) == 1:
        return np.zeros(1), lonlat.copy(), np.zeros(1, dtype=np.int64)
    seg = np.diff(xy, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    counts = np.maximum(1, np.ceil(lengths / step).astype(np.int64))
    vertex = np.concatenate([[0], np.cumsum(counts)])
    k = np.repeat(np.arange(len(seg)), counts)
    t = (np.arange(int(counts.sum())) - vertex[k] + 1) / counts[k]
    step_ll = np.diff(lonlat, axis=0)
    pts = np.vstack([lonlat[:1], lonlat[k] + t[:, None] * step_ll[k]])
    s = np.concatenate([[0.0], np.cumsum(np.repeat(lengths / counts, counts))])
    return s, pts, vertex


def simplify_profile(s: np.ndarray, alt: np.ndarray, fixed: np.ndarray, tol: float) -> np.ndarray:
    """Indices of the samples to keep so that the altitude, linear between kept samples, stays
    within ``tol`` of ``alt`` (Douglas-Peucker on the profile; ``fixed`` indices always kept)."""
    keep = np.zeros(len(s), dtype=bool)
    keep[fixed] = True
    keep[[0, -1]] = True
    todo = list(zip(np.flatnonzero(keep)[:-1], np.flatnonzero(keep)[1:], strict=True))
    while todo:
        a, b = todo.pop()
        if b - a < 2:
            continue
        inner = np.arange(a + 1, b)
        line = alt[a] + (alt[b] - alt[a]) * (s[inner] - s[a]) / max(s[b] - s[a], 1e-12)
        dev = np.abs(alt[inner] - line)
        m = int(np.argmax(dev))
        if dev[m] > tol:
            mid = int(inner[m])
            keep[mid] = True
            todo += [(a, mid), (mid, b)]
    return np.flatnonzero(keep)


def frame_for(points: Sequence[LonLat]) -> LocalFrame:
    """A metric frame for heights over these points: centred on their middle, rounded to 0.01°
    so that rounds over the same area share one (cached) projection."""
    lon = round(sum(p[0] for p in points) / len(points), 2)
    lat = round(sum(p[1] for p in points) / len(points), 2)
    return LocalFrame.centred_on(lon, lat)


def flown_profile(
    area: AreaTerrain,
    path: Sequence[LonLat],
    *,
    cruise_m: float,
    grade: float,
    frame: LocalFrame | None = None,
) -> LegHeights:
    """The profile a drone aiming for ``cruise_m`` true height, climbing at most ``grade``, flies
    along ``path`` (lon/lat) over the area's terrain."""
    frame = frame or frame_for(path)
    lonlat_v = np.asarray(path, dtype=float).reshape(-1, 2)
    s, lonlat, vertex = sample_path(frame.points_to_xy(lonlat_v), lonlat_v, PLANNING_STEP_M)
    ground = area.terrain.heights_at(lonlat[:, 0], lonlat[:, 1])
    lo, hi = planning_band(area)
    alt, clears = altitude_profile_batch(
        s,
        ground,
        np.zeros(len(s), dtype=np.int64),
        cruise_m=cruise_m,
        grade=grade,
        clearance_m=lo,
        ceiling_m=hi,
    )
    kept = simplify_profile(s, alt, vertex, SIMPLIFY_TOLERANCE_M)
    flown = np.interp(s, s[kept], alt[kept])
    true_h = flown - ground
    return LegHeights(
        waypoints=tuple((float(lonlat[k, 0]), float(lonlat[k, 1]), float(alt[k])) for k in kept),
        climb_m=float(np.clip(np.diff(alt[kept]), 0.0, None).sum()),
        min_true_m=float(true_h.min()),
        max_true_m=float(true_h.max()),
        clears=bool(clears[0]),
    )
