"""Terrain following: the altitudes a simulated drone flies for waypoints in the ``terrain`` frame
(pure, no I/O).

In the ``terrain`` altitude frame a waypoint's altitude is a **true height** (above the ground
below), and the drone follows the ground with its terrain model within its climb rate, as
MAVLink's ``GLOBAL_TERRAIN_ALT``. The simulated drone does what the planner computed: from each
stop to the next (and from the first waypoint to the first stop, from the last stop to the end),
the stretch's profile is :func:`airspace.terrain_profile.flown_profile` (the planner's rule)
along its waypoints, aiming for the stretch's true height (the largest of its waypoints') within
the band and the model's grade.
The result is a route above mean sea level with more waypoints than the mission's; the index of
each of the mission's waypoints in it is kept, so stops and re-routes keep theirs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain
from airspace.terrain_profile import flown_profile
from fleet.description import DroneModel

XYZ = tuple[float, float, float]
Waypoint = tuple[float, float, float]  # lon, lat, altitude
_SAME_POINT_M = 0.01


def _stretch(
    area: AreaTerrain, model: DroneModel, frame: LocalFrame, stretch: Sequence[Waypoint]
) -> tuple[list[XYZ], list[int]]:
    """The profile of one stretch (at least two waypoints) in the frame's x, y and altitude AMSL,
    and the index of each of its waypoints in it."""
    aim = max(w[2] for w in stretch)
    path = [(w[0], w[1]) for w in stretch]
    heights = flown_profile(area, path, cruise_m=aim, grade=model.grade, frame=frame)
    xy = frame.points_to_xy([(w[0], w[1]) for w in heights.waypoints])
    points = [(float(x), float(y), w[2]) for (x, y), w in zip(xy, heights.waypoints, strict=True)]
    vertex: list[int] = []
    k = 0
    for x, y in frame.points_to_xy(path):
        # Every waypoint of the path is kept in the profile, in order (a repeated one repeated).
        while k < len(points) and math.hypot(points[k][0] - x, points[k][1] - y) > _SAME_POINT_M:
            k += 1
        if k == len(points):
            raise AssertionError("a waypoint is missing from its profile")
        vertex.append(k)
        k += 1
    return points, vertex


def follow_terrain(
    area: AreaTerrain,
    model: DroneModel,
    frame: LocalFrame,
    waypoints: Sequence[Waypoint],
    stops_at: Iterable[int] = (),
) -> tuple[list[XYZ], list[int]]:
    """The route (x, y, altitude AMSL) a drone of ``model`` flies for ``waypoints`` (lon, lat,
    true height) with stops at the indices ``stops_at``, and the index of each waypoint in it."""
    if not waypoints:
        return [], []
    last = len(waypoints) - 1
    cuts = sorted({0, last, *(a for a in stops_at if 0 <= a <= last)})
    if len(cuts) == 1:
        (x, y) = frame.points_to_xy([(waypoints[0][0], waypoints[0][1])])[0]
        ground = area.terrain.height_at(waypoints[0][0], waypoints[0][1])
        return [(float(x), float(y), ground + waypoints[0][2])], [0]
    route: list[XYZ] = []
    vertex: list[int] = [0]
    for a, b in itertools.pairwise(cuts):
        points, idx = _stretch(area, model, frame, waypoints[a : b + 1])
        if route:
            # The stop between two stretches: the drone climbs back to the higher of the two.
            x, y, alt = route[-1]
            route[-1] = (x, y, max(alt, points[0][2]))
            points = points[1:]
            idx = [i - 1 for i in idx]
        offset = len(route)
        route += points
        vertex += [offset + i for i in idx[1:]]
    return route, vertex
