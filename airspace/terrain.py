"""Terrain: the ground under a leg and the heights a drone flies over it (pure, no I/O).

China's rules measure a light drone's altitude as **true height**: metres above the ground
directly below it. Over hills a constant altitude is either into the hill or above the ceiling,
so a leg's altitude must follow the ground. This module holds the pure part:

- :class:`Terrain`: a digital elevation model as an in-memory grid of ground heights (metres above
  mean sea level) on WGS-84 geographic coordinates, with its affine transform (the six
  coefficients ``a, b, c, d, e, f`` of a GeoTIFF, as rasterio gives them:
  ``lon = a·col + b·row + c``, ``lat = d·col + e·row + f``, at a pixel's corner). Heights are
  sampled at pixel centres and interpolated bilinearly. Reading a GeoTIFF is not done here (see
  ``dispatch.terrain_file``).
- :func:`ground_profile`: the ground along a polyline, sampled every ``step_m`` (default 25 m).
- :func:`altitude_profile`: the altitudes (above mean sea level) the drone flies along that
  profile: the lowest profile that keeps at least ``clearance_m`` over the ground, stays at most
  ``ceiling_m`` true height, and climbs or descends at most ``grade`` metres per metre flown
  (the model's climb rate over its cruise speed), aiming for the cruise true height.

**When a leg cannot clear under the ceiling.** At each sample ``i`` (distance ``s_i`` along the
leg, ground ``g_i``) the drone must stay in the band ``[g_i + clearance, g_i + ceiling]``, and
between any two samples its altitude may change by at most ``grade·|s_i − s_j|``. The lowest such
profile is ``lo_i = max_j (g_j + clearance − grade·|s_i − s_j|)`` (climbing as late as possible
towards every rise); the leg can be flown exactly when ``lo_i ≤ g_i + ceiling`` at every sample,
i.e. when no rise of the ground, less the band's width ``ceiling − clearance``, is steeper than the
grade. Otherwise the leg *cannot clear under the ceiling*: it would have to leave the band (into
the hill, or above the ceiling), and the planner must go around that terrain. The take-off and the
landing at the leg's ends are vertical and not part of the profile.

Without a DEM the ground is flat at the pads' height (:data:`FLAT`): every profile is then the
cruise altitude, unchanged, as before terrain existed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from airspace.frame import LocalFrame

DEFAULT_CLEARANCE_M = 30.0  # minimum true height over the ground along a leg
DEFAULT_CEILING_M = 120.0  # controlled airspace begins above 120 m true height (China, light drones)
DEFAULT_STEP_M = 25.0  # spacing of the ground samples along a leg


class TerrainError(ValueError):
    """A DEM that cannot be used (bad grid or transform), or a point outside it."""


@dataclass(frozen=True, slots=True, eq=False)
class Terrain:
    """Ground heights (metres AMSL) on a WGS-84 geographic grid; ``transform`` is the GeoTIFF
    affine ``(a, b, c, d, e, f)``: ``lon = a·col + b·row + c``, ``lat = d·col + e·row + f``.

    ``heights`` is a 2-D array (rows, cols) of finite numbers; a point outside the grid's pixel
    centres (no four neighbours to interpolate) raises :class:`TerrainError`: a DEM must cover
    the whole area, with a margin of one pixel.
    """

    heights: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    name: str = "DEM"

    def __post_init__(self) -> None:
        h = np.asarray(self.heights, dtype=float)
        if h.ndim != 2 or h.shape[0] < 2 or h.shape[1] < 2:
            raise TerrainError(
                f"{self.name}: the height grid must be 2-D with at least 2x2 pixels, got {h.shape}"
            )
        if not np.isfinite(h).all():
            raise TerrainError(f"{self.name}: the height grid has missing (nodata) or non-finite heights")
        if len(self.transform) != 6 or not all(math.isfinite(v) for v in self.transform):
            raise TerrainError(
                f"{self.name}: the transform must be six finite numbers, got {self.transform!r}"
            )
        a, b, _, d, e, _ = self.transform
        if abs(a * e - b * d) < 1e-15:
            raise TerrainError(f"{self.name}: the transform is degenerate (zero pixel area)")
        object.__setattr__(self, "heights", h)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of the grid's outer pixel edges."""
        rows, cols = self.heights.shape
        a, b, c, d, e, f = self.transform
        corners = [(a * x + b * y + c, d * x + e * y + f) for x in (0, cols) for y in (0, rows)]
        lons, lats = zip(*corners, strict=True)
        return min(lons), min(lats), max(lons), max(lats)

    def _pixel(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (col, row) of pixel centres: (0, 0) is the centre of the first pixel."""
        a, b, c, d, e, f = self.transform
        det = a * e - b * d
        x, y = lon - c, lat - f
        col = (e * x - b * y) / det
        row = (-d * x + a * y) / det
        return col - 0.5, row - 0.5

    def heights_at(
        self, lons: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray
    ) -> np.ndarray:
        """Ground heights (m AMSL) at these lon/lat points, interpolated bilinearly."""
        lon = np.asarray(lons, dtype=float)
        lat = np.asarray(lats, dtype=float)
        col, row = self._pixel(lon, lat)
        rows, cols = self.heights.shape
        eps = 1e-9
        outside = (
            (col < -eps)
            | (row < -eps)
            | (col > cols - 1 + eps)
            | (row > rows - 1 + eps)
            | ~np.isfinite(col + row)
        )
        if np.any(outside):
            k = int(np.argmax(outside))
            raise TerrainError(
                f"({float(lon.flat[k]):.6f}, {float(lat.flat[k]):.6f}) is outside {self.name} "
                f"(bounds {self.bounds}): the DEM must cover the whole area"
            )
        col = np.clip(col, 0.0, cols - 1.0)
        row = np.clip(row, 0.0, rows - 1.0)
        c0 = np.minimum(np.floor(col).astype(int), cols - 2)
        r0 = np.minimum(np.floor(row).astype(int), rows - 2)
        tc, tr = col - c0, row - r0
        h = self.heights
        top = h[r0, c0] * (1 - tc) + h[r0, c0 + 1] * tc
        bottom = h[r0 + 1, c0] * (1 - tc) + h[r0 + 1, c0 + 1] * tc
        return np.asarray(top * (1 - tr) + bottom * tr, dtype=float)

    def height_at(self, lon: float, lat: float) -> float:
        """Ground height (m AMSL) at one lon/lat point, interpolated bilinearly (the same as
        :meth:`heights_at`, in plain arithmetic: the simulator and conformance ask for one point
        at a time, thousands of times a second, where numpy's overhead was 100 µs a call)."""
        a, b, c, d, e, f = self.transform
        det = a * e - b * d
        x, y = lon - c, lat - f
        col = (e * x - b * y) / det - 0.5
        row = (-d * x + a * y) / det - 0.5
        rows, cols = self.heights.shape
        eps = 1e-9
        if not (-eps <= col <= cols - 1 + eps and -eps <= row <= rows - 1 + eps):
            return float(self.heights_at([lon], [lat])[0])  # raises, naming the point and the bounds
        col = min(max(col, 0.0), cols - 1.0)
        row = min(max(row, 0.0), rows - 1.0)
        c0 = min(int(col), cols - 2)
        r0 = min(int(row), rows - 2)
        tc, tr = col - c0, row - r0
        h = self.heights
        top = float(h[r0, c0]) * (1 - tc) + float(h[r0, c0 + 1]) * tc
        bottom = float(h[r0 + 1, c0]) * (1 - tc) + float(h[r0 + 1, c0 + 1]) * tc
        return top * (1 - tr) + bottom * tr


@dataclass(frozen=True, slots=True, eq=False)
class AreaTerrain:
    """A service area's terrain model with its true-height band: legs keep at least
    ``clearance_m`` over the ground and at most ``ceiling_m`` (both true heights)."""

    terrain: Terrain
    clearance_m: float = DEFAULT_CLEARANCE_M
    ceiling_m: float = DEFAULT_CEILING_M

    def __post_init__(self) -> None:
        if not (0 <= self.clearance_m <= self.ceiling_m and math.isfinite(self.ceiling_m)):
            raise TerrainError(f"need 0 <= clearance ({self.clearance_m}) <= ceiling ({self.ceiling_m})")


@dataclass(frozen=True, slots=True)
class Profile:
    """A leg's ground and flight profile: at distance ``s_m[i]`` along the leg (point
    ``lonlat[i]``), ground ``ground_m[i]`` and flight altitude ``alt_m[i]`` (both m AMSL).
    ``clears`` is False when the leg cannot clear under the ceiling (see the module docstring);
    ``alt_m`` is then the lowest profile within the grade, which leaves the band somewhere."""

    s_m: np.ndarray
    lonlat: np.ndarray
    ground_m: np.ndarray
    alt_m: np.ndarray
    clears: bool

    @property
    def true_height_m(self) -> np.ndarray:
        """Height above the ground directly below, at every sample."""
        return np.asarray(self.alt_m - self.ground_m, dtype=float)

    @property
    def climb_m(self) -> float:
        """Total metres climbed along the leg (descents not subtracted)."""
        return float(np.clip(np.diff(self.alt_m), 0.0, None).sum())

    @property
    def waypoints(self) -> list[tuple[float, float, float]]:
        """The profile as (lon, lat, altitude AMSL) waypoints, one per sample."""
        return [(float(x), float(y), float(z)) for (x, y), z in zip(self.lonlat, self.alt_m, strict=True)]


def sample_polyline(
    lonlats: Sequence[tuple[float, float]], frame: LocalFrame, step_m: float = DEFAULT_STEP_M
) -> tuple[np.ndarray, np.ndarray]:
    """Points along a lon/lat polyline at most ``step_m`` apart (every vertex kept): distances
    along it (m) and the points as an (n, 2) lon/lat array."""
    if step_m <= 0 or not math.isfinite(step_m):
        raise ValueError(f"step_m must be a positive number, got {step_m!r}")
    xy = frame.points_to_xy(lonlats)
    if len(xy) == 0:
        raise ValueError("a leg needs at least one point")
    pts = [xy[0]]
    for p, q in itertools.pairwise(xy):
        n = max(1, math.ceil(float(np.hypot(*(q - p))) / step_m))
        t = np.arange(1, n + 1)[:, None] / n
        pts.extend(p + t * (q - p))
    arr = np.asarray(pts, dtype=float)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(arr, axis=0).T))])
    lon, lat = frame.to_lonlat(arr[:, 0], arr[:, 1])
    return s, np.column_stack([np.atleast_1d(lon), np.atleast_1d(lat)])


