"""Zone geometry in metres shared by the planner and the validator: altitude columns, signed
clearances, extents.

Clearance is measured against the **true** zone footprint (``airspace.obstacles.footprint_in_frame``:
a polygon projected vertex by vertex, or a disc as centre + radius) and is signed: negative inside.
A geometry keeps clear of a zone when its clearance is at least the zone's ``margin_m``.
"""

from __future__ import annotations

import math

import shapely
from shapely import Point
from shapely.geometry.base import BaseGeometry

from airspace.frame import LocalFrame
from airspace.obstacles import Footprint, footprint_in_frame
from airspace.zones import Zone


def column_overlaps(zone: Zone, cruise_altitude_m: float) -> bool:
    """Whether the zone's band meets a pad's climb/descent column ``[0, cruise_altitude_m]``."""
    return zone.floor_m <= cruise_altitude_m


def clearance_m(footprint: Footprint, geom_xy: BaseGeometry) -> float:
    """Signed distance in metres from a metric geometry to a footprint (negative when inside)."""
    if footprint.radius_m > 0:
        return float(shapely.distance(geom_xy, footprint.geometry)) - footprint.radius_m
    if shapely.intersects(geom_xy, footprint.geometry):
        depth = (
            float(shapely.distance(footprint.geometry.boundary, geom_xy))
            if isinstance(geom_xy, Point)
            else 0.0
        )
        return -max(depth, 1e-6)
    return float(shapely.distance(geom_xy, footprint.geometry))


def zone_extent_m(zone: Zone, frame: LocalFrame) -> float:
    """The largest distance across the zone (its diameter, or the diagonal of its bounding box)."""
    fp = footprint_in_frame(zone, frame)
    if fp.radius_m > 0:
        return 2 * fp.radius_m
    minx, miny, maxx, maxy = fp.geometry.bounds
    return math.hypot(maxx - minx, maxy - miny)
