"""The operational intent of a route given as waypoints (a re-route, a return to port, a hold).

The planner's trips carry their own timing; a replacement route made in flight is only waypoints
and stops. :func:`route_trip` times it as the drone flies it (straight pieces at cruise speed, each
stop ``service_s``, legs split at the stops, the last one gliding into its port), so that
:func:`routing.intents.trip_intent` draws its intent like any planned trip's;
:func:`hold_intent` is a drone hovering in place. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from airspace.frame import LocalFrame
from routing.intents import IntentParams, OperationalIntent, Volume
from routing.problem import PORT, START, Leg, Trip

Waypoint = tuple[float, float, float]


def route_trip(
    start: Sequence[float],
    waypoints: Sequence[Waypoint],
    stops: Sequence[tuple[int, str, str]],
    end_port: str | None,
    depart: datetime,
    *,
    speed_mps: float,
    service_s: float,
    frame: LocalFrame,
    from_port: str | None = None,
    true_height_m: tuple[float, float] | None = None,
) -> Trip:
    """The trip flown from ``start`` (lon, lat) through ``waypoints`` from ``depart``.

    ``stops``: ``(k, kind, request_id)`` with ``k`` the index in ``waypoints`` of the stop's place
    and ``kind`` ``pickup`` or ``dropoff``; ``end_port``: the port the last waypoint is (None: the
    route ends in the air, e.g. a hold); ``from_port``: the port ``start`` is, when the drone has
    not taken off yet (it climbs out on the first leg); ``true_height_m``: over terrain, the least
    and most true height the drone may fly at (its intent's bands cover them)."""
    alt = max((w[2] for w in waypoints), default=0.0)
    points: list[Waypoint] = [(float(start[0]), float(start[1]), alt), *waypoints]
    at_stop: dict[int, list[tuple[str, str]]] = {}
    for k, kind, rid in stops:
        at_stop.setdefault(k + 1, []).append((kind, rid))
    legs: list[Leg] = []
    t = depart
    begin = 0
    from_kind, from_id = (PORT, from_port) if from_port else (START, "start")
    for i in range(1, len(points)):
        last = i == len(points) - 1
        if i not in at_stop and not last:
            continue
        piece = points[begin : i + 1]
        xy = frame.points_to_xy([(p[0], p[1]) for p in piece])
        length = float(sum(math.dist(xy[j], xy[j + 1]) for j in range(len(xy) - 1)))
        # A route that ends in the air (a hold) ends like one that starts there: at a "start".
        targets = at_stop.get(i) or [(PORT, end_port) if end_port else (START, "air")]
        # Several stops at one place are serviced one after the other (as the simulator and the
        # planner do: a zero-length leg and a full service each), not once for all.
        for n, (to_kind, to_id) in enumerate(targets):
            flown, span = (length, tuple(piece)) if n == 0 else (0.0, (points[i], points[i]))
            arrive = t + timedelta(seconds=flown / speed_mps)
            legs.append(
                Leg(
                    from_kind,
                    from_id,
                    to_kind,
                    to_id,
                    t,
                    arrive,
                    flown,
                    0.0,
                    0.0,
                    span,
                    true_height_m=true_height_m,
                )
            )
            from_kind, from_id = to_kind, to_id
            t = arrive + timedelta(seconds=service_s)
        begin = i
    return Trip(tuple(legs))


def hold_intent(
    drone_id: str,
    position: Sequence[float],
    altitude_m: float,
    start: datetime,
    duration_s: float,
    frame: LocalFrame,
    params: IntentParams | None = None,
    *,
    floor_m: float = 0.0,
) -> OperationalIntent:
    """A drone hovering at ``position`` from ``start`` for ``duration_s``: a column from ``floor_m``
    (default the ground: a long hold may have to land there) to its altitude band, widened by the
    timing margin."""
    p = params or IntentParams()
    x, y = (float(c) for c in frame.to_xy(float(position[0]), float(position[1])))
    t0 = start.timestamp() - p.timing_margin_s
    t1 = t0 + duration_s + 2 * p.timing_margin_s
    vol = Volume(x, y, x, y, p.radius_m, max(0.0, floor_m), altitude_m + p.half_band_m, t0, t1)
    return OperationalIntent(drone_id, 1, (frame.lon0, frame.lat0), (vol,))
