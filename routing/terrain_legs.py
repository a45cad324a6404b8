"""Terrain in planning (pure): the zones terrain makes, the climbs of every arc, a leg's heights.

With a terrain model (``PlanningProblem.terrain``) the planner

- adds the terrain the fleet cannot clear under the ceiling as no-fly zones
  (:func:`airspace.terrain_obstacles.terrain_zones`, computed with the smallest climb grade of the
  fleet's models), so the path finder goes around it;
- treats every operator zone whose altitude band meets the true-height band
  ``[clearance, ceiling]`` as a full column: over hills a drone's true height moves within that
  band, so a zone it might meet anywhere in it is avoided (:func:`zones_in_band`);
- adds to every arc's energy the climbs of the flown profile (:class:`TerrainArcs`; descents give
  nothing back), so batteries hold over hills;
- gives every leg its profile: waypoints with altitudes above mean sea level
  (:class:`LegHeights`), the least and the most true height along it.

The planner keeps :data:`PLANNING_MARGIN_M` inside the band and samples the ground every
:data:`PLANNING_STEP_M`, so that an independent check sampling elsewhere (the validator, the
simulator's monitor) finds the clearance and the ceiling kept. Without terrain nothing here runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain, altitude_profile_batch
from airspace.terrain_obstacles import terrain_zones
from airspace.terrain_profile import (
    PLANNING_MARGIN_M,
    PLANNING_STEP_M,
    SIMPLIFY_TOLERANCE_M,
    LegHeights,
    flown_profile,
    frame_for,
    planning_band,
    sample_path,
)
from airspace.zones import Zone
from fleet.description import DroneModel
from routing.problem import Trip

LonLat = tuple[float, float]
# Re-exported: the planner's names for the profile rule (airspace.terrain_profile).
__all__ = [
    "PLANNING_MARGIN_M",
    "PLANNING_STEP_M",
    "SIMPLIFY_TOLERANCE_M",
    "LegHeights",
    "frame_for",
    "planning_band",
]
Waypoint = tuple[float, float, float]


def fleet_terrain_zones(area: AreaTerrain, models: Iterable[DroneModel]) -> tuple[Zone, ...]:
    """The terrain no model of the fleet can clear under the ceiling, as no-fly zones (computed
    with the smallest grade among ``models``: a leg avoiding them can be flown by every model)."""
    grades = [m.grade for m in models]
    if not grades:
        return ()
    key = (_area_key(area), min(grades))
    if key not in _ZONES:  # every round and intake decision over the same area asks again
        lo, hi = planning_band(area)
        _ZONES[key] = terrain_zones(area.terrain, grade=min(grades), clearance_m=lo, ceiling_m=hi)
    return _ZONES[key]


_ZONES: dict[tuple[object, ...], tuple[Zone, ...]] = {}


def zones_in_band(zones: Iterable[Zone], area: AreaTerrain) -> tuple[Zone, ...]:
    """``zones`` with every zone whose altitude band meets ``[clearance, ceiling]`` made a full
    column (floor 0, no ceiling); zones wholly above or below the band are kept as they are."""
    out = []
    for z in zones:
        meets = z.floor_m <= area.ceiling_m and (z.ceiling_m is None or z.ceiling_m >= area.clearance_m)
        out.append(replace(z, floor_m=0.0, ceiling_m=None) if meets else z)
    return tuple(out)


@dataclass(slots=True)
class TerrainArcs:
    """One model's heights over terrain between the sites of a problem.

    ``climb_m[i, j]`` is the climb along the safe path from site ``i`` to site ``j`` (an upper
    bound of what :meth:`leg` states: simplifying a profile never adds climb); 0 on the diagonal
    and where no path exists."""

    area: AreaTerrain
    model: DroneModel
    frame: LocalFrame
    climb_m: np.ndarray
    unclear: set[tuple[int, int]]  # arcs whose path leaves the band (avoided by the planner)
    _path: Callable[[int, int], list[LonLat]]
    _points: Sequence[LonLat]
    _legs: dict[tuple[int, int], LegHeights] = field(default_factory=dict)

    def leg(self, i: int, j: int) -> LegHeights:
        """The profile of the leg from site ``i`` to site ``j`` along its safe path."""
        if (i, j) not in self._legs:
            path = self._path(i, j) if i != j else [self._points[i]] * 2
            self._legs[(i, j)] = leg_heights(self.area, self.model, path, self.frame)
        return self._legs[(i, j)]

    def climb_energy_wh(self, i: int, j: int) -> float:
        """The climb energy of the arc ``i -> j`` as the solver counts it."""
        return self.model.climb_energy_wh(float(self.climb_m[i, j]))


def leg_heights(
    area: AreaTerrain, model: DroneModel, path: Sequence[LonLat], frame: LocalFrame | None = None
) -> LegHeights:
    """The profile a drone of ``model`` flies along ``path`` (lon/lat) over the area's terrain."""
    return flown_profile(area, path, cruise_m=model.cruise_altitude_m, grade=model.grade, frame=frame)


