"""Zone footprints in the local frame and their margin-buffered, outside-approximated obstacles.

The *true* margin region of a zone is every point within ``margin_m`` of its footprint (the
Minkowski sum of the footprint with a disc). Polygons cannot hold circular arcs, and shapely's
round buffer puts its arc vertices *on* the circle, so its chords cut inside. Here the disc is
replaced by a regular ``n``-gon *circumscribed* about it (apothem = the radius, vertices at
``radius / cos(pi / n)``): the n-gon contains the disc, so the Minkowski sum with it contains the
true margin region. The error is always on the safe side and at most
``radius * (1 / cos(pi / n) - 1)`` (n = 32: 0.48 % of the radius).

A circle zone of radius R and margin m becomes the n-gon circumscribed about the circle of radius
R + m. A polygon footprint P becomes ``P ∪ ⋃_edges (edge ⊕ n-gon)`` (exact Minkowski sum with
a convex set that contains the origin), built with vectorised shapely convex hulls and one union.

All coordinates here are metres in a :class:`~airspace.frame.LocalFrame`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from airspace.frame import LocalFrame
from airspace.zones import Zone

DEFAULT_CIRCLE_SEGMENTS: int = 32


def circumscribed_ngon(radius: float, segments: int) -> np.ndarray:
    """Vertices (segments, 2) of a regular polygon whose inscribed circle has this radius."""
    if segments < 3:
        raise ValueError(f"circle_segments must be >= 3, got {segments}")
    angles = (np.arange(segments) + 0.5) * (2 * math.pi / segments)
    r = radius / math.cos(math.pi / segments)
    return np.column_stack([r * np.cos(angles), r * np.sin(angles)])


@dataclass(frozen=True)
class Footprint:
    """A zone's footprint in metres: a polygon (vertices projected, straight edges), or a disc.

    GeoJSON edges are straight in lon/lat; in the frame they bend slightly away from the straight
    chord between the projected vertices. ``edge_slacks_m`` bounds that bend per edge (the sagitta:
    about 1.5 cm for a 1 km east-west edge at 37 degrees, 1.5 m for 10 km); each edge's obstacle
    grows by its own bend. Where a bend exceeds 0.1 mm, ``written`` holds the zone as written:
    its lon/lat edges densified every 0.001 degree before projection (bends under 0.2 mm), and
    clearances are measured to it.
    """

    geometry: BaseGeometry  # Polygon / MultiPolygon, or the centre Point of a disc
    radius_m: float  # 0 for polygons
    edge_slack_m: float = 0.0  # the largest bend of any edge
    edge_slacks_m: tuple[float, ...] = ()  # per edge, in the order of :func:`polygon_edges`
    written: BaseGeometry | None = None  # densified projection, when the bends matter

    def distance(self, geoms: object) -> np.ndarray:
        """Distance (metres) from geometries (array-like) to the zone as written; 0 inside."""
        d = shapely.distance(geoms, self.geometry if self.written is None else self.written) - self.radius_m
        return np.maximum(d, 0.0)

    def covers(self, xy: np.ndarray) -> np.ndarray:
        """For points (n, 2): whether each lies in the closed footprint (as projected or as written)."""
        pts = shapely.points(np.asarray(xy, dtype=float).reshape(-1, 2))
        if self.radius_m > 0:
            return shapely.distance(pts, self.geometry) <= self.radius_m
        inside = shapely.intersects(self.geometry, pts)
        if self.written is not None:
            inside |= shapely.intersects(self.written, pts)
        return inside


def footprint_in_frame(zone: Zone, frame: LocalFrame) -> Footprint:
    """Project a zone's footprint into the frame (polygon vertices are projected one by one)."""
    if zone.radius_m is not None:
        x, y = frame.to_xy(zone.shape.x, zone.shape.y)
        return Footprint(Point(float(x), float(y)), float(zone.radius_m))

    def project(shape: BaseGeometry) -> BaseGeometry:
        return shapely.transform(shape, lambda c: np.column_stack(frame.to_xy(c[:, 0], c[:, 1])))

    slacks = _edge_slacks(zone.shape, frame)
    worst = float(slacks.max(initial=0.0))
    written = project(shapely.segmentize(zone.shape, 0.001)) if worst > 1e-4 else None
    return Footprint(project(zone.shape), 0.0, worst, tuple(slacks.tolist()), written)


def polygon_edges(shape: BaseGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points (each (k, 2)) of every ring edge of a (multi)polygon, in ring order."""
    starts, ends = [], []
    for poly in _polygon_parts(shape):
        for ring in (poly.exterior, *poly.interiors):
            c = np.asarray(ring.coords)[:, :2]
            starts.append(c[:-1])
            ends.append(c[1:])
    return np.concatenate(starts), np.concatenate(ends)


def _edge_slacks(shape: BaseGeometry, frame: LocalFrame) -> np.ndarray:
    """Per edge: the largest distance between the lon/lat-straight edge (sampled) and its chord."""
    a, b = polygon_edges(shape)
    ax, ay = frame.to_xy(a[:, 0], a[:, 1])
    bx, by = frame.to_xy(b[:, 0], b[:, 1])
    dx, dy = bx - ax, by - ay
    length = np.hypot(dx, dy)
    worst = np.zeros(len(a))
    for t in (0.25, 0.5, 0.75):
        mid = a + t * (b - a)
        mx, my = frame.to_xy(mid[:, 0], mid[:, 1])
        off = np.abs(dx * (my - ay) - dy * (mx - ax)) / np.where(length > 0, length, 1.0)
        worst = np.maximum(worst, off)
    # the bend is a near-circular arc: its sagitta (t = 0.5) is the maximum; 10 % on top for safety
    return worst * 1.1


def _polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]


def buffered_outside(footprint: Footprint, margin_m: float, segments: int) -> BaseGeometry:
    """The footprint grown by ``margin_m``, approximated from outside (see module docstring)."""
    if footprint.radius_m > 0:
        c = footprint.geometry
        ring = circumscribed_ngon(footprint.radius_m + margin_m, segments) + np.array([c.x, c.y])
        return Polygon(ring)
    a, b = polygon_edges(footprint.geometry)
    # each edge grows by the margin plus its own bend (see Footprint): the union still contains
    # the zone as written grown by the margin, edge by edge
    slack = np.asarray(footprint.edge_slacks_m) if footprint.edge_slacks_m else np.zeros(len(a))
    radius = margin_m + slack
    grow = radius > 0
    if not grow.any():
        return footprint.geometry
    a, b, radius = a[grow], b[grow], radius[grow]
    ngon = circumscribed_ngon(1.0, segments)[None] * radius[:, None, None]
    # each edge swept by its n-gon: the convex hull of the n-gon at both ends
    clouds = np.concatenate([a[:, None, :] + ngon, b[:, None, :] + ngon], axis=1)
    hulls = shapely.convex_hull(shapely.multipoints(clouds))
    return shapely.union_all(np.concatenate([hulls, np.array([footprint.geometry], dtype=object)]))
