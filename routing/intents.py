"""Operational intents: the 4D volumes a planned trip may occupy (strategic deconfliction, F3548 shape).

A trip's :class:`OperationalIntent` is a sequence of :class:`Volume` s, computed in a local metric
frame (:func:`intent_frame`, centred on the fleet's ports) and converted to ASTM F3548-21
``Volume4D`` only at the edge (:func:`to_f3548`):

- **en route**: every straight segment of every leg is cut into pieces of at most
  ``IntentParams.piece_s`` seconds of flight; a piece's outline is the segment buffered laterally
  by ``horizontal_m / 2 + position_uncertainty_m`` (a capsule), its altitude band the leg's cruise
  altitude ``± (vertical_m / 2 + altitude_uncertainty_m)``, its time window the piece's planned
  times widened by the timing margin ``timing_margin_s + timing_growth x (seconds since the trip
  departed)`` on both sides;
- **pads**: at a pickup or drop-off the drone descends, is serviced (and may wait) and climbs: a
  column over the pad (a circle of the same radius) from the ground to the higher of the two
  adjacent cruise altitudes plus the half band, from landing to take-off, widened by the margin;
- **ports**: a drone climbs out of a port while it flies its first leg, and glides into one while
  it flies its last (at ``climb_mps``, as the simulator and common delivery drones do): the
  en-route pieces flown then reach down to the ground. Take-off and landing are also a column
  over the port for ``port_slot_s`` centred on the trip's first departure and on its last
  arrival; such a column names its port (``resource``), so the port's ``landing_spots`` bound how
  many may overlap (``routing.separation``).

Two intents whose volumes intersect are in conflict: with both buffers at half the horizontal
minimum, intersecting outlines are the only way the centre lines can come closer than the minimum.
Times are POSIX seconds (floats). Everything here is pure: no I/O, no event loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import shapely
from uas_standards.astm.f3548.v21 import api as f3548  # type: ignore[import-untyped]  # no py.typed marker

from airspace.frame import LocalFrame
from fleet.description import Fleet
from routing.problem import PORT, START, Trip

ACCEPTED = f3548.OperationalIntentState.Accepted.value
CONTINGENT = f3548.OperationalIntentState.Contingent.value  # where a drone may be, off its plan
PORT_SLOT_S = 30.0


@dataclass(frozen=True, slots=True)
class SeparationMinima:
    """Two airborne drones lose separation when closer than both at once (metres)."""

    horizontal_m: float = 50.0
    vertical_m: float = 15.0


@dataclass(frozen=True, slots=True)
class IntentParams:
    """How intents are drawn around the planned trajectory (defaults documented in the planner docs)."""

    minima: SeparationMinima = field(default_factory=SeparationMinima)
    position_uncertainty_m: float = 5.0  # lateral navigation error
    altitude_uncertainty_m: float = 0.0  # vertical navigation error (layers leave room for it)
    piece_s: float = 15.0  # longest piece of flight per en-route volume
    timing_margin_s: float = 5.0  # timing uncertainty at departure
    timing_growth: float = 0.01  # extra timing uncertainty per second since departure
    port_slot_s: float = PORT_SLOT_S  # a take-off or a landing occupies the port this long
    climb_mps: float = 5.0  # vertical speed of the climb-out from and the glide into a port
    low_piece_s: float = 5.0  # longest piece of the climb-out and the glide-in

    @property
    def radius_m(self) -> float:
        """Lateral half-width of every volume."""
        return self.minima.horizontal_m / 2 + self.position_uncertainty_m

    @property
    def half_band_m(self) -> float:
        """Half-height of an en-route altitude band."""
        return self.minima.vertical_m / 2 + self.altitude_uncertainty_m


class Volume(NamedTuple):
    """A 4D volume: segment ``a``-``b`` (metres, local frame) buffered by ``radius_m``, an altitude
    band ``[lo_m, hi_m]`` and a time window ``[t0, t1]`` (POSIX seconds). ``resource`` names the
    port of a take-off/landing column (``None`` otherwise).

    A named tuple, not a frozen dataclass: deconfliction makes hundreds of thousands of them in a
    city's round (every trip at every layer and delay it tries), and a frozen dataclass took 3 us
    each to make against 0.4 us."""

    ax: float
    ay: float
    bx: float
    by: float
    radius_m: float
    lo_m: float
    hi_m: float
    t0: float
    t1: float
    resource: str | None = None

    @property
    def is_column(self) -> bool:
        """A column over a pad or port (a circle from the ground)."""
        return self.ax == self.bx and self.ay == self.by and self.lo_m == 0.0

    def bbox(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 of the outline."""
        r = self.radius_m
        return (
            min(self.ax, self.bx) - r,
            min(self.ay, self.by) - r,
            max(self.ax, self.bx) + r,
            max(self.ay, self.by) + r,
        )

    def outline(self) -> shapely.Polygon:
        """The outline as a polygon in the local frame (a buffered segment or a circle)."""
        if self.ax == self.bx and self.ay == self.by:
            return shapely.Point(self.ax, self.ay).buffer(self.radius_m, quad_segs=8)
        return shapely.LineString([(self.ax, self.ay), (self.bx, self.by)]).buffer(self.radius_m, quad_segs=8)


