"""Controlled airspace: which zones of kind ``controlled`` a trip enters, and whether it flies above
the area's ceiling; both need the authority's approval before take-off (pure: no I/O).

The path finder and the planner treat every zone they are given as a no-fly zone, whatever its
kind. Which zones they are given is the caller's choice (:func:`split_zones`): with approval mode
on, the dispatcher gives them the ``no_fly`` zones only, so trips may be routed through controlled
zones, and asks :func:`controlled_airspace` which controlled zones each committed trip enters;
with approval mode off, a controlled zone is avoided like a no-fly zone.

A leg **enters** a controlled zone in force at any instant of the leg's flight window when

- its cruise (the line through its waypoints, at its highest waypoint altitude) meets the zone's
  footprint grown by the zone's ``margin_m`` and the zone's band ``[floor_m, ceiling_m]`` contains
  that altitude, or
- one of its ends (a take-off or landing) lies in that grown footprint and the zone's floor is at
  or below the cruise altitude (the drone climbs or descends through it),

the same rules that make a no-fly zone block a leg (docs/reference/zones.md), so a flight that
passes within a controlled zone's margin asks too. The footprint is grown from outside
(:func:`airspace.obstacles.buffered_outside`): it always contains the true margin region. A leg
counts as entering only when it goes more than :data:`TOLERANCE_M` into it: a path planned around
the zone (one it was denied) runs along that boundary, and must not count as entering it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shapely.geometry import LineString, Point

from airspace.frame import LocalFrame
from airspace.obstacles import DEFAULT_CIRCLE_SEGMENTS, buffered_outside, footprint_in_frame
from airspace.zones import CONTROLLED, NO_FLY, Zone

Waypoint = tuple[float, float, float]  # lon, lat, altitude (m)
TOLERANCE_M = 0.5  # as the validator's and the re-route scans' margin tolerance


@dataclass(frozen=True, slots=True)
class FlownLeg:
    """What the check needs of a leg: its waypoints and its flight window."""

    waypoints: Sequence[Waypoint]
    depart: datetime
    arrive: datetime


@dataclass(frozen=True, slots=True)
class ControlledAirspace:
    """The controlled airspace a trip enters: the controlled zones (ids, in the zones' order) and
    its highest altitude when that is above the area's ceiling (None when it is not)."""

    zone_ids: tuple[str, ...] = ()
    above_ceiling_m: float | None = None

    @property
    def needs_approval(self) -> bool:
        """Whether the trip may take off only with the authority's approval."""
        return bool(self.zone_ids) or self.above_ceiling_m is not None


def split_zones(zones: Iterable[Zone], *, route_through: bool) -> tuple[list[Zone], list[Zone]]:
    """(the zones the path finder avoids, the controlled zones flown through with approval).

    ``route_through`` (approval mode on): controlled zones are set apart; off: every zone is
    avoided (a controlled zone is then a no-fly zone: nobody asks for the approval to enter it)."""
    zones = list(zones)
    if not route_through:
        return zones, []
    return [z for z in zones if z.kind != CONTROLLED], [z for z in zones if z.kind == CONTROLLED]


def as_no_fly(zones: Iterable[Zone]) -> list[Zone]:
    """The zones as no-fly zones (a controlled zone the authority denied: avoided from now on)."""
    return [dataclasses.replace(z, kind=NO_FLY) for z in zones]


def controlled_airspace(
    legs: Sequence[FlownLeg],
    controlled: Sequence[Zone],
    *,
    ceiling_m: float | None = None,
    circle_segments: int = DEFAULT_CIRCLE_SEGMENTS,
) -> ControlledAirspace:
    """The controlled zones among ``controlled`` that the legs enter (rules: module docstring), and
    the legs' highest altitude if it is above ``ceiling_m`` (None: no ceiling)."""
    points = [(w[0], w[1]) for leg in legs for w in leg.waypoints]
    top = max((w[2] for leg in legs for w in leg.waypoints), default=0.0)
    above = top if ceiling_m is not None and top > ceiling_m else None
    if not points or not controlled:
        return ControlledAirspace((), above)
    anchors = [(z.shape.centroid.x, z.shape.centroid.y) for z in controlled]
    frame = LocalFrame.for_points(points + anchors)
    grown = {
        z.id: buffered_outside(footprint_in_frame(z, frame), z.margin_m, circle_segments).buffer(-TOLERANCE_M)
        for z in controlled
    }
    entered: set[str] = set()
    for leg in legs:
        if not leg.waypoints:
            continue
        alt = max(w[2] for w in leg.waypoints)
        xy = [tuple(p) for p in frame.points_to_xy([(w[0], w[1]) for w in leg.waypoints])]
        cruise = LineString(xy) if len(xy) > 1 else Point(xy[0])
        ends = [Point(xy[0]), Point(xy[-1])]
        for z in controlled:
            if z.id in entered or not z.active_during(leg.depart, leg.arrive):
                continue
            region = grown[z.id]
            if (z.blocks_altitude(alt) and cruise.intersects(region)) or (
                z.floor_m <= alt and any(e.intersects(region) for e in ends)
            ):
                entered.add(z.id)
    return ControlledAirspace(tuple(z.id for z in controlled if z.id in entered), above)
