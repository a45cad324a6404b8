"""The least ground delay that clears a trip's intent of every accepted intent, found from the
volumes' time windows instead of by trying delays one after another.

A volume ``v`` of the trip, delayed by ``d``, meets an accepted volume ``w`` of another drone
exactly when their altitude bands and outlines overlap (which a delay does not change) and their
time windows overlap: ``w.t0 - v.t1 < d < w.t1 - v.t0``. Each spatially overlapping pair so
forbids one open interval of delays, and a port's take-off or landing column forbids the delays at
which it would overlap an instant where the port's landing spots are all taken by other drones.
The least allowed delay is one sweep over the forbidden intervals sorted by their start. Delays
are sought in windows (``window_s`` of delay at a time, doubling, the grid read for that window
only), so a trip free at once costs one narrow read per grid cell it covers. :func:`clear` is the
same reading at one delay: whether a trip meets anything there (tested equal to
:meth:`routing.separation.IntentIndex.conflicts`, which the validator uses independently).

Delays stay whole seconds after ``base`` (as a trial-by-trial search in steps of seconds would
give). Pure: no I/O, no event loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from routing.intents import Volume
from routing.separation import IntentIndex, port_id, segment_distances

WINDOW_S = 600.0


class Layers(Protocol):
    """A trip's layers in order of preference, each its volumes at delay 0 or their
    :class:`Shape`; read by position (a list, or a lazy sequence that makes each when read)."""

    def __len__(self) -> int: ...

    def __getitem__(self, k: int, /) -> Shape | Sequence[Volume]: ...


class Shape:
    """A trip's volumes at delay 0, prepared once for every window of a search: as numbers, and
    grouped by the grid cells they cover with the times they span there."""

    def __init__(self, index: IntentIndex, volumes: Sequence[Volume]) -> None:
        self.volumes = volumes
        self.rows = np.array(
            [(v.ax, v.ay, v.bx, v.by, v.radius_m, v.lo_m, v.hi_m, v.t0, v.t1) for v in volumes]
        )
        self.by_cell: dict[tuple[int, int], tuple[list[int], list[float]]] = {}
        for k, u in enumerate(volumes):
            for key in index.grid.cell_keys(u.bbox()):
                held = self.by_cell.get(key)
                if held is None:
                    self.by_cell[key] = ([k], [u.t0, u.t1])
                else:
                    held[0].append(k)
                    held[1][0] = min(held[1][0], u.t0)
                    held[1][1] = max(held[1][1], u.t1)


def forbidden(
    index: IntentIndex, shape: Shape, drone_id: str, lo: float, hi: float
) -> list[tuple[float, float]]:
    """The open intervals of delay (meeting ``[lo, hi]``) at which the trip of ``shape`` would
    conflict with the accepted intents of drones other than ``drone_id``."""
    volumes, vs = shape.volumes, shape.rows
    out: list[tuple[float, float]] = []
    at_port: dict[int, list[Volume]] = {}  # by position in ``volumes``: the same port's columns
    near_v: list[np.ndarray] = []  # pairs that meet in time and height, of every layer: their rows
    near_w: list[np.ndarray] = []
    for layer in index.layers():
        # One time slab per cell (a pair met in two cells only repeats its interval).
        mine_list: list[int] = []
        theirs_list: list[int] = []
        for key, (ks, (t0, t1)) in shape.by_cell.items():
            items = layer.grid.slab(key, t0 + lo, t1 + hi)
            if items:
                for k in ks:
                    mine_list += [k] * len(items)
                    theirs_list += items
        if not mine_list:
            continue
        mine = np.array(mine_list)
        theirs = np.array(theirs_list)
        table = layer.table
        v = vs[mine]
        w = table.rows[theirs]
        res = np.array([table.resources.get(x.resource, -2) if x.resource else -2 for x in volumes])[mine]
        start, end = w[:, 7] - v[:, 8], w[:, 8] - v[:, 7]  # the delays at which the windows overlap
        live = (w[:, 9] != table.drones.get(drone_id, -2)) & (end > lo) & (start < hi)
        port = live & (w[:, 10] == res)
        meet = live & ~port & (v[:, 5] < w[:, 6]) & (w[:, 5] < v[:, 6])
        near_v.append(v[meet])
        near_w.append(w[meet])
        for k, j in zip(mine[port].tolist(), theirs[port].tolist(), strict=True):
            if all(x is not layer.volumes[j][0] for x in at_port.get(k, ())):  # met in two cells
                at_port.setdefault(k, []).append(layer.volumes[j][0])
    if near_v:
        v, w = np.concatenate(near_v), np.concatenate(near_w)
        if len(v):
            reach = v[:, 4] + w[:, 4]
            # Boxes apart by more than the two radii cannot meet: most pairs sharing a cell.
            box = (
                (np.minimum(v[:, 0], v[:, 2]) - reach < np.maximum(w[:, 0], w[:, 2]))
                & (np.minimum(w[:, 0], w[:, 2]) - reach < np.maximum(v[:, 0], v[:, 2]))
                & (np.minimum(v[:, 1], v[:, 3]) - reach < np.maximum(w[:, 1], w[:, 3]))
                & (np.minimum(w[:, 1], w[:, 3]) - reach < np.maximum(v[:, 1], v[:, 3]))
            )
            v, w, reach = v[box], w[box], reach[box]
            gap = segment_distances(v[:, 0:2], v[:, 2:4], w[:, 0:2], w[:, 2:4])
            hit = gap < reach
            out += zip((w[hit, 7] - v[hit, 8]).tolist(), (w[hit, 8] - v[hit, 7]).tolist(), strict=True)
    for k, same_port in at_port.items():
        u = volumes[k]
        spots = index.spots.get(port_id(u.resource), 1)
        out += [(a - u.t1, b - u.t0) for a, b in full_spans(same_port, spots)]
    return out


def clear(index: IntentIndex, shape: Shape | Sequence[Volume], drone_id: str, delay: float = 0.0) -> bool:
    """Whether the trip (its volumes at delay 0, or their :class:`Shape`) delayed by ``delay``
    meets no accepted volume of another drone (nor a full port): :meth:`IntentIndex.conflicts`
    finding none, read from the forbidden delays at ``delay``."""
    if not isinstance(shape, Shape):
        shape = Shape(index, shape)
    return not any(a < delay < b for a, b in forbidden(index, shape, drone_id, delay, delay))


def full_spans(volumes: Sequence[Volume], spots: int) -> list[tuple[float, float]]:
    """The spans of time during which at least ``spots`` of ``volumes`` overlap (open at both
    ends: a window that only touches one does not meet it)."""
    events = sorted([(w.t0, 1) for w in volumes] + [(w.t1, -1) for w in volumes])
    out: list[tuple[float, float]] = []
    depth, since = 0, 0.0
    for t, step in events:  # ends sort before starts at the same instant: touching is no overlap
        if step > 0 and depth + 1 == spots:
            since = t
        elif step < 0 and depth == spots and t > since:
            out.append((since, t))
        depth += step
    return out


def least_allowed(intervals: list[tuple[float, float]], base: float, start: float) -> float:
    """The least delay ``>= start``, a whole number of seconds after ``base``, inside none of the
    open ``intervals``."""
    d = start
    for a, b in sorted(intervals):
        if a >= d:
            break
        if d < b:
            d = base + math.ceil(b - base + 1e-3)
    return d


def least_delay(
    index: IntentIndex,
    drone_id: str,
    layers: Layers,
    base: float,
    limit: float,
    *,
    window_s: float = WINDOW_S,
) -> tuple[float, int] | None:
    """The least delay in ``[base, limit]`` at which one of ``layers`` (the trip's volumes at delay
    0 or their :class:`Shape`, one per cruise layer in order of preference) conflicts with nothing
    in ``index``, and that layer's position (the first preferred on a tie); None if there is none.
    ``layers`` is read in order and only as far as needed (a layer free at the window's start
    ends the search): a lazy sequence spares the layers never read."""
    shapes: dict[int, Shape] = {}

    def shape_of(k: int) -> Shape:
        if k not in shapes:
            given = layers[k]
            shapes[k] = given if isinstance(given, Shape) else Shape(index, given)
        return shapes[k]

    lo = base
    while lo <= limit + 1e-9:
        hi = min(limit, lo + window_s)
        best: tuple[float, int] | None = None
        nxt = math.inf
        for k in range(len(layers)):
            d = least_allowed(forbidden(index, shape_of(k), drone_id, lo, hi), base, lo)
            if d <= lo:  # no layer after it can do better (ties go to the preferred)
                return d, k
            if d <= hi + 1e-9 and (best is None or d < best[0]):
                best = (d, k)
            nxt = min(nxt, d)  # every delay in [lo, d) is forbidden on this layer
        if best is not None:
            return best
        if hi >= limit:
            return None
        lo = max(nxt, base + math.ceil(hi - base))
        window_s *= 2  # a trip that waits long usually waits longer: fewer, wider queries
    return None