@dataclass(frozen=True, slots=True)
class OperationalIntent:
    """The volumes of one trip of one drone, in the frame centred on ``frame_centre`` (lon, lat)."""

    drone_id: str
    trip: int  # 1-based within the drone's plan
    frame_centre: tuple[float, float]
    volumes: tuple[Volume, ...]
    state: str = ACCEPTED
    # Over terrain, the trip's cruise layer: its en-route bands cover the true heights flown
    # around it, and :func:`shifted` moves them with the layer instead of resetting them.
    layer_m: float | None = None

    @property
    def start(self) -> float:
        """Earliest instant of the intent (POSIX seconds)."""
        return min(v.t0 for v in self.volumes)

    @property
    def end(self) -> float:
        """Latest instant of the intent (POSIX seconds)."""
        return max(v.t1 for v in self.volumes)


def intent_frame(fleet: Fleet) -> LocalFrame:
    """The metric frame intents are computed in: centred on the fleet's ports (stable per fleet)."""
    return LocalFrame.for_points([(p.lon, p.lat) for p in fleet.ports])


def reframed(intent: OperationalIntent, frame: LocalFrame) -> OperationalIntent:
    """The same intent with its volumes expressed in ``frame``."""
    if intent.frame_centre == (frame.lon0, frame.lat0):
        return intent
    old = LocalFrame.centred_on(*intent.frame_centre)
    ends = np.asarray([(v.ax, v.ay, v.bx, v.by) for v in intent.volumes], dtype=float).reshape(-1, 2)
    xy = frame.points_to_xy(old.points_to_lonlat(ends)).reshape(-1, 4)
    vols = [
        Volume(
            float(r[0]),
            float(r[1]),
            float(r[2]),
            float(r[3]),
            v.radius_m,
            v.lo_m,
            v.hi_m,
            v.t0,
            v.t1,
            v.resource,
        )
        for r, v in zip(xy, intent.volumes, strict=True)
    ]
    return OperationalIntent(
        intent.drone_id, intent.trip, (frame.lon0, frame.lat0), tuple(vols), intent.state, intent.layer_m
    )


def _cuts(
    length: float, speed: float, t0: float, low_until: float, low_from: float, p: IntentParams
) -> list[tuple[float, float]]:
    """Fractions (f0, f1) of a segment flown from ``t0`` at ``speed``: pieces of at most
    ``piece_s``, and of at most ``low_piece_s`` while the drone climbs out or glides in."""
    if speed <= 0 or length <= 0:
        return [(0.0, 1.0)]
    dur = length / speed
    n = max(1, math.ceil(dur / p.piece_s))
    out: list[tuple[float, float]] = []
    for j in range(n):
        f0, f1 = j / n, (j + 1) / n
        ta, tb = t0 + f0 * dur, t0 + f1 * dur
        if ta < low_until or tb > low_from:
            m = max(1, math.ceil((tb - ta) / p.low_piece_s))
            out += [(f0 + (f1 - f0) * q / m, f0 + (f1 - f0) * (q + 1) / m) for q in range(m)]
        else:
            out.append((f0, f1))
    return out


def _margin(params: IntentParams, t: float, t_dep: float) -> float:
    return params.timing_margin_s + params.timing_growth * max(0.0, t - t_dep)


