"""The independent terrain monitor: does a flown path keep the clearance and stay under the
true-height ceiling?

Like :class:`simulator.monitor.AirspaceMonitor` it checks every piece of path flown (points x, y
in the area's local frame, altitude above mean sea level, linear between points), sampled every
``step_m``, against the ground of the terrain model; it knows nothing of the planner's profiles.
Only cruising is checked: take-off and landing at a pad go through the band on purpose (the
caller passes ``cruising=False`` for those pieces). A drone still out of the band is reported once
per excursion, per kind.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from airspace.frame import LocalFrame
from airspace.terrain import DEFAULT_STEP_M, AreaTerrain

XYZ = tuple[float, float, float]
CLEARANCE = "terrain_clearance"
CEILING = "ceiling"
TOLERANCE_M = 0.5


@dataclass(frozen=True, slots=True)
class BandViolation:
    """Where a drone left the band: its position, true height there and which limit it broke."""

    drone_id: str
    kind: str  # CLEARANCE or CEILING
    lon: float
    lat: float
    alt_m: float  # above mean sea level
    true_height_m: float
    limit_m: float


class TerrainMonitor:
    """Checks flown path pieces against the ground of an area's terrain model."""

    def __init__(self, area: AreaTerrain, frame: LocalFrame, step_m: float = DEFAULT_STEP_M) -> None:
        if not (step_m > 0 and math.isfinite(step_m)):
            raise ValueError(f"step_m must be a positive number, got {step_m!r}")
        self.area = area
        self.frame = frame
        self.step_m = step_m
        self._out: dict[str, set[str]] = {}

    def _samples(self, path: list[XYZ]) -> np.ndarray:
        pts = [np.asarray(path[0], dtype=float)]
        for p0, p1 in itertools.pairwise(path):
            a, b = np.asarray(p0, dtype=float), np.asarray(p1, dtype=float)
            n = max(1, math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / self.step_m))
            pts.extend(a + (b - a) * (k / n) for k in range(1, n + 1))
        return np.asarray(pts)

    def check_path(self, drone_id: str, path: list[XYZ], *, cruising: bool = True) -> list[BandViolation]:
        """Check a piece of path flown (x, y, altitude AMSL); return the violations *newly* begun
        (the worst sample of each kind). A piece in the band, or not cruising, resets the state."""
        if not path or not cruising:
            self._out[drone_id] = set()
            return []
        xyz = self._samples(path)
        lon, lat = self.frame.to_lonlat(xyz[:, 0], xyz[:, 1])
        lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
        true_h = xyz[:, 2] - self.area.terrain.heights_at(lon, lat)
        now: dict[str, tuple[int, float]] = {}
        k = int(np.argmin(true_h))
        if true_h[k] < self.area.clearance_m - TOLERANCE_M:
            now[CLEARANCE] = (k, self.area.clearance_m)
        k = int(np.argmax(true_h))
        if true_h[k] > self.area.ceiling_m + TOLERANCE_M:
            now[CEILING] = (k, self.area.ceiling_m)
        before = self._out.get(drone_id, set())
        self._out[drone_id] = set(now)
        return [
            BandViolation(
                drone_id, kind, float(lon[k]), float(lat[k]), float(xyz[k, 2]), float(true_h[k]), limit
            )
            for kind, (k, limit) in sorted(now.items())
            if kind not in before
        ]
