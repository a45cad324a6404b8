"""Safe leg lengths and paths between the sites of a problem, per drone model, from the airspace.

Time-dependent zones (the policy, documented in docs/reference/zones.md):

- The matrices are **conservative over the horizon**: a leg avoids every zone active at any time
  during ``[at, horizon_end]`` at the model's cruise altitude.
- A **pad** (port, pickup, drop-off) is unusable while a zone whose floor is at or below the cruise
  altitude covers it (footprint, boundary included: the drone climbs and descends through it; the
  rule of ``airspace.paths``). A pad covered for
  the whole horizon is blocked (reason ``*_in_zone``). A pad covered only part of the time gets
  usable windows: it must be left ``service_s`` plus the time to fly out of the zone before the zone
  starts, and reached no earlier than that crossing time after it ends. Legs to and from such a pad
  are computed without the zones that cover it (they are flown only while those zones are off).
- Legs are validated afterwards against the zones active during their actual time interval
  (:mod:`routing.validate`); a plan that fails is repaired, never output.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import numpy as np

from airspace.frame import LocalFrame
from airspace.obstacles import footprint_in_frame
from airspace.paths import Airspace, DistanceMatrix
from airspace.terrain import AreaTerrain
from airspace.zones import Zone
from fleet.description import DroneModel
from routing.terrain_legs import TerrainArcs, terrain_arcs
from routing.zone_geometry import column_overlaps, zone_extent_m

LonLat = tuple[float, float]


@dataclass(slots=True)
class SiteIndex:
    """Distinct locations of a problem, each with one index (pads shared by requests share it)."""

    points: list[LonLat] = field(default_factory=list)
    _index: dict[LonLat, int] = field(default_factory=dict)

    def add(self, point: LonLat) -> int:
        """The index of a location, adding it if new."""
        key = (float(point[0]), float(point[1]))
        if key not in self._index:
            self._index[key] = len(self.points)
            self.points.append(key)
        return self._index[key]

    def __len__(self) -> int:
        return len(self.points)


@dataclass(slots=True)
class PadWindows:
    """When a pad is usable, in seconds from the planning instant (free intervals, sorted)."""

    free: list[tuple[float, float]]
    zone_ids: tuple[str, ...]  # the zones that cover the pad at some time in the horizon

    def window_for(self, earliest: float, latest: float) -> tuple[float, float] | None:
        """The first free interval that meets ``[earliest, latest]``, clipped to it (None: none)."""
        for lo, hi in self.free:
            a, b = max(lo, earliest), min(hi, latest)
            if a <= b:
                return a, b
        return None


@dataclass(slots=True)
class Network:
    """Leg lengths and safe paths between sites for one drone model over the planning horizon."""

    model: DroneModel
    length_m: np.ndarray  # (n, n) float, inf where no safe path exists
    pads: dict[int, PadWindows]  # sites covered by a zone at some time (absent: always usable)
    _matrices: list[DistanceMatrix]
    _source: np.ndarray  # (n, n) int: which matrix holds the path of each arc
    heights: TerrainArcs | None = None  # climbs and profiles over terrain (None: flat ground)

    def climb_wh(self, i: int, j: int) -> float:
        """The energy of the climbs along the arc ``i -> j`` over terrain (0 over flat ground)."""
        return 0.0 if self.heights is None else self.heights.climb_energy_wh(i, j)

    wind: np.ndarray | None = None  # (n, n) wind factor of each arc over the horizon; None: calm

    def wind_factor(self, i: int, j: int) -> float:
        """The factor of the forecast wind on the energy of the arc ``i -> j`` (1 in calm air)."""
        return 1.0 if self.wind is None else float(self.wind[i, j])

    def blocked(self, site: int) -> PadWindows | None:
        """The windows of a pad covered for the whole horizon (None if usable at some time)."""
        pad = self.pads.get(site)
        return pad if pad is not None and not pad.free else None

    def path(self, i: int, j: int) -> list[LonLat]:
        """The waypoints (lon, lat) of the safe path from site ``i`` to site ``j``."""
        if i == j:
            return []
        return list(self._matrices[int(self._source[i, j])].path(i, j).waypoints)

    def flight_s(self, i: int, j: int) -> float:
        """Flight time from site ``i`` to site ``j`` at cruise speed (inf if no path)."""
        return float(self.length_m[i, j]) / self.model.cruise_speed_mps


ZONE_TIME_BUFFER_S = 120.0
"""A pad a temporary zone covers is planned clear of the zone's time window by this much on either
side. Flights run late against their plan (a start retimed clear of other drones, a command acked
late, head wind): the live demo saw a drone servicing such a pad 0.7 s after its zone came into
force, 40 s behind its plan. Two minutes cover what conformance monitoring sees in practice."""


def _seconds(t: datetime, t0: datetime) -> float:
    return (t - t0).total_seconds()


def _pad_windows(
    covering: Sequence[Zone],
    extents: dict[str, float],
    model: DroneModel,
    t0: datetime,
    horizon_s: float,
) -> PadWindows:
    """When a pad covered (at some time) by the zones ``covering`` is usable by ``model``."""
    blocked: list[tuple[float, float]] = []
    for z in covering:
        # Flying out of (or into) the zone from a pad inside it takes at most its extent in time.
        crossing = (extents[z.id] + 2 * z.margin_m) / model.cruise_speed_mps
        before, after = model.service_s + crossing + ZONE_TIME_BUFFER_S, crossing + ZONE_TIME_BUFFER_S
        lo = -math.inf if z.valid_from is None else _seconds(z.valid_from, t0) - before
        hi = math.inf if z.valid_to is None else _seconds(z.valid_to, t0) + after
        blocked.append((lo, hi))
    blocked.sort()
    free: list[tuple[float, float]] = []
    cursor = 0.0
    for lo, hi in blocked:
        if lo > cursor:
            free.append((cursor, min(lo, horizon_s)))
        cursor = max(cursor, hi)
        if cursor >= horizon_s:
            break
    if cursor < horizon_s:
        free.append((cursor, horizon_s))
    free = [(a, b) for a, b in free if b > a]
    return PadWindows(free=free, zone_ids=tuple(z.id for z in covering))


class _Composer:
    """Assembles one model's lengths from several matrices, remembering where each arc came from."""

    def __init__(self, base: DistanceMatrix, n: int) -> None:
        self.lengths = np.array(base.lengths_m, dtype=float, copy=True)
        self.source = np.zeros((n, n), dtype=np.int64)
        self.matrices = [base]
        self._position = {id(base): 0}

    def _index(self, m: DistanceMatrix) -> int:
        if id(m) not in self._position:
            self._position[id(m)] = len(self.matrices)
            self.matrices.append(m)
        return self._position[id(m)]

    def rows_and_columns(self, m: DistanceMatrix, s: int) -> None:
        """Take every arc out of and into site ``s`` from ``m``."""
        k, alt = self._index(m), np.asarray(m.lengths_m, dtype=float)
        self.lengths[s, :], self.lengths[:, s] = alt[s, :], alt[:, s]
        self.source[s, :] = k
        self.source[:, s] = k

    def arc(self, m: DistanceMatrix, a: int, b: int) -> None:
        """Take the arc ``a -> b`` from ``m``."""
        self.lengths[a, b] = float(np.asarray(m.lengths_m)[a, b])
        self.source[a, b] = self._index(m)


