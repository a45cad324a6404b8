"""Re-routing a mission in flight around zones that appeared after it was planned (pure geometry).

:func:`crosses` says whether the rest of a mission (from the drone's position on) comes within a
zone's margin; :func:`next_waypoint` finds which waypoint a drone is flying to from its position;
:func:`replacement` builds the safe replacement from the drone's position through the remaining
stops to the mission's port, with the stops re-indexed for a ``reroute`` command; :func:`paths_home`
finds the ports a drone in the air can reach, nearest first, and :func:`pick_return` the one a
drone sent home flies to.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shapely.geometry import LineString, Point

from airspace.paths import Airspace, AirspaceError, FlightPath
from dispatch.service.missions import StopSpec, Waypoint
from routing.matrices import ZONE_TIME_BUFFER_S

ON_SEGMENT_M = 3.0  # a position this close to a segment is on it
AT_POINT_M = 0.5
# Safe paths run along the margin's boundary, their vertices on it to within 1e-9 m on either
# side: a path counts as entering a margin only when it goes this far into it (the validator's
# tolerance too).
MARGIN_TOLERANCE_M = 0.5


@dataclass(frozen=True, slots=True)
class Replacement:
    """Waypoints from ``from_index`` on (the drone flies from where it is to the first) and the stops."""

    from_index: int
    waypoints: tuple[Waypoint, ...]
    stops: tuple[StopSpec, ...]


def _xy(airspace: Airspace, lonlat: Sequence[float]) -> tuple[float, float]:
    assert airspace.frame is not None
    x, y = airspace.frame.to_xy(lonlat[0], lonlat[1])
    return float(x), float(y)


def crosses(
    airspace: Airspace,
    zone_ids: Sequence[str],
    position: Sequence[float],
    waypoints: Sequence[Waypoint],
    next_index: int,
    at: datetime,
    until: datetime,
) -> list[str]:
    """Ids of the zones (among ``zone_ids``, in force during [at, until] at the cruise altitude)
    whose margin the path ``position -> waypoints[next_index] -> ... -> last`` enters."""
    if airspace.frame is None or not waypoints:
        return []
    alt = max(w[2] for w in waypoints)
    pts = [_xy(airspace, position)] + [_xy(airspace, w) for w in waypoints[next_index:]]
    line = LineString(pts) if len(pts) > 1 else Point(pts[0])
    hit = []
    for z in airspace.zones:
        if z.id not in zone_ids or not z.active_during(at, until) or not z.blocks_altitude(alt):
            continue
        if line.intersects(airspace.buffered_shape(z.id).buffer(-MARGIN_TOLERANCE_M)):
            hit.append(z.id)
    return hit


def route_clear(
    airspace: Airspace, waypoints: Sequence[Waypoint], depart: datetime, arrive: datetime
) -> bool:
    """Whether a route flown from ``depart`` to ``arrive`` meets no zone in force meanwhile, with
    the planner's zone buffer (:data:`routing.matrices.ZONE_TIME_BUFFER_S`) either side: a route
    moved to a later departure is checked again, since a temporary zone it passed before may be in
    force by then (coarse on purpose: any zone in force at any time of the flight counts)."""
    if not waypoints:
        return True
    buffer = timedelta(seconds=ZONE_TIME_BUFFER_S)
    every = [z.id for z in airspace.zones]
    return not crosses(airspace, every, waypoints[0], waypoints, 0, depart - buffer, arrive + buffer)


def next_waypoint(
    airspace: Airspace, position: Sequence[float], waypoints: Sequence[Waypoint], first: int
) -> int:
    """The index of the waypoint a drone at ``position`` flies to (searching from segment ``first``)."""
    p = Point(_xy(airspace, position))
    xy = [_xy(airspace, w) for w in waypoints]
    best, best_d = max(first, 1), math.inf
    for k in range(max(first, 1), len(xy)):
        d = LineString([xy[k - 1], xy[k]]).distance(p) if xy[k - 1] != xy[k] else Point(xy[k]).distance(p)
        if d < best_d - 1e-9:
            best, best_d = k, d
        if d <= ON_SEGMENT_M:
            best = k
            break
    if Point(xy[best]).distance(p) <= AT_POINT_M and best + 1 < len(xy):
        return best + 1
    return best


def rest_of_route(
    airspace: Airspace,
    position: Sequence[float],
    waypoints: Sequence[Waypoint],
    stops: Sequence[StopSpec],
    reached_at: int,
) -> Replacement:
    """The rest of a route for a drone at ``position`` (its last stop reached at waypoint
    ``reached_at``): from the waypoint it flies to on, with the stops still ahead. A drone over a
    stop's waypoint it has not reached yet (arriving at a pad) has that stop ahead of it, so the
    rest starts at that waypoint."""
    first = next_waypoint(airspace, position, waypoints, max(1, reached_at))
    over = first - 1
    if (
        over > reached_at
        and any(s.at == over for s in stops)
        and math.dist(_xy(airspace, position), _xy(airspace, waypoints[over])) <= AT_POINT_M
    ):
        first = over
    return Replacement(first, tuple(waypoints[first:]), tuple(s for s in stops if s.at >= first))


def replacement(
    airspace: Airspace,
    position: Sequence[float],
    waypoints: Sequence[Waypoint],
    stops: Sequence[StopSpec],
    from_index: int,
    at: datetime,
    *,
    speed_mps: float,
    service_s: float,
    slack: timedelta = timedelta(minutes=5),
) -> Replacement:
    """Safe waypoints from ``position`` through the stops at or after ``from_index`` to the last
    waypoint (the port). Raises :class:`AirspaceError` when no safe path exists.

    Each piece (to the next stop, to the port) counts the zones in force from ``at`` until the
    drone's estimated arrival there (flight at ``speed_mps``, ``service_s`` per stop) plus
    ``slack``: a zone that starts after the drone has left a pad does not block that pad.
    """
    alt = max(w[2] for w in waypoints)
    pending = [s for s in stops if s.at >= from_index]
    # Targets in stop order, consecutive stops at the same place merged; ``group[i]`` is the target
    # of ``pending[i]``. A place visited twice (a pickup at A, a hand-over at B, then a hand-over
    # back at A) is two targets: keying stops by place would move the first visit to the second.
    targets: list[tuple[float, float]] = []
    group: list[int] = []
    for s in pending:
        w = waypoints[s.at]
        if not targets or targets[-1] != (w[0], w[1]):
            targets.append((w[0], w[1]))
        group.append(len(targets) - 1)
    end = (waypoints[-1][0], waypoints[-1][1])
    if not targets or targets[-1] != end:
        targets.append(end)
    new: list[Waypoint] = []
    index_of: list[int] = []
    here = (float(position[0]), float(position[1]))
    elapsed = 0.0
    for target in targets:
        if here == target:
            new.append((here[0], here[1], alt))
        else:
            straight = math.dist(_xy(airspace, here), _xy(airspace, target))
            until = at + timedelta(seconds=elapsed + 2.0 * straight / speed_mps) + slack
            path = airspace.shortest_path(here, target, altitude_m=alt, at=at, until=until)
            new += [(float(q[0]), float(q[1]), alt) for q in path.waypoints[1:]]
            elapsed += path.length_m / speed_mps + service_s
        index_of.append(from_index + len(new) - 1)
        here = target
    new_stops = tuple(
        StopSpec(index_of[g], s.action, s.request_id, s.payload_kg)
        for s, g in zip(pending, group, strict=True)
    )
    if not new:
        raise AirspaceError("unreachable", "empty replacement path")
    return Replacement(from_index, tuple(new), new_stops)


def paths_home(
    airspace: Airspace,
    position: Sequence[float],
    ports: Sequence[tuple[str, float, float]],
    *,
    altitude_m: float,
    at: datetime,
    until: datetime,
) -> list[tuple[str, FlightPath]]:
    """Every port (id, path) a drone in the air at ``position`` reaches on a safe path, nearest
    first. ``ports`` are ``(id, lon, lat)``.

    In the air only the zones that block the cruise altitude matter for where the drone is: one
    held above a zone whose ceiling is below the cruise (a crane) is not "inside" it, and must not
    be left hovering there until its battery empties. The port itself is checked with every zone,
    since the drone descends there.
    """
    cruise = Airspace([z for z in airspace.zones if z.blocks_altitude(altitude_m)], frame=airspace.frame)
    found: list[tuple[str, FlightPath]] = []
    for port_id, lon, lat in ports:
        try:
            airspace.check_point((lon, lat), altitude_m=altitude_m, at=at, until=until)
            path = cruise.shortest_path(position, (lon, lat), altitude_m=altitude_m, at=at, until=until)
        except AirspaceError:
            continue
        found.append((port_id, path))
    return sorted(found, key=lambda pp: pp[1].length_m)


BELOW_ROUTE_M = 5.0  # a drone held this far below its route's band is at a pad (or climbing out)


def finishing_s(alt_m: float, waypoints: Sequence[Waypoint], half_band_m: float, service_s: float) -> float:
    """How long a drone held at true height ``alt_m`` first stays where it is once resumed: held
    below its route's band it was servicing a pad (descending, on the ground or climbing back),
    which it finishes first, ``service_s`` at most; else 0."""
    if not waypoints:
        return 0.0
    cruise = max(w[2] for w in waypoints)
    return service_s if alt_m < cruise - half_band_m - BELOW_ROUTE_M else 0.0


RETURN_DETOUR = 1.5  # a port this many times farther than the nearest may be taken to keep clear


def pick_return(
    options: Sequence[tuple[str, FlightPath]],
    clear: Callable[[str, FlightPath], bool],
    affordable: Callable[[FlightPath], bool],
) -> tuple[str, FlightPath, bool] | None:
    """The port a drone sent home flies to, among ``options`` (nearest first): the nearest whose
    return keeps ``clear`` of the other drones' intents, within :data:`RETURN_DETOUR` of the
    nearest and ``affordable`` (its battery); else the nearest, not clear. The flag says which."""
    if not options:
        return None
    limit = options[0][1].length_m * RETURN_DETOUR
    for port_id, path in options:
        if path.length_m > limit or not affordable(path):
            break
        if clear(port_id, path):
            return port_id, path, True
    return options[0][0], options[0][1], False
