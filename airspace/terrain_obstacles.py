"""Terrain the drones cannot fly over, as no-fly zones the exact path finder goes around (pure).

A point ``p`` of the DEM is **impassable** when the lowest altitude within the grade that keeps
the clearance over all the ground around it, ``lo(p) = max_q (g(q) + clearance − grade·|p − q|)``
(the 2-D form of :func:`airspace.terrain.altitude_profile`'s lower profile, ``|p − q|`` in
metres), is above ``g(p) + ceiling``. A path is never shorter than the straight distance, so the
lower profile of any leg through ``p`` is at most ``lo(p)``: **a leg that avoids every impassable
point can always be flown inside the band** (at the DEM's resolution: the impassable pixels are
grown by one pixel, so interpolation between pixel centres stays covered). The converse does not
hold: a leg crossing the edge of an impassable area obliquely might have cleared; the planner
stays on the safe side.

``lo`` is a grey dilation of the grid by a cone (``scipy.ndimage.grey_dilation`` with a non-flat
structuring element), limited to the distance over which the relief can matter
(``(max g − min g) / grade``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from shapely.geometry import Polygon
from shapely.ops import unary_union

from airspace.frame import LocalFrame
from airspace.terrain import DEFAULT_CEILING_M, DEFAULT_CLEARANCE_M, Terrain
from airspace.zones import Zone

TERRAIN_ZONE_PREFIX = "terrain-"  # ids of the zones made from terrain (never an operator's zone)


def _pixel_metres(terrain: Terrain) -> tuple[float, float]:
    """Size of a pixel (east-west along a row, north-south along a column) in metres, at the
    grid's centre."""
    a, b, c, d, e, f = terrain.transform
    rows, cols = terrain.heights.shape
    lon0, lat0 = a * cols / 2 + b * rows / 2 + c, d * cols / 2 + e * rows / 2 + f
    frame = LocalFrame.centred_on(lon0, lat0)
    x1, y1 = frame.to_xy(lon0 + a, lat0 + d)
    x2, y2 = frame.to_xy(lon0 + b, lat0 + e)
    return math.hypot(x1, y1), math.hypot(x2, y2)


def impassable_mask(
    terrain: Terrain,
    *,
    grade: float,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    ceiling_m: float = DEFAULT_CEILING_M,
) -> np.ndarray:
    """Boolean grid (the DEM's shape): True where the terrain cannot be cleared under the ceiling
    within ``grade`` (see the module docstring), grown by one pixel."""
    if not (grade > 0 and math.isfinite(grade)):
        raise ValueError(f"grade must be a positive number, got {grade!r}")
    if not (0 <= clearance_m <= ceiling_m):
        raise ValueError(f"need 0 <= clearance ({clearance_m}) <= ceiling ({ceiling_m})")
    g = terrain.heights
    relief = float(g.max() - g.min())
    if relief <= ceiling_m - clearance_m:
        return np.zeros(g.shape, dtype=bool)  # no rise can outgrow the band
    px, py = _pixel_metres(terrain)
    reach = relief / grade
    rx = max(1, min(g.shape[1] - 1, math.ceil(reach / px)))
    ry = max(1, min(g.shape[0] - 1, math.ceil(reach / py)))
    dy, dx = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    cone = -grade * np.hypot(dx * px, dy * py)
    lo = ndimage.grey_dilation(g + clearance_m, structure=cone, mode="nearest")
    mask = np.asarray(lo > g + ceiling_m + 1e-6)
    if mask.any():
        mask = ndimage.binary_dilation(mask, structure=np.ones((3, 3), dtype=bool))
    return np.asarray(mask, dtype=bool)


def terrain_zones(
    terrain: Terrain,
    *,
    grade: float,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    ceiling_m: float = DEFAULT_CEILING_M,
) -> tuple[Zone, ...]:
    """The impassable terrain as permanent, full-height no-fly zones (ids ``terrain-1``, ...,
    reason naming the terrain model), one per connected area without holes (ground ringed by
    impassable slopes cannot be reached either), for the path finder to go around."""
    mask = impassable_mask(terrain, grade=grade, clearance_m=clearance_m, ceiling_m=ceiling_m)
    if not mask.any():
        return ()
    a, b, c, d, e, f = terrain.transform

    def corner(col: float, row: float) -> tuple[float, float]:
        return (a * col + b * row + c, d * col + e * row + f)

    boxes = []
    for r in range(mask.shape[0]):
        cols = np.flatnonzero(mask[r])
        if len(cols) == 0:
            continue
        breaks = np.flatnonzero(np.diff(cols) > 1)
        starts = np.concatenate([[cols[0]], cols[breaks + 1]])
        ends = np.concatenate([cols[breaks], [cols[-1]]]) + 1
        for c0, c1 in zip(starts, ends, strict=True):
            boxes.append(Polygon([corner(c0, r), corner(c1, r), corner(c1, r + 1), corner(c0, r + 1)]))
    merged = unary_union(boxes)
    # holes (a crest ringed by impassable slopes) cannot be reached without crossing the ring
    parts = [Polygon(p.exterior) for p in getattr(merged, "geoms", [merged])]
    reason = (
        f"terrain ({terrain.name}): cannot be cleared with {clearance_m:g} m under the "
        f"{ceiling_m:g} m true-height ceiling within a climb grade of {grade:.3g}"
    )
    return tuple(
        Zone(id=f"{TERRAIN_ZONE_PREFIX}{i}", kind="no_fly", shape=part, radius_m=None, reason=reason)
        for i, part in enumerate(sorted(parts, key=lambda p: p.bounds), 1)
    )