def _network(
    model: DroneModel, pads: dict[int, PadWindows], n: int, matrix: Callable[[frozenset[str]], DistanceMatrix]
) -> Network:
    """One model's network: the conservative matrix, refined around pads covered only part of the time."""
    comp = _Composer(matrix(frozenset()), n)
    # Legs to and from a pad covered only part of the time avoid every zone but those covering it
    # (between two such pads: every zone but those covering either).
    timed = {s: frozenset(w.zone_ids) for s, w in pads.items() if w.free}
    for s, excluded in timed.items():
        comp.rows_and_columns(matrix(excluded), s)
    for a, ex_a in timed.items():
        for b, ex_b in timed.items():
            if ex_a != ex_b:
                comp.arc(matrix(ex_a | ex_b), a, b)
    for s, windows in pads.items():
        if not windows.free:
            comp.lengths[s, :] = np.inf
            comp.lengths[:, s] = np.inf
    np.fill_diagonal(comp.lengths, 0.0)
    return Network(
        model=model, length_m=comp.lengths, pads=pads, _matrices=comp.matrices, _source=comp.source
    )


_AIRSPACES: OrderedDict[tuple[float, float, tuple[Zone, ...]], Airspace] = OrderedDict()
_AIRSPACES_KEPT = 8
_airspaces_lock = threading.Lock()


