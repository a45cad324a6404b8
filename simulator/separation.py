"""The independent separation monitor: the oracle that no two simulated drones come too close.

It watches the *true* positions of every drone the simulator flies (not their telemetry, which may be
noisy or late) and reports every loss of separation between two airborne drones: closer than the
horizontal minimum *and* the vertical minimum at the same moment (defaults 50 m / 15 m).

- **Samples.** Each drone reports its true position at every simulation step (:meth:`observe`);
  between two of its samples it is taken to move in a straight line at constant speed. Two drones'
  samples need not share times: each new segment of one drone is checked against the stored
  segments of the other over the time both cover, and every moment of a pair is checked exactly once
  (by whichever segment arrives later).
- **Exact between samples.** Over a common time span both drones move linearly, so the span of a
  loss is solved in closed form (a quadratic horizontally, a linear bound vertically): a fast
  crossing between two samples is found, with its closest approach.
- **Cheap.** Segments are indexed in a uniform grid of cells; a new segment is compared only with
  the segments of drones in the cells around it, never with all pairs.
- **Airborne.** A drone counts as airborne in a segment when it flies at either end of it (states
  en route, servicing a pad, holding, returning, landing, emergency descent). A drone on the ground
  at a port (idle, ready, faulted, swapping its battery) is parked in one of the port's landing
  spots: two parked drones, or one landing beside a parked one, are no loss. Two drones at one pad
  at the same time (one servicing, landing or taking off while the other does) are one.
- **Encounters.** One loss of separation is one encounter, from the moment the pair comes within
  the minima to the moment it leaves them; it is reported once, when it ends (or when the monitor
  is finished), with its closest approach, its time and the pair. Losses are counted per pair.
  The pieces of one encounter may be found out of time order (each drone samples at its own
  pace): they are joined once both drones' samples have passed them.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from routing.intents import SeparationMinima  # the planner's minima; the check here is independent

log = logging.getLogger(__name__)

XYZ = tuple[float, float, float]
Pair = tuple[str, str]

_RETAIN_S = 30.0  # simulated seconds of segments kept per drone (covers drones that lag behind)
_MAX_SEGMENTS = 64
_MAX_CELLS = 256  # a segment spanning more cells is kept in a list checked against every new one
_CONTIGUOUS_S = 1e-6  # two loss spans this close in time are one encounter


@dataclass(slots=True)
class SeparationLoss:
    """One loss of separation between two drones (``pair`` sorted), from ``start`` to ``end``."""

    pair: Pair
    start: datetime
    end: datetime
    closest_at: datetime
    closest_m: float  # 3D distance at the closest approach
    horizontal_m: float  # at the closest approach
    vertical_m: float
    xyz: XYZ  # midpoint of the two drones at the closest approach, local frame
    ended: bool = False

    def describe(self) -> str:
        """One line for logs and the simulator's exit report."""
        a, b = self.pair
        return (
            f"{a} and {b} from {self.start.isoformat()} to {self.end.isoformat()}: closest "
            f"{self.closest_m:.1f} m ({self.horizontal_m:.1f} m horizontal, "
            f"{self.vertical_m:.1f} m vertical) at {self.closest_at.isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class _Segment:
    drone_id: str
    t0: datetime
    t1: datetime
    p0: XYZ
    p1: XYZ
    cells: tuple[tuple[int, int], ...]  # empty: too large for the grid (in _Track.wide)

    def at(self, t: datetime) -> XYZ:
        span = (self.t1 - self.t0).total_seconds()
        f = (t - self.t0).total_seconds() / span if span > 0 else 1.0
        p0, p1 = self.p0, self.p1
        return (p0[0] + (p1[0] - p0[0]) * f, p0[1] + (p1[1] - p0[1]) * f, p0[2] + (p1[2] - p0[2]) * f)


@dataclass(slots=True)
class _Track:
    last_t: datetime
    last_p: XYZ
    last_airborne: bool
    segments: deque[_Segment] = field(default_factory=deque)


def checked_minima(minima: SeparationMinima) -> SeparationMinima:
    """``minima`` if both are finite and > 0; ValueError naming the bad one otherwise."""
    for name, value in (("horizontal", minima.horizontal_m), ("vertical", minima.vertical_m)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"separation {name} minimum must be > 0 metres, got {value}")
    return minima


def loss_span(d: XYZ, v: XYZ, duration_s: float, minima: SeparationMinima) -> tuple[float, float] | None:
    """The span [s, e] of [0, duration_s] in which a relative position ``d + v * t`` (metres, m/s)
    is within both minima, or None. Exact for linear relative motion."""
    h2 = minima.horizontal_m**2
    a = v[0] * v[0] + v[1] * v[1]
    b = 2.0 * (d[0] * v[0] + d[1] * v[1])
    c = d[0] * d[0] + d[1] * d[1] - h2
    if a < 1e-12:
        if c >= 0:
            return None
        lo, hi = 0.0, duration_s
    else:
        disc = b * b - 4 * a * c
        if disc <= 0:
            return None
        root = math.sqrt(disc)
        lo, hi = (-b - root) / (2 * a), (-b + root) / (2 * a)
    if abs(v[2]) < 1e-12:
        if abs(d[2]) >= minima.vertical_m:
            return None
    else:
        z0, z1 = (-minima.vertical_m - d[2]) / v[2], (minima.vertical_m - d[2]) / v[2]
        lo, hi = max(lo, min(z0, z1)), min(hi, max(z0, z1))
    lo, hi = max(lo, 0.0), min(hi, duration_s)
    return (lo, hi) if lo < hi else None


def _closest(d: XYZ, v: XYZ, lo: float, hi: float) -> float:
    vv = v[0] * v[0] + v[1] * v[1] + v[2] * v[2]
    t = -(d[0] * v[0] + d[1] * v[1] + d[2] * v[2]) / vv if vv > 1e-12 else lo
    return min(max(t, lo), hi)


class SeparationMonitor:
    """Watches true positions of drones (see the module doc) and keeps every loss of separation."""

    def __init__(
        self,
        minima: SeparationMinima | None = None,
        *,
        cell_m: float | None = None,
        on_loss: Callable[[SeparationLoss], None] | None = None,
    ) -> None:
        """``on_loss`` is called once per loss of separation, when it ends (or at :meth:`finish`)."""
        self.minima = checked_minima(minima or SeparationMinima())
        self.cell_m = cell_m or max(2 * self.minima.horizontal_m, 100.0)
        self.on_loss = on_loss
        self._ended: list[SeparationLoss] = []  # losses over, in the order they were settled
        self.checks = 0  # segment pairs compared (how cheap the grid keeps it)
        self._tracks: dict[str, _Track] = {}
        self._grid: dict[tuple[int, int], Counter[str]] = {}
        self._wide: dict[str, int] = {}  # drone -> its segments too large for the grid
        # Pieces of loss found per pair and not yet settled: a pair's pieces are found in no
        # particular time order (each drone's samples come at its own pace), so they are merged
        # into encounters only once every moment up to them has been checked.
        self._pending: dict[Pair, list[SeparationLoss]] = {}

    @property
    def losses(self) -> list[SeparationLoss]:
        """Every loss of separation, by start time: those over (``ended``), then those still going
        on or not yet settled as they stand now."""
        going_on = [g for pieces in self._pending.values() for g in _merged(pieces)]
        return sorted(self._ended + going_on, key=lambda x: x.start)

    @property
    def count(self) -> int:
        """How many losses of separation there have been."""
        return len(self._ended) + sum(len(_merged(p)) for p in self._pending.values())

    @property
    def per_pair(self) -> Counter[Pair]:
        """How many losses of separation each pair (sorted ids) has had."""
        return Counter(x.pair for x in self.losses)

    def closest(self) -> SeparationLoss | None:
        """The loss with the smallest closest approach (None: no loss)."""
        return min(self.losses, key=lambda s: s.closest_m, default=None)

    def report(self, to_lonlat: Callable[[float, float], tuple[float, float]] | None = None) -> list[str]:
        """The monitor's verdict as text: a count line, then one line per loss (where it was
        closest in lon/lat when ``to_lonlat`` maps the local frame)."""
        m = self.minima
        closest = self.closest()
        head = f"{self.count} loss(es) of separation ({m.horizontal_m:g} m / {m.vertical_m:g} m)"
        lines = [head + (f", closest {closest.closest_m:.1f} m" if closest else "")]
        for loss in self.losses:
            where = ""
            if to_lonlat is not None:
                lon, lat = to_lonlat(loss.xyz[0], loss.xyz[1])
                where = f" near ({lon:.5f}, {lat:.5f}, {loss.xyz[2]:.0f} m)"
            lines.append(f"  LOSS OF SEPARATION {loss.describe()}{where}")
        return lines

    # --- input ---------------------------------------------------------------------------------

    def observe(self, drone_id: str, t: datetime, p: XYZ, airborne: bool) -> None:
        """The true position ``p`` (x, y, alt in metres, local frame) of a drone at ``t``; samples of
        one drone come in time order (an older or repeated time is ignored)."""
        track = self._tracks.get(drone_id)
        if track is None:
            self._tracks[drone_id] = _Track(t, p, airborne)
            return
        if t <= track.last_t:
            return
        if track.last_airborne or airborne:
            seg = self._segment(drone_id, track.last_t, t, track.last_p, p)
            self._check(seg)
            track.segments.append(seg)
            self._index(seg, +1)
        track.last_t, track.last_p, track.last_airborne = t, p, airborne
        horizon = t - timedelta(seconds=_RETAIN_S)
        while track.segments and (track.segments[0].t1 < horizon or len(track.segments) > _MAX_SEGMENTS):
            self._index(track.segments.popleft(), -1)
        self._close_settled(drone_id)

    def finish(self) -> None:
        """Report the losses still going on (the simulation stops)."""
        for pair in list(self._pending):
            self._settle(pair, None)

    # --- internals -----------------------------------------------------------------------------

    def _segment(self, drone_id: str, t0: datetime, t1: datetime, p0: XYZ, p1: XYZ) -> _Segment:
        return _Segment(drone_id, t0, t1, p0, p1, tuple(self._cells(p0, p1, 0.0) or ()))

    def _cells(self, p0: XYZ, p1: XYZ, margin: float) -> list[tuple[int, int]] | None:
        """The grid cells of the box around p0-p1 widened by ``margin``; None if too many."""
        c = self.cell_m
        x0, x1 = math.floor((min(p0[0], p1[0]) - margin) / c), math.floor((max(p0[0], p1[0]) + margin) / c)
        y0, y1 = math.floor((min(p0[1], p1[1]) - margin) / c), math.floor((max(p0[1], p1[1]) + margin) / c)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > _MAX_CELLS:
            return None
        return [(i, j) for i in range(x0, x1 + 1) for j in range(y0, y1 + 1)]

    def _index(self, seg: _Segment, delta: int) -> None:
        if not seg.cells:
            self._wide[seg.drone_id] = self._wide.get(seg.drone_id, 0) + delta
            if self._wide[seg.drone_id] <= 0:
                del self._wide[seg.drone_id]
            return
        for cell in seg.cells:
            here = self._grid.setdefault(cell, Counter())
            here[seg.drone_id] += delta
            if here[seg.drone_id] <= 0:
                del here[seg.drone_id]
                if not here:
                    del self._grid[cell]

    def _neighbours(self, seg: _Segment) -> Iterable[str]:
        if not seg.cells:
            return [d for d in self._tracks if d != seg.drone_id]
        cells = self._cells(seg.p0, seg.p1, self.minima.horizontal_m)
        if cells is None:
            return [d for d in self._tracks if d != seg.drone_id]
        found: set[str] = set(self._wide)
        for cell in cells:
            found.update(self._grid.get(cell, ()))
        found.discard(seg.drone_id)
        return found

    def _check(self, seg: _Segment) -> None:
        for other_id in sorted(self._neighbours(seg)):
            for other in reversed(self._tracks[other_id].segments):  # newest first
                if other.t1 <= seg.t0:
                    break
                lo, hi = max(seg.t0, other.t0), min(seg.t1, other.t1)
                if hi <= lo:
                    continue
                self.checks += 1
                a, b = seg.at(lo), other.at(lo)
                span = (hi - lo).total_seconds()
                a1, b1 = seg.at(hi), other.at(hi)
                d: XYZ = (a[0] - b[0], a[1] - b[1], a[2] - b[2])
                v: XYZ = (
                    (a1[0] - b1[0] - d[0]) / span,
                    (a1[1] - b1[1] - d[1]) / span,
                    (a1[2] - b1[2] - d[2]) / span,
                )
                found = loss_span(d, v, span, self.minima)
                if found is not None:
                    self._record(seg, other, lo, d, v, found)

    def _record(
        self, seg: _Segment, other: _Segment, lo: datetime, d: XYZ, v: XYZ, span: tuple[float, float]
    ) -> None:
        a_id, b_id = seg.drone_id, other.drone_id
        pair: Pair = (a_id, b_id) if a_id < b_id else (b_id, a_id)
        s, e = span
        tc = _closest(d, v, s, e)
        rel = tuple(d[i] + v[i] * tc for i in range(3))
        horizontal, vertical = math.hypot(rel[0], rel[1]), abs(rel[2])
        closest = math.hypot(horizontal, vertical)
        start, end, at = (lo + timedelta(seconds=x) for x in (s, e, tc))
        pa, pb = seg.at(at), other.at(at)
        mid: XYZ = ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2, (pa[2] + pb[2]) / 2)
        piece = SeparationLoss(pair, start, end, at, closest, horizontal, vertical, mid)
        self._pending.setdefault(pair, []).append(piece)

    def _close_settled(self, drone_id: str) -> None:
        """Settle the pending losses of ``drone_id``'s pairs up to the earlier of the two drones'
        latest samples: every moment up to there has been checked."""
        for pair in [p for p in self._pending if drone_id in p]:
            self._settle(pair, min(self._tracks[pair[0]].last_t, self._tracks[pair[1]].last_t))

    def _settle(self, pair: Pair, seen: datetime | None) -> None:
        """Report the encounters of ``pair`` that ended before ``seen`` (None: all of them)."""
        keep: list[SeparationLoss] = []
        for loss in _merged(self._pending.pop(pair)):
            if seen is not None and (seen - loss.end).total_seconds() <= _CONTIGUOUS_S:
                keep.append(loss)  # may still go on
                continue
            loss.ended = True
            self._ended.append(loss)
            log.error("LOSS OF SEPARATION: %s", loss.describe())
            if self.on_loss is not None:
                self.on_loss(loss)
        if keep:
            self._pending[pair] = keep


def _merged(pieces: list[SeparationLoss]) -> list[SeparationLoss]:
    """Pieces of loss of one pair joined into encounters (pieces touching in time are one), each
    with the closest approach of its pieces."""
    out: list[SeparationLoss] = []
    for p in sorted(pieces, key=lambda x: x.start):
        last = out[-1] if out else None
        if last is None or (p.start - last.end).total_seconds() > _CONTIGUOUS_S:
            out.append(replace(p))
            continue
        last.end = max(last.end, p.end)
        if p.closest_m < last.closest_m:
            last.closest_at, last.closest_m, last.xyz = p.closest_at, p.closest_m, p.xyz
            last.horizontal_m, last.vertical_m = p.horizontal_m, p.vertical_m
    return out