# Climbs of the paths already profiled in this process (planning rounds and intake decisions
# over the same pads ask for the same paths again): (area, model, path) -> (climb, clears).
_CLIMBS: dict[tuple[object, ...], tuple[float, bool]] = {}
_CLIMBS_MAX = 200_000


def _area_key(area: AreaTerrain) -> tuple[object, ...]:
    t = area.terrain
    return (t.name, t.heights.shape, t.transform, hash(t.heights.tobytes()), area.clearance_m, area.ceiling_m)


def _climbs(
    area: AreaTerrain, model: DroneModel, paths: Sequence[Sequence[LonLat]], frame: LocalFrame
) -> tuple[np.ndarray, np.ndarray]:
    """The climb along each path and whether it clears, as one batch of profiles."""
    lonlats = [np.asarray(p, dtype=float).reshape(-1, 2) for p in paths]
    sizes = [len(p) for p in lonlats]
    xy_all = frame.points_to_xy(np.vstack(lonlats))  # one projection for every vertex
    cuts = np.cumsum(sizes)[:-1]
    samples = [
        sample_path(xy, ll, PLANNING_STEP_M) for xy, ll in zip(np.split(xy_all, cuts), lonlats, strict=True)
    ]
    seg = np.repeat(np.arange(len(paths)), [len(s) for s, _, _ in samples])
    s_all = np.concatenate([s for s, _, _ in samples])
    pts = np.vstack([ll for _, ll, _ in samples])
    ground = area.terrain.heights_at(pts[:, 0], pts[:, 1])
    lo, hi = planning_band(area)
    alt, clears = altitude_profile_batch(
        s_all, ground, seg, cruise_m=model.cruise_altitude_m, grade=model.grade, clearance_m=lo, ceiling_m=hi
    )
    rise = np.clip(np.diff(alt), 0.0, None) * (np.diff(seg) == 0)
    return np.bincount(seg[1:], weights=rise, minlength=len(paths)), clears


def terrain_arcs(
    area: AreaTerrain,
    model: DroneModel,
    points: Sequence[LonLat],
    length_m: np.ndarray,
    path: Callable[[int, int], list[LonLat]],
) -> TerrainArcs:
    """Climbs of every arc with a safe path (profiles not computed before in this process are
    computed in one batch)."""
    n = len(points)
    frame = frame_for(points)
    arcs = [(i, j) for i in range(n) for j in range(n) if i != j and math.isfinite(float(length_m[i, j]))]
    climb = np.zeros((n, n))
    unclear: set[tuple[int, int]] = set()
    base = (_area_key(area), model.cruise_altitude_m, model.grade) if arcs else ()
    keys = [(*base, tuple(map(tuple, path(i, j)))) for i, j in arcs]
    missing = [k for k in dict.fromkeys(keys) if k not in _CLIMBS]
    if missing:
        climbs, clears = _climbs(area, model, [k[-1] for k in missing], frame)
        if len(_CLIMBS) + len(missing) > _CLIMBS_MAX:
            _CLIMBS.clear()
        _CLIMBS.update(zip(missing, zip(climbs.tolist(), clears.tolist(), strict=True), strict=True))
    for (i, j), key in zip(arcs, keys, strict=True):
        climb[i, j], ok = _CLIMBS[key]
        if not ok:
            unclear.add((i, j))
    return TerrainArcs(area, model, frame, climb, unclear, path, points)


def layers_over_terrain(area: AreaTerrain, layers: Sequence[float], base: float) -> tuple[float, ...]:
    """The layers that fly different true heights over terrain: the aim is capped to the band, so
    layers above the ceiling fly the same heights; of those, the base layer (else the lowest) is kept."""
    lo, hi = planning_band(area)
    by_aim: dict[float, float] = {}
    for a in sorted(layers, key=lambda a: (a != base, a)):
        by_aim.setdefault(min(max(a, lo), hi), a)
    return tuple(sorted(by_aim.values()))


def relayered(trip: Trip, area: AreaTerrain, model: DroneModel, altitude_m: float) -> Trip:
    """``trip`` flown at cruise layer ``altitude_m`` over the terrain: each leg's profile, true
    heights and climbs computed for that layer along the same path (times unchanged: climbing
    does not slow a drone down)."""
    layer_model = replace(model, cruise_altitude_m=altitude_m)
    legs = []
    for leg in trip.legs:
        path = [(w[0], w[1]) for w in leg.waypoints]
        h = leg_heights(area, layer_model, path)
        legs.append(
            replace(
                leg,
                waypoints=tuple((x, y, altitude_m) for x, y in path),
                profile=h.waypoints,
                true_height_m=(h.min_true_m, h.max_true_m),
                energy_wh=model.leg_energy_wh(leg.distance_m, leg.payload_kg)
                + model.climb_energy_wh(h.climb_m),
            )
        )
    return Trip(tuple(legs))
