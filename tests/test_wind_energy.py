"""Forecast wind in the leg energy: the law, the winds of a leg, the planner and the validator with
them, and the simulated drone draining by the same law within what was planned."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from airspace.weather import Forecast, WindHour, speed_at_height, wind_vector
from fleet.description import load_fleet
from routing.deconflict import moved
from routing.planner import plan
from routing.validate import validate_plan
from routing.validate_terrain import profile_climb_m
from routing.wind_energy import (
    TAIL_WIND_FLOOR,
    WindSet,
    air_factor,
    arc_factors,
    drones_in_wind,
    forecast_winds,
    leg_energy_wh,
    path_factor,
)
from simulator.wind import WindField
from tests.conftest import EXAMPLES
from tests.fleet_helpers import SERVICE_CENTRE_PORT
from tests.planner_fixtures import T0, at_m, fleet, problem, reasons, request, solved
from tests.test_simulator_drone import EAST, drone, out_and_back
from tests.test_simulator_drone import T0 as SIM_T0

V = 15.0


def forecast(speeds: list[float], from_deg: list[float | None], *, start: datetime = T0) -> Forecast:
    """A one-point forecast from an hour before ``start``: 120 m speeds (m/s) hour by hour, 80 m at
    0.9 and 10 m at 0.6 of them."""
    n = len(speeds)
    times = [int((start + timedelta(hours=h - 1)).timestamp()) for h in range(n)]
    unit = {f"wind_speed_{h}m": "m/s" for h in (10, 80, 120)}
    hourly: dict[str, Any] = {
        "time": times,
        "wind_speed_10m": [0.6 * s for s in speeds],
        "wind_speed_80m": [0.9 * s for s in speeds],
        "wind_speed_120m": speeds,
    }
    if any(d is not None for d in from_deg):
        unit["wind_direction_10m"] = "°"
        hourly["wind_direction_10m"] = from_deg
    return Forecast.from_open_meteo(
        {"latitude": 36.21, "longitude": 114.44, "hourly_units": unit, "hourly": hourly}
    )


def steady(speed: float, from_deg: float, hours: int = 8, start: datetime = T0) -> Forecast:
    return forecast([speed] * hours, [from_deg] * hours, start=start)


# -- the law ---------------------------------------------------------------------------------------


def test_the_law_is_the_square_of_the_airspeed_ratio_with_a_floor_for_tail_winds() -> None:
    east = (1.0, 0.0)
    assert air_factor(*east, (0.0, 0.0), V) == 1.0
    assert air_factor(*east, wind_vector(5.0, 90.0), V) == pytest.approx((20 / 15) ** 2)  # head
    assert air_factor(*east, wind_vector(5.0, 0.0), V) == pytest.approx(1 + (5 / 15) ** 2)  # cross
    assert air_factor(*east, wind_vector(5.0, 270.0), V) == TAIL_WIND_FLOOR  # (10/15)^2 < floor
    assert air_factor(*east, wind_vector(0.5, 270.0), V) == pytest.approx((14.5 / 15) ** 2)  # above it
    # Stronger head wind, more energy; the tail never pays less than the floor.
    heads = [air_factor(*east, wind_vector(w, 90.0), V) for w in range(13)]
    assert heads == sorted(heads) and len(set(heads)) == 13
    assert min(air_factor(*east, wind_vector(w, 270.0), V) for w in range(13)) == TAIL_WIND_FLOOR


def test_wind_between_levels_is_linear_and_grows_above_the_highest() -> None:
    levels = [(10.0, 4.0), (80.0, 8.0), (120.0, 10.0)]
    assert speed_at_height(levels, 0.0) == 4.0
    assert speed_at_height(levels, 45.0) == pytest.approx(6.0)
    assert speed_at_height(levels, 100.0) == pytest.approx(9.0)
    assert speed_at_height(levels, 240.0) == pytest.approx(10.0 * 2 ** (1 / 7))
    assert speed_at_height([(120.0, 10.0)], 60.0) == 10.0
    with pytest.raises(ValueError, match="no wind level"):
        speed_at_height([], 10.0)


def test_the_winds_of_a_window_and_the_wind_at_an_instant() -> None:
    fc = forecast([10.0, 20.0, 10.0], [90.0, 90.0, None])
    at_first_hour = T0 - timedelta(hours=1)
    (only,) = fc.winds(at_first_hour, at_first_hour, 100.0)
    assert only == WindHour(low_mps=6.0, high_mps=9.5, from_deg=90.0)  # 10 m .. 100 m
    window = fc.winds(at_first_hour + timedelta(minutes=10), T0 + timedelta(minutes=10), 120.0)
    assert [h.high_mps if h else None for h in window] == [10.0, 20.0, 10.0]
    assert window[2] is not None and window[2].from_deg is None
    # Linear in time between the samples, at the height asked for.
    east, north = fc.wind_at(114.44, 36.21, 120.0, at_first_hour + timedelta(minutes=30)) or (0, 0)
    assert east == pytest.approx(-15.0) and north == pytest.approx(0.0, abs=1e-9)
    assert fc.wind_at(114.44, 36.21, 10.0, at_first_hour) == pytest.approx((-6.0, 0.0))
    assert fc.wind_at(114.44, 36.21, 120.0, T0 + timedelta(hours=3)) is None  # beyond the forecast
    assert fc.winds(T0 + timedelta(hours=3), T0 + timedelta(hours=4), 120.0) == (None, None)


def test_a_wind_set_meets_unknown_directions_head_on_and_unknown_hours_calm() -> None:
    winds = WindSet.of([WindHour(4.0, 6.0, 270.0), None, WindHour(3.0, 3.0, None)])
    assert winds.head_mps == 3.0 and (0.0, 0.0) in winds.vectors and len(winds.vectors) == 3
    east = winds.worst([1.0], [0.0], V)[0]
    assert east == pytest.approx((18 / 15) ** 2)  # the unknown direction, head-on, beats the calm hour
    west = winds.worst([-1.0], [0.0], V)[0]
    assert west == pytest.approx((21 / 15) ** 2)  # the 6 m/s from the west, against
    assert WindSet.of([None]).calm and WindSet().calm and not winds.calm
    assert WindSet().worst([1.0], [0.0], V)[0] == 1.0


def test_a_path_pays_each_segment_its_own_wind_weighted_by_length() -> None:
    winds = WindSet.of([WindHour(5.0, 5.0, 90.0)])  # from the east
    east_then_north = [tuple(at_m(0, 0)), tuple(at_m(1000, 0)), tuple(at_m(1000, 3000))]
    f = path_factor(east_then_north, winds, V)  # 1 km head wind, 3 km cross wind
    assert f == pytest.approx((1 * (20 / 15) ** 2 + 3 * (1 + (5 / 15) ** 2)) / 4, rel=2e-3)
    assert path_factor(east_then_north, WindSet(), V) == 1.0
    assert path_factor([east_then_north[0]] * 2, winds, V) == 1.0  # does not move


def test_an_arc_factor_bounds_every_hour_of_the_horizon() -> None:
    fc = forecast([2.0, 10.0, 3.0, 3.0], [270.0, 90.0, 270.0, 270.0])
    pts = [tuple(at_m(0, 0)), tuple(at_m(4000, 0))]
    length = [[0.0, 4000.0], [math.inf, 0.0]]

    def path(i: int, j: int) -> list[tuple[float, float]]:
        return [pts[i], pts[j]]

    model = problem([], fleet(), []).fleet.models["m"]
    horizon = forecast_winds(fc, model, T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    factors = arc_factors(2, np.array(length), path, horizon, V)
    assert factors[1, 0] == 1.0 and factors[0, 0] == 1.0  # no path, the diagonal
    for h in range(3):
        start = T0 + timedelta(hours=h - 1, minutes=10)
        leg = forecast_winds(fc, model, start, start + timedelta(minutes=5))
        assert path_factor(pts, leg, V) <= factors[0, 1] + 1e-12
    assert factors[0, 1] == pytest.approx((24.5 / 15) ** 2, rel=1e-3)  # that hour, 9.5 m/s at 100 m


# -- the planner and the validator -----------------------------------------------------------------


def far_trip() -> Any:
    # Port -> 8 km east and back: 205 Wh of a 240 Wh usable battery in calm air.
    return problem([], fleet(drones=1), [request("east", at_m(0, 100), at_m(8000, 0))])


def test_a_head_wind_puts_a_trip_out_of_range_that_calm_air_serves() -> None:
    calm = far_trip()
    assert solved(calm).served == ("east",)
    for from_deg in (90.0, 270.0):  # against on the way out, or on the way back
        windy = dataclasses.replace(calm, wind=steady(6.0, from_deg))
        result = solved(windy)
        assert reasons(result) == {"east": "out_of_range"}
        (detail,) = [u.detail for u in result.unserved]
        needed = float(detail.split()[1])
        assert needed > 240


def test_a_plan_in_the_wind_states_each_legs_wind_energy_and_validates() -> None:
    calm = far_trip()
    calm_plan = solved(calm)
    windy = dataclasses.replace(calm, wind=steady(1.5, 90.0))
    windy_plan = solved(windy)
    assert windy_plan.served == ("east",)
    legs = [leg for _, _, _, leg in windy_plan.legs()]
    out, back = legs[1], legs[2]  # pickup -> drop-off against the wind, home with it
    assert out.energy_wh == pytest.approx(
        leg_energy_wh(
            windy.fleet.models["m"],
            out.distance_m,
            0.5,
            [w[:2] for w in out.waypoints],
            forecast_winds(windy.wind, windy.fleet.models["m"], out.depart, out.arrive),
        ),
        rel=1e-9,
    )
    assert out.energy_wh > 1.19 * out.distance_m / 1000 * 13.5  # 1.43 m/s at 100 m: (16.43/15)^2
    assert back.energy_wh < back.distance_m / 1000 * 12  # (13.5/15)^2 = 0.81: the floor, 0.9
    assert back.energy_wh == pytest.approx(TAIL_WIND_FLOOR * back.distance_m / 1000 * 12, rel=1e-6)
    assert windy_plan.energy_wh > calm_plan.energy_wh
    # The calm plan in this wind: every flying leg's energy is wrong, said so.
    kinds = [(v.kind, v.seq) for v in validate_plan(windy, calm_plan)]
    assert kinds and {k for k, _ in kinds} == {"energy_wind"}
    # The validator recomputes: a stated energy off by 1 % is caught.
    trip = windy_plan.drones[0].trips[0]
    tampered = dataclasses.replace(trip.legs[1], energy_wh=trip.legs[1].energy_wh * 0.99)
    bad = dataclasses.replace(
        windy_plan,
        drones=(
            dataclasses.replace(
                windy_plan.drones[0],
                trips=(dataclasses.replace(trip, legs=(trip.legs[0], tampered, *trip.legs[2:])),),
            ),
        ),
    )
    (violation,) = validate_plan(windy, bad)
    assert violation.kind == "energy_wind" and violation.seq == 2 and "calm air" in violation.detail


def test_without_wind_nothing_changes() -> None:
    calm = far_trip()
    a = plan(calm, seconds=0.5, workers=1)
    b = plan(dataclasses.replace(calm, wind=forecast([0.0] * 8, [None] * 8)), seconds=0.5, workers=1)
    assert [leg.energy_wh for _, _, _, leg in a.legs()] == [leg.energy_wh for _, _, _, leg in b.legs()]


# -- the simulated drone ---------------------------------------------------------------------------


@pytest.mark.parametrize("from_deg", [90.0, 270.0, 0.0])
def test_the_simulated_drone_drains_within_the_planned_wind_energy(from_deg: float) -> None:
    fc = steady(8.0, from_deg, start=SIM_T0)
    field = WindField(forecast=fc)
    sim = drone(load_fleet(EXAMPLES / "fleet.json"))
    sim.advance_to(SIM_T0)
    out_and_back(sim, SIM_T0)  # 1.8 km east and back, at 120 m
    t = SIM_T0
    while t < SIM_T0 + timedelta(hours=1):
        sim.wind_xy = field.at(sim.id, *sim.lonlat(), sim.alt, t)  # as the agent does every step
        t += timedelta(seconds=1)
        sim.advance_to(t)
    half = (sim.drain_events()[-1].ts - SIM_T0) / 2
    planned = 0.0
    for path, start in (((SERVICE_CENTRE_PORT, EAST), SIM_T0), ((EAST, SERVICE_CENTRE_PORT), SIM_T0 + half)):
        length = math.dist(sim.frame.to_xy(*path[0]), sim.frame.to_xy(*path[1]))
        planned += leg_energy_wh(
            sim.model, length, 0.0, path, forecast_winds(fc, sim.model, start, start + half)
        )
    calm = sim.model.leg_energy_wh(2 * length, 0.0)
    assert planned > calm * 1.05  # the wind costs, whichever way it blows
    assert sim.energy_used_wh <= planned
    assert sim.energy_used_wh >= 0.9 * planned  # the same law; climb-out and glide-in in weaker air


def test_a_trip_moved_in_time_pays_the_wind_of_its_new_hours() -> None:
    # Calm until T0 + 1 h, then 8 m/s from the east: planned now, the trip flies in calm air.
    fc = forecast([0.0, 0.0, 0.0, 8.0, 8.0, 8.0, 8.0], [90.0] * 7)
    p = dataclasses.replace(
        problem([], fleet(drones=1), [request("east", at_m(0, 100), at_m(3000, 0))]), wind=fc
    )
    result = solved(p)
    (dp,) = result.drones
    calm = [leg.distance_m / 1000 * (12 + 3 * leg.payload_kg) for leg in dp.trips[0].legs]
    assert [leg.energy_wh for leg in dp.trips[0].legs] == pytest.approx(calm, rel=1e-9)
    later = dataclasses.replace(dp, trips=(moved(dp.trips[0], 2 * 3600.0, 100.0),))
    stale = dataclasses.replace(result, drones=(later,))
    assert "energy_wind" in {v.kind for v in validate_plan(p, stale)}
    (again,) = drones_in_wind(fc, p.fleet, [later])
    out = again.trips[0].legs[1]  # against the wind now
    assert out.energy_wh == pytest.approx(calm[1] * (22.6 / 15) ** 2, rel=2e-3)  # 7.6 m/s at 100 m
    assert "energy_wind" not in {
        v.kind for v in validate_plan(p, dataclasses.replace(result, drones=(again,)))
    }


def test_over_terrain_a_leg_pays_the_wind_and_its_climbs() -> None:
    from tests.test_planner_terrain import AT as HILLS_AT
    from tests.test_planner_terrain import FLEET as HILLS_FLEET
    from tests.test_planner_terrain import _area, _delivery_leg, _problem, _request

    area = _area()
    fc = steady(4.0, 90.0, start=HILLS_AT)
    for rid, a, b in (("ridge", (500.0, 0.0), (2500.0, 0.0)), ("massif", (2000.0, 0.0), (6000.0, 0.0))):
        problem = dataclasses.replace(_problem(area, _request(rid, a, b)), wind=fc)
        result = plan(problem, seconds=1, workers=1)
        assert result.served == (rid,)
        assert validate_plan(problem, result) == []
        leg = _delivery_leg(result, rid)  # eastwards, against the wind
        model = HILLS_FLEET.model_of(HILLS_FLEET.drones[0])
        winds = forecast_winds(fc, model, leg.depart, leg.arrive)
        flat = leg_energy_wh(model, leg.distance_m, leg.payload_kg, [w[:2] for w in leg.waypoints], winds)
        assert flat > 1.3 * model.leg_energy_wh(leg.distance_m, leg.payload_kg)
        climb = model.climb_energy_wh(profile_climb_m(leg.profile))
        assert (climb > 1.0) == (rid == "ridge")  # over the ridge, around the massif
        assert leg.energy_wh == pytest.approx(flat + climb, rel=1e-9)  # the climbs on top