def trip_intent(
    drone_id: str, trip_no: int, trip: Trip, frame: LocalFrame, params: IntentParams | None = None
) -> OperationalIntent:
    """The operational intent of one planned trip (see the module docstring for its volumes)."""
    p = params or IntentParams()
    r, half = p.radius_m, p.half_band_m
    legs = trip.legs
    t_dep = legs[0].depart.timestamp()
    vols: list[Volume] = []

    def column(xy: tuple[float, float], top: float, t0: float, t1: float, resource: str | None) -> None:
        vols.append(
            Volume(
                xy[0],
                xy[1],
                xy[0],
                xy[1],
                r,
                0.0,
                top + half,
                t0 - _margin(p, t0, t_dep),
                t1 + _margin(p, t1, t_dep),
                resource,
            )
        )

    terrain = any(leg.true_height_m is not None for leg in legs)
    prev_end: tuple[float, float] | None = None
    prev_alt = 0.0
    prev_arrive = t_dep
    for k, leg in enumerate(legs):
        alt = leg.waypoints[0][2]
        # Over terrain the true height moves around the layer: the band covers all of it.
        low_h, high_h = leg.true_height_m or (alt, alt)
        bottom, top_h = min(alt, low_h) - half, max(alt, high_h)
        xy = frame.points_to_xy([(w[0], w[1]) for w in leg.waypoints])
        dep, arr = leg.depart.timestamp(), leg.arrive.timestamp()
        first = (float(xy[0, 0]), float(xy[0, 1]))
        slot = p.port_slot_s / 2
        low_until = dep + alt / p.climb_mps if k == 0 and leg.from_kind == PORT else -math.inf
        low_from = arr - alt / p.climb_mps if k == len(legs) - 1 and leg.to_kind == PORT else math.inf
        if k == 0 and leg.from_kind == PORT:
            column(first, top_h, dep - slot, dep + slot, f"port:{leg.from_id}")
        elif k > 0 and leg.from_kind != START:
            column(prev_end or first, max(top_h, prev_alt), prev_arrive, dep, None)
        seg = [math.hypot(*(xy[i + 1] - xy[i])) for i in range(len(xy) - 1)]
        total = sum(seg)
        speed = total / (arr - dep) if arr > dep and total > 0 else 0.0
        s_done = 0.0
        for i, length in enumerate(seg):
            t_seg = dep + s_done / speed if speed > 0 else dep
            for f0, f1 in _cuts(length, speed, t_seg, low_until, low_from, p):
                a, b = xy[i] + (xy[i + 1] - xy[i]) * f0, xy[i] + (xy[i + 1] - xy[i]) * f1
                ta = dep + (s_done + length * f0) / speed if speed > 0 else dep
                tb = dep + (s_done + length * f1) / speed if speed > 0 else arr
                # Climbing out or gliding in: the piece reaches down to the lowest height flown
                # in it (over terrain, to the ground: heights there follow the ground).
                floor = 0.0
                if not terrain and (ta < low_until or tb > low_from):
                    floor = max(0.0, min(p.climb_mps * (ta - dep), p.climb_mps * (arr - tb)) - half)
                vols.append(
                    Volume(
                        float(a[0]),
                        float(a[1]),
                        float(b[0]),
                        float(b[1]),
                        r,
                        floor if ta < low_until or tb > low_from else bottom,
                        top_h + half,
                        ta - _margin(p, ta, t_dep),
                        tb + _margin(p, tb, t_dep),
                    )
                )
            s_done += length
        if not seg:
            vols.append(
                Volume(
                    *first,
                    *first,
                    r,
                    bottom,
                    top_h + half,
                    dep - _margin(p, dep, t_dep),
                    arr + _margin(p, arr, t_dep),
                )
            )
        prev_end = (float(xy[-1, 0]), float(xy[-1, 1]))
        prev_alt, prev_arrive = top_h, arr
        if k == len(legs) - 1 and leg.to_kind == PORT:
            column(prev_end, top_h, arr - slot, arr + slot, f"port:{leg.to_id}")
    over_terrain = any(leg.true_height_m is not None for leg in legs)
    layer = legs[0].waypoints[0][2] if over_terrain and legs and legs[0].waypoints else None
    return OperationalIntent(drone_id, trip_no, (frame.lon0, frame.lat0), tuple(vols), layer_m=layer)


def shifted(
    intent: OperationalIntent, delay_s: float, altitude_m: float, half_band_m: float
) -> OperationalIntent:
    """The intent of the same trip departing ``delay_s`` later with every leg at ``altitude_m``
    (what :func:`trip_intent` gives for the moved trip, without projecting anything again). An
    intent over terrain (``layer_m`` set) has its bands moved by the change of layer instead.

    Over flat ground the climb-out and glide-in pieces are drawn for the trip's own altitude (how
    long it climbs): shifting to another altitude raises ``ValueError``; draw the trip moved there.
    """
    lo, hi = altitude_m - half_band_m, altitude_m + half_band_m
    lift = None if intent.layer_m is None else altitude_m - intent.layer_m
    own = next((v.hi_m - half_band_m for v in intent.volumes if v.lo_m > 0.0), altitude_m)
    if lift is None and abs(own - altitude_m) > 1e-6:
        raise ValueError(f"an intent over flat ground is shifted at its own altitude, not {altitude_m} m")
    vols = tuple(
        Volume(
            v.ax,
            v.ay,
            v.bx,
            v.by,
            v.radius_m,
            _floor(v, lo, lift, half_band_m),
            hi if lift is None else v.hi_m + lift,
            v.t0 + delay_s,
            v.t1 + delay_s,
            v.resource,
        )
        for v in intent.volumes
    )
    return replace(intent, volumes=vols)


