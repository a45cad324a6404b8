"""The airspace of a service area: which zones are active, and exact safe paths around them.

Rules (see also :mod:`airspace.visibility` for the geometry and its epsilon policy):

- A zone counts at an instant ``at`` while ``valid_from <= at < valid_to``. With ``until`` given,
  a zone counts if it is in force at any instant of ``[at, until]`` (a conservative picture for a
  planning horizon).
- The cruise (the horizontal path at ``altitude_m``) must keep ``margin_m`` from every counted zone
  whose band contains the altitude (``floor_m <= altitude_m <= ceiling_m``).
- A take-off or landing point is blocked (``point_in_zone``) by any counted zone whose footprint
  contains it (boundary included) and whose floor is at or below the cruise altitude: the drone
  climbs and descends through it. A zone wholly below the cruise blocks only pads in its footprint;
  a zone wholly above it blocks nothing.
- A pad within the margin of a zone but outside its footprint is usable; its first and last legs
  follow the pad-in-band rule of :mod:`airspace.visibility`.
- A point in a courtyard (a hole of the obstacles) is reported ``unreachable`` unless the other end
  of the leg is in the same courtyard.
- Points farther than :data:`MAX_FRAME_RADIUS_M` (100 km) from the frame centre are refused with
  a ``ValueError``: they are not in this service area.

Computation is in metres in the airspace's :class:`~airspace.frame.LocalFrame`; lon/lat appear
only at this API boundary. Obstacle graphs are cached per active zone set (which the altitude and
time select) and distance matrices per (zone sets, points); a cached matrix is read-only. An
``Airspace`` may be shared between threads (its caches are locked).
"""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from airspace.frame import LocalFrame
from airspace.obstacles import DEFAULT_CIRCLE_SEGMENTS, Footprint, buffered_outside, footprint_in_frame
from airspace.visibility import ObstacleField, Solution, build_field, enclosing_zones, solve
from airspace.zones import Zone

_FIELD_CACHE_SIZE = 16
# Beyond this distance from the frame centre the projection's scale error exceeds 4e-5 (4 cm/km).
MAX_FRAME_RADIUS_M = 100_000.0
_MATRIX_CACHE_SIZE = 8

LonLat = tuple[float, float]


class AirspaceError(Exception):
    """A point or leg cannot be flown. ``code``: ``point_in_zone`` or ``unreachable``."""

    def __init__(self, code: str, message: str, *, zone_id: str | None = None, point: LonLat | None = None):
        self.code = code
        self.zone_id = zone_id
        self.point = point
        super().__init__(message)


@dataclass(frozen=True)
class FlightPath:
    """A safe path: lon/lat waypoints (first = start, last = end) and its length in metres."""

    waypoints: list[tuple[float, float]]
    length_m: float