def _segment_cummax(u: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running maximum of ``u`` restarted at every new segment id (``seg`` non-decreasing)."""
    if len(u) == 0:
        return u
    span = float(u.max() - u.min()) + 1.0
    lifted = u + seg * span  # every later segment lies above every earlier one
    return np.asarray(np.maximum.accumulate(lifted) - seg * span, dtype=float)


def lowest_above_batch(s: np.ndarray, floor: np.ndarray, grade: float, seg: np.ndarray) -> np.ndarray:
    """For many legs at once (``seg``: the non-decreasing leg id of each sample, ``s`` sorted
    within a leg): the lowest profile ≥ ``floor`` whose slope never exceeds ``grade``,
    ``max_j (floor_j − grade·|s_i − s_j|)`` over the samples ``j`` of the same leg.

    Split at ``i``: over ``j ≤ i`` it is the running maximum of ``floor + grade·s`` less
    ``grade·s_i``; over ``j ≥ i`` the running maximum from the end of ``floor − grade·s`` plus
    ``grade·s_i``. Both are vectorised (no loop over samples)."""
    f = np.asarray(floor, dtype=float)
    sg = np.asarray(seg, dtype=float)
    ahead = _segment_cummax(f + grade * s, sg) - grade * s
    rev = slice(None, None, -1)
    behind = _segment_cummax((f - grade * s)[rev], (sg.max(initial=0.0) - sg)[rev])[rev] + grade * s
    return np.maximum(ahead, behind)


def _lowest_above(s: np.ndarray, floor: np.ndarray, grade: float) -> np.ndarray:
    """The lowest profile ≥ ``floor`` whose slope never exceeds ``grade``: ``max_j (floor_j −
    grade·|s_i − s_j|)`` (one leg of :func:`lowest_above_batch`)."""
    return lowest_above_batch(s, floor, grade, np.zeros(len(s)))


def _highest_below(s: np.ndarray, roof: np.ndarray, grade: float) -> np.ndarray:
    """The highest profile ≤ ``roof`` whose slope never exceeds ``grade``."""
    return -_lowest_above(s, -roof, grade)


def altitude_profile(
    s_m: np.ndarray,
    ground_m: np.ndarray,
    *,
    cruise_m: float,
    grade: float,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    ceiling_m: float = DEFAULT_CEILING_M,
) -> tuple[np.ndarray, bool]:
    """Flight altitudes (m AMSL) over this ground profile, and whether they clear under the ceiling.

    The drone aims for ``min(cruise_m, ceiling_m)`` true height; it keeps at least ``clearance_m``
    and at most ``ceiling_m`` true height, and its altitude changes by at most ``grade`` metres per
    metre flown. The result is ``max(lo, min(aim, hi))`` where ``lo`` is the lowest profile within
    the grade above ``ground + clearance``, ``aim`` the lowest within the grade above
    ``ground + cruise``, and ``hi`` the highest within the grade below ``ground + ceiling``: all
    three respect the grade, so their min and max do too. It clears when ``lo ≤ ground + ceiling``
    everywhere (then the result stays in the band). Flat ground gives the constant cruise altitude.
    """
    s = np.asarray(s_m, dtype=float)
    g = np.asarray(ground_m, dtype=float)
    if s.shape != g.shape or s.ndim != 1 or len(s) == 0:
        raise ValueError("s_m and ground_m must be 1-D arrays of the same, non-zero length")
    if not (grade > 0 and math.isfinite(grade)):
        raise ValueError(f"grade must be a positive number, got {grade!r}")
    if not (0 <= clearance_m <= ceiling_m):
        raise ValueError(f"need 0 <= clearance ({clearance_m}) <= ceiling ({ceiling_m})")
    alt, clears = altitude_profile_batch(
        s, g, np.zeros(len(s)), cruise_m=cruise_m, grade=grade, clearance_m=clearance_m, ceiling_m=ceiling_m
    )
    return alt, bool(clears[0])


def altitude_profile_batch(
    s_m: np.ndarray,
    ground_m: np.ndarray,
    seg: np.ndarray,
    *,
    cruise_m: float,
    grade: float,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    ceiling_m: float = DEFAULT_CEILING_M,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`altitude_profile` of many legs at once: ``seg`` is the leg id of each sample
    (0, 1, …, non-decreasing; ``s_m`` sorted within each leg). Returns the altitudes of every
    sample and, per leg id, whether that leg clears under the ceiling."""
    s = np.asarray(s_m, dtype=float)
    g = np.asarray(ground_m, dtype=float)
    ids = np.asarray(seg, dtype=np.int64)
    aim_h = min(max(cruise_m, clearance_m), ceiling_m)
    lo = lowest_above_batch(s, g + clearance_m, grade, ids)
    aim = lowest_above_batch(s, g + aim_h, grade, ids)
    hi = -lowest_above_batch(s, -(g + ceiling_m), grade, ids)
    alt = np.maximum(lo, np.minimum(aim, hi))
    bad = lo > g + ceiling_m + 1e-6
    n = int(ids.max()) + 1 if len(ids) else 0
    clears = np.bincount(ids, weights=bad.astype(float), minlength=n) == 0
    return alt, clears


def leg_profile(
    terrain: Terrain,
    lonlats: Sequence[tuple[float, float]],
    frame: LocalFrame,
    *,
    cruise_m: float,
    grade: float,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    ceiling_m: float = DEFAULT_CEILING_M,
    step_m: float = DEFAULT_STEP_M,
) -> Profile:
    """The ground and flight profile of a leg flown along this lon/lat polyline."""
    s, pts = sample_polyline(lonlats, frame, step_m)
    ground = terrain.heights_at(pts[:, 0], pts[:, 1])
    alt, clears = altitude_profile(
        s, ground, cruise_m=cruise_m, grade=grade, clearance_m=clearance_m, ceiling_m=ceiling_m
    )
    return Profile(s, pts, ground, alt, clears)


def band_violations(
    terrain: Terrain,
    waypoints: Sequence[tuple[float, float, float]],
    frame: LocalFrame,
    *,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    ceiling_m: float = DEFAULT_CEILING_M,
    step_m: float = DEFAULT_STEP_M,
    tolerance_m: float = 0.5,
) -> list[tuple[float, float, float, str]]:
    """Where a leg flown straight between its waypoints (lon, lat, altitude AMSL; altitude linear
    between them) leaves the band: ``(lon, lat, true height, "clearance" | "ceiling")`` of the
    worst sample of each kind, none if it stays in the band. Independent of :func:`altitude_profile`:
    the validator and the simulator's monitor use it to check what the planner computed."""
    if len(waypoints) < 2:
        return []
    arr = np.asarray(waypoints, dtype=float)
    s_w = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(frame.points_to_xy(arr[:, :2]), axis=0).T))])
    s, pts = sample_polyline([(float(w[0]), float(w[1])) for w in arr], frame, step_m)
    alt = np.interp(s, s_w, arr[:, 2])
    true_h = alt - terrain.heights_at(pts[:, 0], pts[:, 1])
    out: list[tuple[float, float, float, str]] = []
    k = int(np.argmin(true_h))
    if true_h[k] < clearance_m - tolerance_m:
        out.append((float(pts[k, 0]), float(pts[k, 1]), float(true_h[k]), "clearance"))
    k = int(np.argmax(true_h))
    if true_h[k] > ceiling_m + tolerance_m:
        out.append((float(pts[k, 0]), float(pts[k, 1]), float(true_h[k]), "ceiling"))
    return out