def _floor(v: Volume, lo: float, lift: float | None, half_band_m: float) -> float:
    """The floor of a shifted volume: the ground stays the ground; a piece of the climb-out or
    glide-in (a band deeper than an en-route one) keeps its floor, the height flown then; an
    en-route band moves to the new layer (over terrain: by the change of layer)."""
    if v.lo_m == 0.0:
        return 0.0
    if lift is not None:
        return v.lo_m + lift
    if v.hi_m - v.lo_m > 2 * half_band_m + 1e-6:
        return v.lo_m
    return lo


def plan_intents(
    drones: Iterable[tuple[str, tuple[Trip, ...]]], frame: LocalFrame, params: IntentParams | None = None
) -> tuple[OperationalIntent, ...]:
    """The intents of every trip of every drone, as (drone id, trips) pairs."""
    return tuple(
        trip_intent(did, k, trip, frame, params)
        for did, trips in drones
        for k, trip in enumerate(trips, 1)
        if trip.legs
    )


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def volume_lonlat(volume: Volume, frame: LocalFrame) -> list[tuple[float, float]]:
    """The outline ring of a volume in lon/lat (closed)."""
    ring = shapely.get_coordinates(volume.outline().exterior)
    return frame.points_to_lonlat(ring)


def to_f3548(intent: OperationalIntent) -> list[f3548.Volume4D]:
    """The intent as ASTM F3548-21 ``Volume4D`` s (polygons en route, circles over pads and ports).

    Altitudes are the plan's (metres above the take-off ground) under the only reference F3548
    knows (``W84``): an exchange with other USSs would add the ground's ellipsoidal height.
    """
    frame = LocalFrame.centred_on(*intent.frame_centre)
    out = []
    for v in intent.volumes:
        alt = {
            "altitude_lower": f3548.Altitude(value=v.lo_m, reference="W84", units="M"),
            "altitude_upper": f3548.Altitude(value=v.hi_m, reference="W84", units="M"),
        }
        if v.ax == v.bx and v.ay == v.by:
            lon, lat = frame.to_lonlat(v.ax, v.ay)
            vol3 = f3548.Volume3D(
                outline_circle=f3548.Circle(
                    center=f3548.LatLngPoint(lat=float(lat), lng=float(lon)),
                    radius=f3548.Radius(value=v.radius_m, units="M"),
                ),
                **alt,
            )
        else:
            ring = volume_lonlat(v, frame)[:-1]  # F3548 polygons are implicitly closed
            vol3 = f3548.Volume3D(
                outline_polygon=f3548.Polygon(
                    vertices=[f3548.LatLngPoint(lat=la, lng=lo) for lo, la in ring]
                ),
                **alt,
            )
        out.append(
            f3548.Volume4D(
                volume=vol3,
                time_start=f3548.Time(value=_rfc3339(v.t0), format="RFC3339"),
                time_end=f3548.Time(value=_rfc3339(v.t1), format="RFC3339"),
            )
        )
    return out


def intent_to_json(intent: OperationalIntent) -> dict[str, object]:
    """The intent as plain JSON (stored with its flight; :func:`intent_from_json` reads it back).

    Each volume is ``[ax, ay, bx, by, radius_m, lo_m, hi_m, t0, t1, resource]`` in the frame
    centred on ``frame_centre``, times in POSIX seconds."""
    return {
        "drone_id": intent.drone_id,
        "trip": intent.trip,
        "frame_centre": list(intent.frame_centre),
        "state": intent.state,
        "volumes": [
            [v.ax, v.ay, v.bx, v.by, v.radius_m, v.lo_m, v.hi_m, v.t0, v.t1, v.resource]
            for v in intent.volumes
        ],
    }


def _volume(row: object) -> Volume:
    if not isinstance(row, list) or len(row) != 10:
        raise ValueError(f"a volume is a list of 10 members, not {row!r}")
    ax, ay, bx, by, r, lo, hi, t0, t1 = (float(x) for x in row[:9])
    return Volume(ax, ay, bx, by, r, lo, hi, t0, t1, None if row[9] is None else str(row[9]))


def intent_from_json(data: dict[str, object]) -> OperationalIntent:
    """The intent written by :func:`intent_to_json` (``ValueError`` if it is not one)."""
    try:
        centre = data["frame_centre"]
        volumes = data["volumes"]
        if not isinstance(centre, list) or not isinstance(volumes, list):
            raise TypeError("frame_centre and volumes must be lists")
        vols = tuple(_volume(row) for row in volumes)
        return OperationalIntent(
            str(data["drone_id"]),
            int(str(data["trip"])),
            (float(centre[0]), float(centre[1])),
            vols,
            str(data["state"]),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"not a stored operational intent: {exc}") from exc
