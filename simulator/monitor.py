"""The independent airspace monitor: the safety oracle of every end-to-end test.

It knows the zones' *true* footprints (no margin) in metres and checks every piece of path a
simulated drone flies, not only the sampled positions: a segment is in breach if some part of it
lies inside an active zone's footprint at an altitude within the zone's band (altitude varies
linearly along a segment). A drone that stays inside a zone is reported once per entry. Only
``no_fly`` zones are watched: a ``controlled`` zone may be entered with the authority's approval,
which the dispatcher asks before take-off (the simulator does not know of it).

Zone floors and ceilings are true heights. Over a terrain model the drone's altitude is above mean
sea level, so the monitor compares the zones' bands with its **true height** (altitude less the
ground below): each piece of path is sampled every ``step_m`` and its true height taken linear
between samples. Without one the ground is flat at altitude 0 and the altitude is the true height.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from airspace.frame import LocalFrame
from airspace.obstacles import footprint_in_frame
from airspace.terrain import DEFAULT_STEP_M, Terrain
from airspace.zones import CONTROLLED, Zone

XYZ = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class _ZoneXY:
    zone: Zone
    geometry: shapely.Geometry  # polygon(s), or the centre point of a disc
    radius_m: float  # > 0 for a disc
    bounds: tuple[float, float, float, float]


def _disc_interval(p0: XYZ, p1: XYZ, cx: float, cy: float, r: float) -> tuple[float, float] | None:
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    fx, fy = p0[0] - cx, p0[1] - cy
    a = dx * dx + dy * dy
    c = fx * fx + fy * fy - r * r
    if a == 0.0:
        return (0.0, 1.0) if c <= 0 else None
    b = 2 * (fx * dx + fy * dy)
    disc = b * b - 4 * a * c
    if disc < 0:
        return None
    root = math.sqrt(disc)
    t0, t1 = (-b - root) / (2 * a), (-b + root) / (2 * a)
    lo, hi = max(t0, 0.0), min(t1, 1.0)
    return (lo, hi) if lo <= hi else None


def _polygon_intervals(p0: XYZ, p1: XYZ, geometry: shapely.Geometry) -> list[tuple[float, float]]:
    if (p0[0], p0[1]) == (p1[0], p1[1]):
        return [(0.0, 1.0)] if geometry.intersects(Point(p0[0], p0[1])) else []
    seg = LineString([(p0[0], p0[1]), (p1[0], p1[1])])
    inside = seg.intersection(geometry)
    if inside.is_empty:
        return []
    length = seg.length
    out: list[tuple[float, float]] = []
    parts = getattr(inside, "geoms", [inside])
    for part in parts:
        ts = [seg.project(Point(c)) / length for c in part.coords]
        out.append((min(ts), max(ts)))
    return out


class AirspaceMonitor:
    """Checks flown path segments against the true zone footprints."""

    def __init__(
        self,
        zones: list[Zone],
        frame: LocalFrame,
        terrain: Terrain | None = None,
        step_m: float = DEFAULT_STEP_M,
    ) -> None:
        """``terrain``: the ground under the drones, whose altitudes are then above mean sea level
        (None: flat ground at 0); ``step_m``: the spacing of the ground samples along a piece."""
        if not (step_m > 0 and math.isfinite(step_m)):
            raise ValueError(f"step_m must be a positive number, got {step_m!r}")
        self.frame = frame
        self.terrain = terrain
        self.step_m = step_m
        self._zones: list[_ZoneXY] = []
        self._inside: dict[str, set[str]] = {}
        for zone in zones:
            self.add_zone(zone)

    def add_zone(self, zone: Zone) -> None:
        """Watch one more zone (e.g. a temporary one an operator just added); a zone with the id
        of a watched one replaces it. A controlled zone is not watched (and stops a watched zone of
        its id from being watched)."""
        self._zones = [z for z in self._zones if z.zone.id != zone.id]
        if zone.kind == CONTROLLED:
            return
        fp = footprint_in_frame(zone, self.frame)
        minx, miny, maxx, maxy = fp.geometry.bounds
        r = fp.radius_m
        self._zones.append(_ZoneXY(zone, fp.geometry, r, (minx - r, miny - r, maxx + r, maxy + r)))

    @property
    def zones(self) -> list[Zone]:
        """The zones watched."""
        return [z.zone for z in self._zones]

    def zones_hit(self, p0: XYZ, p1: XYZ, at: datetime) -> list[str]:
        """Ids of the zones active at ``at`` that the straight segment p0 -> p1 (x, y, alt) enters."""
        hit: list[str] = []
        for z in self._zones:
            minx, miny, maxx, maxy = z.bounds
            if max(p0[0], p1[0]) < minx or min(p0[0], p1[0]) > maxx:
                continue
            if max(p0[1], p1[1]) < miny or min(p0[1], p1[1]) > maxy:
                continue
            if not z.zone.active_at(at):
                continue
            if z.radius_m > 0:
                c = z.geometry
                iv = _disc_interval(p0, p1, c.x, c.y, z.radius_m)
                intervals = [iv] if iv is not None else []
            else:
                intervals = _polygon_intervals(p0, p1, z.geometry)
            floor = z.zone.floor_m
            ceiling = math.inf if z.zone.ceiling_m is None else z.zone.ceiling_m
            for t0, t1 in intervals:
                a0 = p0[2] + (p1[2] - p0[2]) * t0
                a1 = p0[2] + (p1[2] - p0[2]) * t1
                if max(a0, a1) >= floor and min(a0, a1) <= ceiling:
                    hit.append(z.zone.id)
                    break
        return hit

    def check_path(self, drone_id: str, path: list[XYZ], at: datetime) -> list[str]:
        """Check consecutive points of a flown path; return the zones *newly* entered by the drone.

        A drone still inside a zone it was already reported in is not reported again until it has
        left it (a path piece that touches no active zone resets its state).
        """
        if self.terrain is not None and path:
            path = self.true_heights(path)
        inside_now: set[str] = set()
        for p0, p1 in itertools.pairwise(path):
            inside_now.update(self.zones_hit(p0, p1, at))
        if len(path) == 1:
            inside_now.update(self.zones_hit(path[0], path[0], at))
        before = self._inside.get(drone_id, set())
        self._inside[drone_id] = inside_now
        return sorted(inside_now - before)

    def true_heights(self, path: list[XYZ]) -> list[XYZ]:
        """The path (x, y, altitude AMSL) as (x, y, true height) points, sampled every ``step_m``
        along each piece (every point kept), over the monitor's terrain."""
        assert self.terrain is not None
        pts = [np.asarray(path[0], dtype=float)]
        for p0, p1 in itertools.pairwise(path):
            a, b = np.asarray(p0, dtype=float), np.asarray(p1, dtype=float)
            n = max(1, math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / self.step_m))
            pts.extend(a + (b - a) * (k / n) for k in range(1, n + 1))
        xyz = np.asarray(pts)
        lon, lat = self.frame.to_lonlat(xyz[:, 0], xyz[:, 1])
        ground = self.terrain.heights_at(np.atleast_1d(lon), np.atleast_1d(lat))
        return [(float(x), float(y), float(z - g)) for (x, y, z), g in zip(xyz, ground, strict=True)]