@dataclass
class DistanceMatrix:
    """Shortest safe lengths between points; ``np.inf`` where no safe path exists.

    ``point_errors`` holds the points that are in a zone (their row and column are all inf) and
    those enclosed in a courtyard (reachable only from the same courtyard).
    """

    lengths_m: np.ndarray
    point_errors: dict[int, AirspaceError]
    graph_pairs: int = 0  # unordered pairs whose straight segment was blocked
    _solution: Solution | None = field(default=None, repr=False)
    _frame: LocalFrame | None = field(default=None, repr=False)
    _lonlats: list[LonLat] = field(default_factory=list, repr=False)

    @property
    def graph_fraction(self) -> float:
        """Fraction of the unordered pairs of distinct points that needed the visibility graph."""
        n = len(self.lengths_m)
        return self.graph_pairs / (n * (n - 1) / 2) if n > 1 else 0.0

    def path(self, i: int, j: int) -> FlightPath:
        """The geometry of the leg from point i to point j (raises AirspaceError if there is none)."""
        for k in (i, j):
            err = self.point_errors.get(k)
            if err is not None and err.code == "point_in_zone":
                raise err
        length = float(self.lengths_m[i, j])
        if not math.isfinite(length):
            err = self.point_errors.get(j) or self.point_errors.get(i)
            if err is not None:
                raise err
            for k in (i, j):
                held = self._solution.boxed_in(k) if self._solution is not None else None
                if held is not None:
                    raise AirspaceError(
                        "unreachable",
                        f"no leg can leave point {k} {self._lonlats[k]}: every way out crosses a zone"
                        + (f" (it lies in the margin of {', '.join(held)})" if held else ""),
                        zone_id=held[0] if len(held) == 1 else None,
                        point=self._lonlats[k],
                    )
            raise AirspaceError(
                "unreachable",
                f"no safe path from point {i} {self._lonlats[i]} to point {j} {self._lonlats[j]}",
                point=self._lonlats[j],
            )
        if i == j:
            return FlightPath([self._lonlats[i], self._lonlats[i]], 0.0)
        assert self._solution is not None and self._frame is not None
        xy = np.array(self._solution.path_xy(i, j))
        waypoints = self._frame.points_to_lonlat(xy)
        waypoints[0], waypoints[-1] = self._lonlats[i], self._lonlats[j]
        return FlightPath(waypoints, float(np.hypot(*np.diff(xy, axis=0).T).sum()))


def _check_lonlat(point: Sequence[float], name: str) -> LonLat:
    try:
        lon, lat = (float(v) for v in point)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (lon, lat) pair, got {point!r}") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"{name} is not a valid (lon, lat): {point!r}")
    return lon, lat


def _check_altitude(altitude_m: float) -> float:
    if isinstance(altitude_m, bool) or not math.isfinite(altitude_m) or altitude_m < 0:
        raise ValueError(f"altitude_m must be a finite number >= 0, got {altitude_m!r}")
    return float(altitude_m)


