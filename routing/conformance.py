"""Conformance: is a position at an instant inside an operational intent, and if not, by how much.

A point ``(t, x, y, z)`` (POSIX seconds; metres in the intent's frame, altitude above the take-off
ground) is inside a :class:`~routing.intents.Volume` when its time is in the volume's window, its
altitude in the band and its distance to the volume's segment at most the radius. Outside, its
*excess* in each dimension says how far: metres beyond the outline (lateral), metres above or
below the band (vertical), seconds before or after the window (time). Both the plan validator
(:mod:`routing.validate_separation`, planned samples) and the dispatcher's conformance monitor
(:mod:`dispatch.service.conformance`, telemetry) judge containment with :func:`excess`.

Everything here is pure: no I/O, no event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from routing.intents import OperationalIntent

Dimension = Literal["lateral", "vertical", "time"]


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far outside its intent a reported position may be and still conform (telemetry noise)."""

    lateral_m: float = 10.0
    vertical_m: float = 5.0
    time_s: float = 2.0


EXACT = Tolerance(0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where a point is against an intent. Outside (``inside`` False), ``dimension`` names what
    failed and the excesses say by how much (of the volume nearest in that sense, tolerance not
    deducted): ``time`` when the point is where the intent has the drone at another time (``early``
    if before), ``lateral`` or ``vertical`` when no volume of that instant holds it (the larger
    excess names the dimension; both are given)."""

    inside: bool
    dimension: Dimension | None = None
    lateral_m: float = 0.0
    vertical_m: float = 0.0
    seconds: float = 0.0
    early: bool = False


def volume_table(intent: OperationalIntent) -> np.ndarray:
    """The intent's volumes as rows ``(ax, ay, bx, by, radius_m, lo_m, hi_m, t0, t1)``."""
    return np.asarray(
        [(w.ax, w.ay, w.bx, w.by, w.radius_m, w.lo_m, w.hi_m, w.t0, w.t1) for w in intent.volumes],
        dtype=float,
    ).reshape(-1, 9)


def excess(table: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lateral (m), vertical (m) and time (s) excess of each sample row ``(t, x, y, z)`` over each
    volume of ``table`` (:func:`volume_table`): three arrays of shape (samples, volumes), 0 where
    the sample is within the volume in that dimension."""
    return excess_of(table[None, :, :], samples[:, None, :])


def excess_of(volumes: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`excess` of volume rows against sample rows, broadcast against each other (the last
    axis holds the columns): e.g. one volume per sample, for chosen pairs."""
    t, x, y, z = (samples[..., i] for i in range(4))
    ax, ay, bx, by, r, lo, hi, t0, t1 = (volumes[..., i] for i in range(9))
    dx, dy = bx - ax, by - ay
    n = dx * dx + dy * dy
    f = np.clip(np.where(n > 0, ((x - ax) * dx + (y - ay) * dy) / np.where(n > 0, n, 1.0), 0.0), 0.0, 1.0)
    lateral = np.maximum(np.hypot(x - ax - f * dx, y - ay - f * dy) - r, 0.0)
    vertical = np.maximum(np.maximum(lo - z, z - hi), 0.0)
    time = np.maximum(np.maximum(t0 - t, t - t1), 0.0)
    return lateral, vertical, time


def judge(table: np.ndarray, t: float, x: float, y: float, z: float, tolerance: Tolerance) -> Verdict:
    """The :class:`Verdict` on one point against the volumes of ``table``: inside when one volume
    holds it within ``tolerance`` in all three dimensions at once."""
    if len(table) == 0:
        return Verdict(False, "time", seconds=float("inf"))
    lat, vert, tim = (a[0] for a in excess(table, np.asarray([[t, x, y, z]], dtype=float)))
    ok_l, ok_v, ok_t = lat <= tolerance.lateral_m, vert <= tolerance.vertical_m, tim <= tolerance.time_s
    if np.any(ok_l & ok_v & ok_t):
        return Verdict(True)
    where = ok_l & ok_v
    if np.any(where):
        # Where the intent has the drone at another time: early or late, not off its path.
        k = int(np.flatnonzero(where)[np.argmin(tim[where])])
        return Verdict(False, "time", float(lat[k]), float(vert[k]), float(tim[k]), bool(t < table[k, 7]))
    if np.any(ok_t):
        idx = np.flatnonzero(ok_t)
        k = int(idx[np.argmin(np.hypot(lat[idx], vert[idx]))])
        dim: Dimension = "lateral" if lat[k] >= vert[k] else "vertical"
        return Verdict(False, dim, float(lat[k]), float(vert[k]), float(tim[k]))
    # No volume at this instant: before the intent begins or after it ends (or in a gap).
    k = int(np.argmin(tim))
    return Verdict(False, "time", float(lat[k]), float(vert[k]), float(tim[k]), bool(t < table[k, 7]))


def contains(
    intent: OperationalIntent, t: float, x: float, y: float, z: float, tolerance: Tolerance = EXACT
) -> bool:
    """Whether the intent holds the point ``(t, x, y, z)`` (its frame) within ``tolerance``."""
    return judge(volume_table(intent), t, x, y, z, tolerance).inside
