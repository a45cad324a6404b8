"""Wind in the energy of a leg (pure): the law, the winds a leg may meet, and the solver's factors.

**The law.** A drone holds its ground track at cruise speed ``v`` whatever the wind ``w`` (so the
planned times hold); the air it flies through then moves past it at ``|v·u − w|`` (``u`` the unit
vector of its track), and a leg costs its calm energy (``DroneModel.leg_energy_wh``) times

    f = max(TAIL_WIND_FLOOR, (|v·u − w| / v) ** 2)

per metre of ground track. Why the square: a leg's energy is the rotor power at that airspeed over
the (fixed) flight time, so ``f`` is the ratio of the power at airspeed ``|v·u − w|`` to the power
at cruise speed. The rotary-wing power model of Zeng, Xu and Zhang (IEEE Trans. Wireless Commun.,
2019: blade profile, induced and parasite power) stays under the square of the airspeed ratio for
every cruise speed of 10 to 18 m/s, up to 45 m/s of airspeed, while the plain ratio (energy per
kilometre of air) falls below it from about 1.5 times the cruise airspeed: the square is an upper
bound, conservative. A head wind of 5 m/s on a drone cruising at 15 m/s costs 1.78 times the calm
energy; a cross wind of 5 m/s, 1.11 times (the drone crabs into it). A tail wind lowers the
airspeed, but a multirotor's power hardly falls below its cruise power (it must still hold itself
up: the same model's least power is 0.92 of the power at 15 m/s, 0.79 at 18 m/s), so a tail wind
saves at most ``1 - TAIL_WIND_FLOOR``, 10 %.

**The winds.** A leg's wind is the forecast's (``airspace.weather.Forecast.winds``) at every
forecast point, in every forecast hour that touches the leg, between the ground and the highest
cruise layer of the model (the wind strengthens with height and deconfliction may move a leg to
another layer): the leg pays, on each of its straight segments, the worst of them. A wind without
a direction is met head-on; an hour whose wind is unknown counts as calm. The solver, which does
not know when an arc will be flown, gives each arc the worst over the round's horizon
(:func:`arc_factors`), an upper bound of any leg flown on it within the horizon. The simulator
flies in the forecast wind at its position, height and time (linear between the hourly samples),
which lies within what the leg was planned for; the law being convex in the wind, the energy it
drains stays within the planned energy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from airspace.weather import Forecast, WindHour, wind_vector
from fleet.description import TAIL_WIND_FLOOR, DroneModel, Fleet, air_factor
from routing.problem import DronePlan, Leg, Trip
from routing.validate_terrain import profile_climb_m

EARTH_RADIUS_M = 6_371_008.8

LonLat = tuple[float, float]
__all__ = ["TAIL_WIND_FLOOR", "air_factor"]  # the law itself lives in fleet.description (one definition)


@dataclass(frozen=True, slots=True)
class WindSet:
    """The winds a leg may meet: vectors (east, north, m/s) of known direction, and the strongest
    wind of unknown direction (None: none), met head-on."""

    vectors: tuple[tuple[float, float], ...] = ()
    head_mps: float | None = None

    @classmethod
    def of(cls, hours: Iterable[WindHour | None]) -> WindSet:
        """The winds of forecast hours (None: unknown, counted as calm)."""
        vectors: set[tuple[float, float]] = set()
        head: float | None = None
        for h in hours:
            if h is None:
                vectors.add((0.0, 0.0))
            elif h.from_deg is None:
                head = max(head or 0.0, h.high_mps)
            else:
                vectors.update(wind_vector(s, h.from_deg) for s in {h.low_mps, h.high_mps})
        return cls(tuple(sorted(vectors)), head)

    @property
    def calm(self) -> bool:
        """No wind at all: every factor is 1."""
        return self.head_mps in (None, 0.0) and all(v == (0.0, 0.0) for v in self.vectors)

    def worst(self, ux: np.ndarray, uy: np.ndarray, speed_mps: float) -> np.ndarray:
        """The largest factor over these winds for each direction of flight (unit vectors)."""
        ux, uy = np.asarray(ux, dtype=float), np.asarray(uy, dtype=float)
        out = np.full(ux.shape, TAIL_WIND_FLOOR if self.vectors or self.head_mps is not None else 1.0)
        v = speed_mps
        for we, wn in self.vectors:
            out = np.maximum(out, ((v * ux - we) ** 2 + (v * uy - wn) ** 2) / (v * v))
        if self.head_mps is not None:
            out = np.maximum(out, ((v + self.head_mps) / v) ** 2)
        return out


def forecast_winds(forecast: Forecast, model: DroneModel, start: datetime, end: datetime) -> WindSet:
    """The winds a leg of ``model`` flown within ``[start, end]`` may meet (see the module)."""
    return WindSet.of(forecast.winds(start, end, max(model.layers)))


def _segments(lonlats: Sequence[LonLat]) -> tuple[np.ndarray, np.ndarray]:
    """Per straight segment of a path: its (east, north) extent in metres (local flat earth)."""
    pts = np.asarray(lonlats, dtype=float).reshape(-1, 2)
    lat = np.radians((pts[1:, 1] + pts[:-1, 1]) / 2)
    dx = np.radians(np.diff(pts[:, 0])) * np.cos(lat) * EARTH_RADIUS_M
    dy = np.radians(np.diff(pts[:, 1])) * EARTH_RADIUS_M
    return dx, dy


def path_factor(lonlats: Sequence[LonLat], winds: WindSet, speed_mps: float) -> float:
    """The wind factor of a leg along ``lonlats``: the worst factor of ``winds`` on each straight
    segment, weighted by its length (1 for a leg that does not move, or in calm air)."""
    if winds.calm or len(lonlats) < 2:
        return 1.0
    dx, dy = _segments(lonlats)
    length = np.hypot(dx, dy)
    total = float(length.sum())
    if total <= 0.0:
        return 1.0
    safe = np.where(length > 0, length, 1.0)
    return float((winds.worst(dx / safe, dy / safe, speed_mps) * length).sum() / total)


def leg_energy_wh(
    model: DroneModel, distance_m: float, payload_kg: float, lonlats: Sequence[LonLat], winds: WindSet
) -> float:
    """The energy of a leg of ``distance_m`` along ``lonlats`` with ``payload_kg`` on board in
    ``winds``: its calm energy times :func:`path_factor`."""
    return model.leg_energy_wh(distance_m, payload_kg) * path_factor(lonlats, winds, model.cruise_speed_mps)


def arc_factors(
    n: int, length_m: np.ndarray, path: Callable[[int, int], list[LonLat]], winds: WindSet, speed_mps: float
) -> np.ndarray:
    """Per arc ``i -> j`` between ``n`` sites: the wind factor of its safe path (``path``) in
    ``winds``; 1 on the diagonal and where no path exists. All ones in calm air."""
    factors = np.ones((n, n))
    if winds.calm:
        return factors
    arcs = [(i, j) for i in range(n) for j in range(n) if i != j and math.isfinite(float(length_m[i, j]))]
    if not arcs:
        return factors
    parts = [_segments(path(i, j)) for i, j in arcs]
    owner = np.repeat(np.arange(len(arcs)), [len(dx) for dx, _ in parts])
    dx = np.concatenate([dx for dx, _ in parts])
    dy = np.concatenate([dy for _, dy in parts])
    length = np.hypot(dx, dy)
    safe = np.where(length > 0, length, 1.0)
    worst = winds.worst(dx / safe, dy / safe, speed_mps)
    total = np.bincount(owner, weights=length, minlength=len(arcs))
    paid = np.bincount(owner, weights=worst * length, minlength=len(arcs))
    per_arc = np.where(total > 0, paid / np.where(total > 0, total, 1.0), 1.0)
    rows, cols = zip(*arcs, strict=True)
    factors[list(rows), list(cols)] = per_arc
    return factors


def leg_in_wind(leg: Leg, model: DroneModel, forecast: Forecast) -> Leg:
    """``leg`` with its energy in the forecast wind of its own hours (after it was moved in time);
    the climbs of its profile over terrain cost what they did."""
    winds = forecast_winds(forecast, model, leg.depart, leg.arrive)
    lonlats = [(w[0], w[1]) for w in leg.waypoints]
    climb = model.climb_energy_wh(profile_climb_m(leg.profile))
    energy = leg_energy_wh(model, leg.distance_m, leg.payload_kg, lonlats, winds) + climb
    return leg if energy == leg.energy_wh else replace(leg, energy_wh=energy)


def drones_in_wind(forecast: Forecast, fleet: Fleet, drones: Iterable[DronePlan]) -> tuple[DronePlan, ...]:
    """Every leg of ``drones`` with its energy in the wind of the hours it is now flown in
    (deconfliction moves trips in time; the solver's arcs bound the wind of any hour)."""
    models = {d.id: fleet.model_of(d) for d in fleet.drones}
    return tuple(
        replace(
            dp,
            trips=tuple(
                Trip(tuple(leg_in_wind(leg, models[dp.drone_id], forecast) for leg in trip.legs))
                for trip in dp.trips
            ),
        )
        for dp in drones
    )
