"""Conflicts between operational intents, and the exact separation check of planned trajectories.

- :class:`IntentIndex`: a grid over space (``cell_m``), each cell sorted by time, holding the volumes
  of accepted intents; checking a new intent looks only at the volumes sharing a cell with it, so
  the cost grows with the local traffic, not with all pairs. Two volumes intersect when their time
  windows overlap, their altitude bands overlap and their outlines (buffered segments) come
  closer than the sum of their radii (all strict: touching is not a conflict). Two take-off or
  landing columns of the same port do not conflict with each other; instead at most the port's
  ``landing_spots`` of them may overlap in time.
- :func:`separation_losses`: the exact check. Each drone flies each straight piece of each leg at
  constant velocity; for every pair of pieces of two drones overlapping in time (found with the
  same kind of grid) the relative motion is linear, so the instants when the drones are closer
  than the horizontal minimum AND the vertical minimum are an interval computed in closed form.
- :func:`pad_conflicts`: two drones on (or climbing, descending over) pads closer than the
  horizontal minimum at the same time (pads from landing to take-off; ports for ``port_slot_s``
  centred on each take-off and landing, within the port's spots).

Pure: no I/O, no event loop.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from airspace.frame import LocalFrame
from routing.intents import PORT_SLOT_S, OperationalIntent, SeparationMinima, Volume, reframed
from routing.problem import PORT, START, Trip

CELL_M = 500.0
Arr = np.ndarray


class _Cell:
    """The items of one spatial cell, sorted by the start of their time window."""

    __slots__ = ("items", "longest", "t0s", "t1s")

    def __init__(self) -> None:
        self.t0s: list[float] = []
        self.t1s: list[float] = []
        self.items: list[int] = []
        self.longest = 0.0  # the longest window in the cell: how far back a search must look

    def copy(self) -> _Cell:
        out = _Cell()
        out.t0s, out.t1s, out.items, out.longest = self.t0s[:], self.t1s[:], self.items[:], self.longest
        return out


class _Grid:
    """Items keyed by the spatial cells their box covers, each cell sorted by time: a query over
    a long time window costs a bisection per cell, not a look-up per time bucket."""

    def __init__(self, cell_m: float) -> None:
        self.cell_m = cell_m
        self.cells: dict[tuple[int, int], _Cell] = {}

    def _keys(self, bbox: tuple[float, float, float, float]) -> Iterator[tuple[int, int]]:
        c = self.cell_m
        for ix in range(math.floor(bbox[0] / c), math.floor(bbox[2] / c) + 1):
            for iy in range(math.floor(bbox[1] / c), math.floor(bbox[3] / c) + 1):
                yield ix, iy

    def add(self, item: int, bbox: tuple[float, float, float, float], t0: float, t1: float) -> None:
        c, cells, span = self.cell_m, self.cells, t1 - t0
        ys = range(math.floor(bbox[1] / c), math.floor(bbox[3] / c) + 1)
        for ix in range(math.floor(bbox[0] / c), math.floor(bbox[2] / c) + 1):
            for iy in ys:
                cell = cells.get((ix, iy))
                if cell is None:
                    cell = cells[(ix, iy)] = _Cell()
                t0s = cell.t0s
                if not t0s or t0 >= t0s[-1]:  # the common case: trips are placed by departure
                    t0s.append(t0)
                    cell.t1s.append(t1)
                    cell.items.append(item)
                else:
                    k = bisect.bisect_right(t0s, t0)
                    t0s.insert(k, t0)
                    cell.t1s.insert(k, t1)
                    cell.items.insert(k, item)
                if span > cell.longest:
                    cell.longest = span

    def copy(self) -> _Grid:
        """An independent copy (lists copied: far cheaper than adding the items again)."""
        out = _Grid(self.cell_m)
        out.cells = {key: cell.copy() for key, cell in self.cells.items()}
        return out

    def cell_keys(self, bbox: tuple[float, float, float, float]) -> Iterator[tuple[int, int]]:
        """The keys of the cells ``bbox`` covers."""
        return self._keys(bbox)

    def slab(self, key: tuple[int, int], t0: float, t1: float) -> list[int]:
        """The items of one cell that may meet ``[t0, t1]`` (a superset: those starting within
        the cell's longest window before ``t0``, up to ``t1``)."""
        cell = self.cells.get(key)
        if cell is None:
            return []
        lo = bisect.bisect_left(cell.t0s, t0 - cell.longest)
        return cell.items[lo : bisect.bisect_right(cell.t0s, t1)]

    def near(self, bbox: tuple[float, float, float, float], t0: float, t1: float) -> set[int]:
        """The items whose box shares a cell with ``bbox`` and whose window meets ``[t0, t1]``
        (touching included: the callers' exact tests decide)."""
        found: set[int] = set()
        for key in self._keys(bbox):
            cell = self.cells.get(key)
            if cell is None:
                continue
            lo = bisect.bisect_left(cell.t0s, t0 - cell.longest)
            hi = bisect.bisect_right(cell.t0s, t1)
            t1s, items = cell.t1s, cell.items
            found.update(items[j] for j in range(lo, hi) if t1s[j] >= t0)
        return found


def segment_distance(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]
) -> float:
    """Shortest distance between the 2D segments a-b and c-d."""

    def point_seg(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        qx, qy = r[0] - q[0], r[1] - q[1]
        n = qx * qx + qy * qy
        t = 0.0 if n == 0 else max(0.0, min(1.0, ((p[0] - q[0]) * qx + (p[1] - q[1]) * qy) / n))
        return math.hypot(p[0] - q[0] - t * qx, p[1] - q[1] - t * qy)

    def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
    if o1 * o2 < 0 and o3 * o4 < 0:
        return 0.0
    return min(point_seg(a, c, d), point_seg(b, c, d), point_seg(c, a, b), point_seg(d, a, b))


def segment_distances(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """:func:`segment_distance` of many pairs at once (each argument an ``(n, 2)`` array)."""
    ax, ay, bx, by = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
    cx, cy, dx, dy = c[:, 0], c[:, 1], d[:, 0], d[:, 1]
    crossing = (_orient(ax, ay, bx, by, cx, cy) * _orient(ax, ay, bx, by, dx, dy) < 0) & (
        _orient(cx, cy, dx, dy, ax, ay) * _orient(cx, cy, dx, dy, bx, by) < 0
    )
    squared = np.minimum(
        np.minimum(_point_seg_sq(ax, ay, cx, cy, dx, dy), _point_seg_sq(bx, by, cx, cy, dx, dy)),
        np.minimum(_point_seg_sq(cx, cy, ax, ay, bx, by), _point_seg_sq(dx, dy, ax, ay, bx, by)),
    )
    out: np.ndarray = np.sqrt(squared)
    out[crossing] = 0.0
    return out


# By components (one array per coordinate): several times faster than on rows of pairs.
def _orient(px: Arr, py: Arr, qx: Arr, qy: Arr, rx: Arr, ry: Arr) -> Arr:
    return (qx - px) * (ry - py) - (qy - py) * (rx - px)


def _point_seg_sq(px: Arr, py: Arr, qx: Arr, qy: Arr, rx: Arr, ry: Arr) -> Arr:
    """Squared distances from the points ``p`` to the segments ``q``-``r``."""
    ux, uy = rx - qx, ry - qy
    n = ux * ux + uy * uy
    wx, wy = px - qx, py - qy
    t = np.clip((wx * ux + wy * uy) / np.where(n == 0.0, 1.0, n), 0.0, 1.0)
    t[n == 0.0] = 0.0
    ex, ey = wx - t * ux, wy - t * uy
    return ex * ex + ey * ey


def volumes_intersect(v: Volume, w: Volume) -> bool:
    """Whether two volumes share a point: time windows, altitude bands and outlines all overlap."""
    return (
        v.t0 < w.t1
        and w.t0 < v.t1
        and v.lo_m < w.hi_m
        and w.lo_m < v.hi_m
        and segment_distance((v.ax, v.ay), (v.bx, v.by), (w.ax, w.ay), (w.bx, w.by)) < v.radius_m + w.radius_m
    )


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two intents that intersect (``other_drone`` None with kind ``port_capacity``: too many at a port)."""

    kind: str  # "volume" | "port_capacity"
    drone_id: str
    trip: int
    other_drone: str | None
    other_trip: int | None
    volume: Volume
    other: Volume | None

    def __str__(self) -> str:
        w = self.volume
        if self.kind == "port_capacity":
            return f"{w.resource}: more drones than landing spots around t={w.t0:.0f}..{w.t1:.0f}"
        return (
            f"{self.drone_id} trip {self.trip} meets {self.other_drone} trip {self.other_trip} "
            f"near ({w.ax:.0f}, {w.ay:.0f}) m at {w.lo_m:.0f}..{w.hi_m:.0f} m, t={w.t0:.0f}..{w.t1:.0f}"
        )


class VolumeTable:
    """The index's volumes as rows of numbers, for vectorised tests: ``ax, ay, bx, by, radius,
    lo, hi, t0, t1, drone, resource`` (drone and resource as interned codes, resource -1: none).
    Grows by doubling, so adding a volume is one row write."""

    COLUMNS = 11

    def __init__(self) -> None:
        self._rows = np.zeros((256, self.COLUMNS))
        self.n = 0
        self.drones: dict[str, int] = {}
        self.resources: dict[str, int] = {}

    def add_all(self, volumes: Sequence[Volume], drone_id: str) -> None:
        """Append ``volumes`` of drone ``drone_id`` (one array write)."""
        while self.n + len(volumes) > len(self._rows):
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
        drone = self.drones.setdefault(drone_id, len(self.drones))
        res = self.resources
        self._rows[self.n : self.n + len(volumes)] = [
            (
                v.ax, v.ay, v.bx, v.by, v.radius_m, v.lo_m, v.hi_m, v.t0, v.t1, drone,
                -1 if v.resource is None else res.setdefault(v.resource, len(res)),
            )
            for v in volumes
        ]  # fmt: skip
        self.n += len(volumes)

    def copy(self) -> VolumeTable:
        """An independent copy."""
        out = VolumeTable()
        out._rows, out.n = self._rows.copy(), self.n
        out.drones, out.resources = dict(self.drones), dict(self.resources)
        return out

    @property
    def rows(self) -> np.ndarray:
        """The filled rows (a view: valid until the next :meth:`add`)."""
        return self._rows[: self.n]


class IntentIndex:
    """Accepted intents indexed over space and time, in one frame; see the module docstring.

    ``spots``: landing spots per port id (missing: 1).
    """

    def __init__(
        self,
        frame: LocalFrame,
        spots: dict[str, int] | None = None,
        *,
        cell_m: float = CELL_M,
    ) -> None:
        self.frame = frame
        self.spots = spots or {}
        self.grid = _Grid(cell_m)
        self.volumes: list[tuple[Volume, str, int]] = []
        self.table = VolumeTable()
        self.intents: list[OperationalIntent] = []
        self.base: IntentIndex | None = None

    @classmethod
    def over(cls, base: IntentIndex) -> IntentIndex:
        """An index holding ``base``'s intents and those added to it (``base`` is not changed,
        nor copied: checks look in both)."""
        top = cls(base.frame, base.spots, cell_m=base.grid.cell_m)
        top.base = base
        return top

    def copy(self) -> IntentIndex:
        """An independent copy of this index (over the same ``base``, which is shared)."""
        out = IntentIndex(self.frame, self.spots, cell_m=self.grid.cell_m)
        out.grid, out.table, out.base = self.grid.copy(), self.table.copy(), self.base
        out.volumes, out.intents = self.volumes[:], self.intents[:]
        return out

    def layers(self) -> list[IntentIndex]:
        """This index and the ones under it, the oldest first."""
        return ([] if self.base is None else self.base.layers()) + [self]

    def __len__(self) -> int:
        return len(self.intents) + (0 if self.base is None else len(self.base))

    def add(self, intent: OperationalIntent) -> None:
        """Accept an intent (re-projected into this index's frame if needed)."""
        intent = reframed(intent, self.frame)
        self.intents.append(intent)
        for v in intent.volumes:
            self.grid.add(len(self.volumes), v.bbox(), v.t0, v.t1)
            self.volumes.append((v, intent.drone_id, intent.trip))
        self.table.add_all(intent.volumes, intent.drone_id)

    def conflicts(
        self, intent: OperationalIntent, *, first_only: bool = False, first_volume: bool = False
    ) -> list[Conflict]:
        """The conflicts of ``intent`` with the accepted intents of other drones (``first_only``:
        stop at the first; ``first_volume``: stop after the first volume of ``intent`` in conflict)."""
        intent = reframed(intent, self.frame)
        out: list[Conflict] = []
        for v in intent.volumes:
            if first_volume and out:
                return out
            same_port: list[Volume] = []
            near = [
                layer.volumes[i]
                for layer in self.layers()
                for i in sorted(layer.grid.near(v.bbox(), v.t0, v.t1))
            ]
            for w, did, trip in near:
                if did == intent.drone_id:
                    continue
                if v.resource is not None and w.resource == v.resource:
                    if v.t0 < w.t1 and w.t0 < v.t1:
                        same_port.append(w)
                    continue
                if volumes_intersect(v, w):
                    out.append(Conflict("volume", intent.drone_id, intent.trip, did, trip, v, w))
                    if first_only:
                        return out
            if same_port and _depth(v, same_port) > self.spots.get(port_id(v.resource), 1):
                out.append(Conflict("port_capacity", intent.drone_id, intent.trip, None, None, v, None))
                if first_only:
                    return out
        return out


_last_index: list[tuple[tuple[OperationalIntent, ...], LocalFrame, dict[str, int], IntentIndex]] = []


def index_of(
    intents: Sequence[OperationalIntent], frame: LocalFrame, spots: dict[str, int] | None = None
) -> IntentIndex:
    """A fresh index holding ``intents``, to add more to. The intents of a tuple are indexed once
    and shared (under :meth:`IntentIndex.over`) by the next calls with the same tuple: a round's
    deconfliction passes and its validation check the same flights in the air. A tuple that
    begins with the last one's intents (the next chunk of a large round) starts from a copy of
    its index."""
    spots = spots or {}
    if not isinstance(intents, tuple):
        index = IntentIndex(frame, spots)
        for a in intents:
            index.add(a)
        return index
    held = _last_index[0] if _last_index else None
    if held is None or held[0] is not intents or held[1] is not frame or held[2] != spots:
        if held is not None and held[1] is frame and held[2] == spots and _extends(intents, held[0]):
            # The next chunk of a large round: the intents before it, and the ones it placed.
            base = held[3].copy()
            new = intents[len(held[0]) :]
        else:
            base, new = IntentIndex(frame, spots), intents
        for a in new:
            base.add(a)
        held = (intents, frame, dict(spots), base)
        _last_index[:] = [held]
    return IntentIndex.over(held[3])


def _extends(intents: tuple[OperationalIntent, ...], prefix: tuple[OperationalIntent, ...]) -> bool:
    """Whether ``intents`` begins with the very intents of ``prefix``."""
    return len(intents) >= len(prefix) and all(a is b for a, b in zip(intents, prefix, strict=False))


def port_id(resource: str | None) -> str:
    """The port id of a take-off/landing column's resource name."""
    return (resource or "").removeprefix("port:")


def _depth(v: Volume, others: list[Volume]) -> int:
    """Most volumes (``v`` included) overlapping at one instant within ``v``'s window."""
    events = sorted([(max(w.t0, v.t0), 1) for w in others] + [(min(w.t1, v.t1), -1) for w in others])
    depth = best = 1
    for _, step in events:  # ends sort before starts at the same instant: touching is no overlap
        depth += step
        best = max(best, depth)
    return best


def intent_conflicts(
    intents: Iterable[OperationalIntent], frame: LocalFrame, spots: dict[str, int] | None = None
) -> list[Conflict]:
    """Every conflict among ``intents`` (each pair reported once, by the later one added)."""
    index = IntentIndex(frame, spots)
    out: list[Conflict] = []
    for intent in intents:
        out += index.conflicts(intent)
        index.add(intent)
    return out


# -- the exact check ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piece:
    """A drone flying from ``p0`` to ``p1`` (x, y, z metres) between ``t0`` and ``t1`` (POSIX s)."""

    drone_id: str
    trip: int
    t0: float
    t1: float
    p0: tuple[float, float, float]
    p1: tuple[float, float, float]

    def at(self, t: float) -> np.ndarray:
        """Position at ``t`` (within the piece)."""
        f = 0.0 if self.t1 <= self.t0 else (t - self.t0) / (self.t1 - self.t0)
        return np.asarray(self.p0) + f * (np.asarray(self.p1) - np.asarray(self.p0))


@dataclass(frozen=True, slots=True)
class Loss:
    """Two drones closer than both minima at instant ``t`` (the closest such instant of the pair)."""

    drone_a: str
    trip_a: int
    drone_b: str
    trip_b: int
    t: float
    horizontal_m: float
    vertical_m: float


def trip_pieces(drone_id: str, trip_no: int, trip: Trip, frame: LocalFrame) -> list[Piece]:
    """The straight constant-velocity pieces of a trip (time split by length along each leg)."""
    out = []
    for leg in trip.legs:
        xy = frame.points_to_xy([(w[0], w[1]) for w in leg.waypoints])
        z = [w[2] for w in leg.waypoints]
        seg = np.hypot(*(xy[1:] - xy[:-1]).T) if len(xy) > 1 else np.zeros(0)
        total = float(seg.sum())
        dep, arr = leg.depart.timestamp(), leg.arrive.timestamp()
        cum = 0.0
        for i, length in enumerate(seg):
            ta = dep + (arr - dep) * (cum / total if total > 0 else 0.0)
            cum += float(length)
            tb = dep + (arr - dep) * (cum / total if total > 0 else 1.0)
            p0 = (float(xy[i, 0]), float(xy[i, 1]), float(z[i]))
            p1 = (float(xy[i + 1, 0]), float(xy[i + 1, 1]), float(z[i + 1]))
            out.append(Piece(drone_id, trip_no, ta, tb, p0, p1))
    return out


def _interval_below(c0: float, c1: float, c2: float) -> tuple[float, float] | None:
    """Open interval of s where c2 s^2 + c1 s + c0 < 0 (c2 >= 0), or None."""
    if c2 <= 1e-12:
        if abs(c1) <= 1e-12:
            return (-math.inf, math.inf) if c0 < 0 else None
        root = -c0 / c1
        return (-math.inf, root) if c1 > 0 else (root, math.inf)
    disc = c1 * c1 - 4 * c2 * c0
    if disc <= 0:
        return None
    sq = math.sqrt(disc)
    return (-c1 - sq) / (2 * c2), (-c1 + sq) / (2 * c2)


def closest_approach(a: Piece, b: Piece, minima: SeparationMinima) -> tuple[float, float, float] | None:
    """Over the common time of two pieces: (t, horizontal, vertical) at the closest horizontal
    approach while vertically closer than the minimum, or None when they never are."""
    t0, t1 = max(a.t0, b.t0), min(a.t1, b.t1)
    if t1 < t0:
        return None
    d0 = a.at(t0) - b.at(t0)
    span = t1 - t0
    w = (a.at(t1) - b.at(t1) - d0) / span if span > 0 else np.zeros(3)
    # Vertical: (dz0 + wz s)^2 < V^2.
    v = minima.vertical_m
    vert = _interval_below(d0[2] ** 2 - v * v, 2 * d0[2] * w[2], w[2] ** 2)
    if vert is None:
        return None
    lo, hi = max(0.0, vert[0]), min(span, vert[1])
    if lo > hi:
        return None
    wxy, dxy = w[:2], d0[:2]
    n = float(wxy @ wxy)
    s = lo if n <= 1e-12 else min(hi, max(lo, -float(dxy @ wxy) / n))
    rel = d0 + w * s
    return t0 + s, float(np.hypot(rel[0], rel[1])), float(abs(rel[2]))


def pieces_of(drones: Iterable[tuple[str, tuple[Trip, ...]]], frame: LocalFrame) -> list[Piece]:
    """Every piece of every trip of every (drone id, trips)."""
    return [
        p
        for did, trips in drones
        for k, trip in enumerate(trips, 1)
        for p in trip_pieces(did, k, trip, frame)
    ]


def separation_losses(
    pieces: list[Piece], minima: SeparationMinima | None = None, *, skip: set[tuple[str, int]] | None = None
) -> tuple[list[Loss], float]:
    """Losses of separation between pieces of different drones, and the closest horizontal
    approach (metres, ``inf`` if none) of any two drones vertically closer than the minimum.

    One loss per pair of trips (its closest instant). ``skip``: (drone, trip) pairs exempt from
    being compared with each other (e.g. trips already in flight, fixed before planning).
    """
    m = minima or SeparationMinima()
    grid = _Grid(CELL_M)
    worst: dict[tuple[str, int, str, int], Loss] = {}
    closest = math.inf
    skip = skip or set()
    for k, p in enumerate(pieces):
        bbox = (min(p.p0[0], p.p1[0]), min(p.p0[1], p.p1[1]), max(p.p0[0], p.p1[0]), max(p.p0[1], p.p1[1]))
        grown = (
            bbox[0] - m.horizontal_m,
            bbox[1] - m.horizontal_m,
            bbox[2] + m.horizontal_m,
            bbox[3] + m.horizontal_m,
        )
        for i in sorted(grid.near(grown, p.t0, p.t1)):
            q = pieces[i]
            if q.drone_id == p.drone_id or ((p.drone_id, p.trip) in skip and (q.drone_id, q.trip) in skip):
                continue
            found = closest_approach(p, q, m)
            if found is None:
                continue
            t, h, dz = found
            closest = min(closest, h)
            if h < m.horizontal_m and dz < m.vertical_m:
                a, b = sorted([(p.drone_id, p.trip), (q.drone_id, q.trip)])
                key = (a[0], a[1], b[0], b[1])
                if key not in worst or h < worst[key].horizontal_m:
                    worst[key] = Loss(a[0], a[1], b[0], b[1], t, h, dz)
        grid.add(k, bbox, p.t0, p.t1)
    return list(worst.values()), closest


@dataclass(frozen=True, slots=True)
class Occupancy:
    """A drone on, or climbing or descending over, a pad or port from ``t0`` to ``t1``."""

    drone_id: str
    trip: int
    x: float
    y: float
    t0: float
    t1: float
    port: str | None  # the port id for take-offs and landings at a port


def trip_occupancies(
    drone_id: str, trip_no: int, trip: Trip, frame: LocalFrame, port_slot_s: float = PORT_SLOT_S
) -> list[Occupancy]:
    """Pads from landing to take-off; the port for ``port_slot_s`` centred on the take-off and on
    the landing (the drone climbs out and glides in over it)."""
    out = []
    legs = trip.legs
    for k, leg in enumerate(legs):
        x, y = (float(c) for c in frame.to_xy(leg.waypoints[0][0], leg.waypoints[0][1]))
        dep = leg.depart.timestamp()
        if k == 0 and leg.from_kind == PORT:
            half = port_slot_s / 2
            out.append(Occupancy(drone_id, trip_no, x, y, dep - half, dep + half, leg.from_id))
        elif k > 0 and leg.from_kind != START:
            out.append(Occupancy(drone_id, trip_no, x, y, legs[k - 1].arrive.timestamp(), dep, None))
    last = legs[-1] if legs else None
    if last is not None and last.to_kind == PORT:
        x, y = (float(c) for c in frame.to_xy(last.waypoints[-1][0], last.waypoints[-1][1]))
        arr = last.arrive.timestamp()
        half = port_slot_s / 2
        out.append(Occupancy(drone_id, trip_no, x, y, arr - half, arr + half, last.to_id))
    return out


def pad_conflicts(
    occupancies: list[Occupancy], spots: dict[str, int] | None = None, minima: SeparationMinima | None = None
) -> list[tuple[Occupancy, Occupancy | None]]:
    """Pairs of occupancies of different drones closer than the horizontal minimum at the same time
    (two uses of one port count only beyond its spots: then ``(occupancy, None)``)."""
    m = minima or SeparationMinima()
    spots = spots or {}
    grid = _Grid(CELL_M)
    out: list[tuple[Occupancy, Occupancy | None]] = []
    for k, o in enumerate(occupancies):
        box = (o.x - m.horizontal_m, o.y - m.horizontal_m, o.x + m.horizontal_m, o.y + m.horizontal_m)
        same_port = []
        for i in sorted(grid.near(box, o.t0, o.t1)):
            q = occupancies[i]
            if q.drone_id == o.drone_id or not (o.t0 < q.t1 and q.t0 < o.t1):
                continue
            if o.port is not None and q.port == o.port:
                same_port.append(q)
            elif math.hypot(o.x - q.x, o.y - q.y) < m.horizontal_m:
                out.append((o, q))
        if same_port:
            as_volumes = [Volume(0, 0, 0, 0, 0, 0, 0, q.t0, q.t1) for q in same_port]
            if _depth(Volume(0, 0, 0, 0, 0, 0, 0, o.t0, o.t1), as_volumes) > spots.get(o.port or "", 1):
                out.append((o, None))
        grid.add(k, (o.x, o.y, o.x, o.y), o.t0, o.t1)
    return out