def _airspace(zones: tuple[Zone, ...], frame: LocalFrame) -> Airspace:
    """The airspace of ``zones`` in ``frame``, kept between calls (its obstacle fields, built
    from the zones' geometry, are most of a small matrix's cost; its matrices are not kept)."""
    key = (frame.lon0, frame.lat0, zones)
    with _airspaces_lock:
        found = _AIRSPACES.get(key)
        if found is None:
            found = _AIRSPACES[key] = Airspace(zones, frame, keep_matrices=False)
            if len(_AIRSPACES) > _AIRSPACES_KEPT:
                _AIRSPACES.popitem(last=False)
        else:
            _AIRSPACES.move_to_end(key)
        return found


def build_networks(
    zones: Sequence[Zone],
    models: Iterable[DroneModel],
    sites: SiteIndex,
    pad_sites: set[int],
    port_sites: set[int],
    t0: datetime,
    horizon_end: datetime,
) -> dict[str, Network]:
    """Per model: conservative leg lengths and paths between ``sites`` over ``[t0, horizon_end]``.

    ``pad_sites`` are the sites where drones land (ports, pickups, drop-offs); the others (drones in
    flight) are only left, at cruise altitude. A port among ``port_sites`` covered by a zone at any
    time of the horizon is closed for the whole horizon (ports have no time windows in the model).
    """
    horizon_s = _seconds(horizon_end, t0)
    active = [z for z in zones if z.active_during(t0, horizon_end)]
    anchors = [(z.shape.centroid.x, z.shape.centroid.y) for z in active]
    # Centred on the ports and zones, not on this problem's requests: every round, chunk and pass
    # over the same airspace then shares one frame, and with it the zones' obstacle fields.
    frame = LocalFrame.for_points([sites.points[s] for s in sorted(port_sites)] + anchors or sites.points)
    n = len(sites)
    cache: dict[tuple[float, frozenset[str]], DistanceMatrix] = {}

    def matrix(altitude: float, excluded: frozenset[str]) -> DistanceMatrix:
        key = (altitude, excluded)
        if key not in cache:
            kept = tuple(z for z in active if z.id not in excluded)
            cache[key] = _airspace(kept, frame).distance_matrix(
                sites.points, altitude_m=altitude, at=t0, until=horizon_end
            )
        return cache[key]

    # Which zones cover which pad (the airspace's rule: footprint, boundary included).
    pad_list = sorted(pad_sites)
    pad_xy = frame.points_to_xy([sites.points[s] for s in pad_list])
    covers = {z.id: footprint_in_frame(z, frame).covers(pad_xy) for z in active}
    extents = {z.id: zone_extent_m(z, frame) for z in active if covers[z.id].any()}
    networks: dict[str, Network] = {}
    for model in models:
        pads: dict[int, PadWindows] = {}
        for k, s in enumerate(pad_list):
            covering = [z for z in active if covers[z.id][k] and column_overlaps(z, model.cruise_altitude_m)]
            if covering:
                windows = _pad_windows(covering, extents, model, t0, horizon_s)
                pads[s] = PadWindows([], windows.zone_ids) if s in port_sites else windows
        networks[model.name] = _network(model, pads, n, partial(matrix, model.cruise_altitude_m))
    return networks


def add_terrain(net: Network, area: AreaTerrain, points: Sequence[LonLat]) -> None:
    """Give ``net`` its heights over ``area``'s terrain; arcs whose profile cannot stay in the
    true-height band become unusable (the terrain zones avoid almost all of them)."""
    net.heights = terrain_arcs(area, net.model, points, net.length_m, net.path)
    for i, j in net.heights.unclear:
        net.length_m[i, j] = np.inf