class Airspace:
    """Zones over one service area, with exact safe paths and distance matrices between points."""

    def __init__(
        self,
        zones: Sequence[Zone],
        frame: LocalFrame | None = None,
        *,
        circle_segments: int = DEFAULT_CIRCLE_SEGMENTS,
        keep_matrices: bool = True,
    ) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        self.keep_matrices = keep_matrices  # False: only the obstacle fields are kept for reuse
        dupes = sorted(i for i, n in Counter(z.id for z in self.zones).items() if n > 1)
        if dupes:
            raise ValueError(f"duplicate zone ids: {', '.join(dupes)}")
        if circle_segments < 3:
            raise ValueError(f"circle_segments must be >= 3, got {circle_segments}")
        self.circle_segments = circle_segments
        if frame is None and self.zones:
            frame = LocalFrame.for_points(_zone_lonlats(self.zones))
        self.frame: LocalFrame | None = frame
        self._footprints: dict[int, Footprint] = {}
        self._buffered: dict[int, BaseGeometry] = {}
        self._fields: OrderedDict[tuple[int, ...], ObstacleField] = OrderedDict()
        self._matrices: OrderedDict[tuple[object, ...], DistanceMatrix] = OrderedDict()
        self._lock = threading.RLock()  # the caches may be shared by worker threads

    # -- zone selection -------------------------------------------------------------------------

    def _counted(self, at: datetime, until: datetime | None) -> list[int]:
        if until is None:
            return [k for k, z in enumerate(self.zones) if z.active_at(at)]
        return [k for k, z in enumerate(self.zones) if z.active_during(at, until)]

    def _cruise_and_pad_zones(
        self, altitude_m: float, at: datetime, until: datetime | None
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        alt = _check_altitude(altitude_m)
        counted = self._counted(at, until)
        cruise = tuple(k for k in counted if self.zones[k].blocks_altitude(alt))
        pads = tuple(k for k in counted if self.zones[k].floor_m <= alt)
        return cruise, pads

    def active_zones(self, altitude_m: float, at: datetime, until: datetime | None = None) -> list[Zone]:
        """Zones that constrain the cruise at this altitude: in force at ``at`` (or at any time in
        ``[at, until]``) and with ``floor_m <= altitude_m <= ceiling_m``."""
        return [self.zones[k] for k in self._cruise_and_pad_zones(altitude_m, at, until)[0]]

    def active_zones_during(self, altitude_m: float, start: datetime, end: datetime) -> list[Zone]:
        """Zones that constrain the cruise at this altitude at any instant of ``[start, end]``."""
        return self.active_zones(altitude_m, start, until=end)

    # -- geometry -------------------------------------------------------------------------------

    def _frame_for(self, lonlats: list[LonLat]) -> LocalFrame:
        # Without zones or an explicit frame, any frame centred on the points measures them well.
        return self.frame if self.frame is not None else LocalFrame.for_points(lonlats)

    def _footprint(self, k: int) -> Footprint:
        if k not in self._footprints:
            assert self.frame is not None
            self._footprints[k] = footprint_in_frame(self.zones[k], self.frame)
        return self._footprints[k]

    def buffered_shape(self, zone_id: str) -> BaseGeometry:
        """The margin-buffered, outside-approximated obstacle of a zone, in metres in ``self.frame``."""
        for k, z in enumerate(self.zones):
            if z.id == zone_id:
                return self._buffered_shape(k)
        raise KeyError(zone_id)

    def _buffered_shape(self, k: int) -> BaseGeometry:
        if k not in self._buffered:
            self._buffered[k] = buffered_outside(
                self._footprint(k), self.zones[k].margin_m, self.circle_segments
            )
        return self._buffered[k]

    def _field(self, cruise: tuple[int, ...]) -> ObstacleField:
        with self._lock:
            cached = self._fields.get(cruise)
            if cached is not None:
                self._fields.move_to_end(cruise)
                return cached
        built = build_field(  # outside the lock: two threads may build one field, never wait
            [self.zones[k].id for k in cruise],
            [self._footprint(k) for k in cruise],
            [self.zones[k].margin_m for k in cruise],
            [self._buffered_shape(k) for k in cruise],
        )
        with self._lock:
            self._fields[cruise] = built
            if len(self._fields) > _FIELD_CACHE_SIZE:
                self._fields.popitem(last=False)
        return built

    def _pad_blockers(
        self, lonlats: list[LonLat], xy: np.ndarray, pad_zones: tuple[int, ...]
    ) -> dict[int, Zone]:
        """Points (by index) whose take-off or landing is blocked -> the first zone blocking it.

        A polygon counts as covering a point if either its lon/lat form (the GeoJSON as written)
        or its projected form covers it: the two differ by the bend of long edges, and a pad in
        that sliver is refused rather than guessed.
        """
        out: dict[int, Zone] = {}
        points = shapely.points(np.asarray(lonlats, dtype=float).reshape(-1, 2))
        for k in pad_zones:
            zone = self.zones[k]
            covered = self._footprint(k).covers(xy)
            if zone.radius_m is None:
                covered |= shapely.covers(zone.shape, points)
            for i in np.flatnonzero(covered).tolist():
                out.setdefault(i, zone)
        return out

    # -- public queries -------------------------------------------------------------------------

    def check_point(
        self, lonlat: Sequence[float], *, altitude_m: float, at: datetime, until: datetime | None = None
    ) -> None:
        """Raise ``AirspaceError("point_in_zone")`` if a drone cannot take off or land here."""
        point = _check_lonlat(lonlat, "point")
        _, pad_zones = self._cruise_and_pad_zones(altitude_m, at, until)
        if not pad_zones:
            return
        assert self.frame is not None
        blockers = self._pad_blockers([point], self.frame.points_to_xy([point]), pad_zones)
        if blockers:
            raise _in_zone_error(point, blockers[0])

    def shortest_path(
        self,
        a: Sequence[float],
        b: Sequence[float],
        *,
        altitude_m: float,
        at: datetime,
        until: datetime | None = None,
    ) -> FlightPath:
        """The shortest path from a to b that keeps every counted zone's margin (raises AirspaceError)."""
        matrix = self.distance_matrix([a, b], altitude_m=altitude_m, at=at, until=until)
        return matrix.path(0, 1)

    def distance_matrix(
        self,
        points: Sequence[Sequence[float]],
        *,
        altitude_m: float,
        at: datetime,
        until: datetime | None = None,
    ) -> DistanceMatrix:
        """Shortest safe lengths (metres) between all points; see :class:`DistanceMatrix`."""
        lonlats = [_check_lonlat(p, f"points[{i}]") for i, p in enumerate(points)]
        cruise, pad_zones = self._cruise_and_pad_zones(altitude_m, at, until)
        if not self.keep_matrices:  # computed outside the lock: callers in threads run at once
            matrix = self._compute_matrix(lonlats, cruise, pad_zones)
            matrix.lengths_m.setflags(write=False)
            return matrix
        key = (cruise, pad_zones, tuple(lonlats))
        with self._lock:
            cached = self._matrices.get(key)
            if cached is not None:
                self._matrices.move_to_end(key)
                return cached
            matrix = self._compute_matrix(lonlats, cruise, pad_zones)
            matrix.lengths_m.setflags(write=False)  # shared through the cache
            self._matrices[key] = matrix
            if len(self._matrices) > _MATRIX_CACHE_SIZE:
                self._matrices.popitem(last=False)
            return matrix

    def _compute_matrix(
        self, lonlats: list[LonLat], cruise: tuple[int, ...], pad_zones: tuple[int, ...]
    ) -> DistanceMatrix:
        n = len(lonlats)
        if n == 0:
            return DistanceMatrix(np.zeros((0, 0)), {})
        frame = self._frame_for(lonlats)
        xy = frame.points_to_xy(lonlats)
        far = np.flatnonzero(~(np.hypot(xy[:, 0], xy[:, 1]) <= MAX_FRAME_RADIUS_M))
        if len(far):
            raise ValueError(
                f"points[{far[0]}] {lonlats[far[0]]} is more than {MAX_FRAME_RADIUS_M / 1000:.0f} km "
                f"from the centre of the area's frame {frame!r}: outside the service area"
            )
        blockers = self._pad_blockers(lonlats, xy, pad_zones) if pad_zones else {}
        errors = {i: _in_zone_error(lonlats[i], zone) for i, zone in sorted(blockers.items())}
        usable = np.ones(n, dtype=bool)
        usable[list(errors)] = False
        obstacles = self._field(cruise)
        solution = solve(obstacles, xy, usable)
        enclosed = enclosing_zones(obstacles, xy)
        for i, around in sorted(enclosed.items()):
            if usable[i]:
                errors[i] = AirspaceError(
                    "unreachable",
                    f"point {lonlats[i]} is enclosed by zone(s) {', '.join(around)}: "
                    "only points in the same courtyard can be reached",
                    zone_id=around[0] if len(around) == 1 else None,
                    point=lonlats[i],
                )
        return DistanceMatrix(solution.lengths, errors, solution.graph_pairs, solution, frame, lonlats)


def _in_zone_error(point: LonLat, zone: Zone) -> AirspaceError:
    return AirspaceError(
        "point_in_zone",
        f"point {point} is inside zone {zone.id!r}" + (f" ({zone.reason})" if zone.reason else ""),
        zone_id=zone.id,
        point=point,
    )


def _zone_lonlats(zones: Sequence[Zone]) -> list[LonLat]:
    out: list[LonLat] = []
    for z in zones:
        minx, miny, maxx, maxy = z.shape.bounds
        out += [(minx, miny), (maxx, maxy)]
    return out
