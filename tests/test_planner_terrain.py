"""Planning over terrain: a ridge under the ceiling is climbed over with the clearance, a massif
above it is flown around, the climbs are in the energy, and the validator checks all of it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain
from airspace.terrain_obstacles import impassable_mask
from airspace.terrain_profile import PLANNING_MARGIN_M
from fleet.description import parse_fleet
from routing.intents import IntentParams, trip_intent
from routing.plan_geojson import plan_from_geojson, plan_to_geojson
from routing.planner import plan
from routing.problem import PlanningProblem
from routing.requests import parse_requests
from routing.terrain_legs import layers_over_terrain, relayered
from routing.validate import validate_plan
from tests.terrain_fixtures import grid_terrain

LON0, LAT0, PIX = 114.30, 36.10, 0.0004
FRAME = LocalFrame(LON0, LAT0)
AT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
PLAIN_M = 100.0


def _ground(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A plain at 100 m, a long north-south ridge 70 m high at x = 1.5 km (under the ceiling:
    climbed over), and a 250 m massif at x = 4 km, |y| < 600 m (above it: flown around; with the
    slopes the drones cannot climb in time, terrain within about 0.8 km of its top too)."""
    ridge = 70.0 * np.exp(-(((x - 1500.0) / 150.0) ** 2))
    massif = 250.0 * np.clip(1.0 - np.maximum(np.abs(x - 4000.0) / 400.0, np.abs(y) / 600.0), 0.0, 0.6) / 0.6
    return PLAIN_M + ridge + massif


def _area() -> AreaTerrain:
    return AreaTerrain(grid_terrain(FRAME, _ground, (-2500.0, -3500.0), (8000.0, 3500.0), PIX))


def _lonlat(x: float, y: float) -> dict[str, float]:
    lon, lat = FRAME.to_lonlat(x, y)
    return {"lon": round(float(lon), 7), "lat": round(float(lat), 7)}


FLEET = parse_fleet(
    {
        "models": {
            "s": {
                "cruise_speed_mps": 15,
                "cruise_altitude_m": 80,
                "max_payload_kg": 2,
                "battery_wh": 400,
                "reserve_fraction": 0.2,
                "wh_per_km": 14,
                "wh_per_km_per_kg": 3,
                "service_s": 60,
                "turnaround_s": 300,
                "climb_rate_mps": 3,
                "wh_per_100m_climb": 4,
            }
        },
        "ports": [{"id": "port", **_lonlat(0.0, 0.0), "drones": [{"id": "D1", "model": "s"}]}],
    }
)


def _request(rid: str, a: tuple[float, float], b: tuple[float, float]) -> dict[str, object]:
    return {
        "id": rid,
        "pickup": _lonlat(*a),
        "dropoff": _lonlat(*b),
        "weight_kg": 0.5,
        "priority": "normal",
        "ready_at": AT.isoformat(),
        "deadline": (AT + timedelta(hours=2)).isoformat(),
    }


def _problem(area: AreaTerrain | None, *requests: dict[str, object]) -> PlanningProblem:
    return PlanningProblem(
        zones=(), fleet=FLEET, requests=tuple(parse_requests(list(requests))), at=AT, terrain=area
    )


@pytest.fixture(scope="module")
def area() -> AreaTerrain:
    return _area()


def _delivery_leg(result, rid: str):  # type: ignore[no-untyped-def]
    return next(leg for _, _, _, leg in result.legs() if leg.to_id == rid and leg.to_kind == "dropoff")


def test_a_ridge_under_the_ceiling_is_climbed_over_with_the_clearance(area: AreaTerrain) -> None:
    problem = _problem(area, _request("R1", (500.0, 0.0), (2500.0, 0.0)))
    result = plan(problem, seconds=1)
    assert result.served == ("R1",)
    assert validate_plan(problem, result) == []
    leg = _delivery_leg(result, "R1")
    assert len(leg.waypoints) == 2  # straight over the ridge, not around it
    xy = FRAME.points_to_xy([w[:2] for w in leg.profile])
    ground = _ground(xy[:, 0], xy[:, 1])
    alts = np.array([w[2] for w in leg.profile])
    crest = int(np.argmin(np.abs(xy[:, 0] - 1500.0)))
    assert alts[crest] >= PLAIN_M + 70.0 + area.clearance_m  # over the crest with the clearance
    assert alts.max() - alts.min() > 50.0  # it climbed: not a constant altitude
    assert np.all(alts - ground >= area.clearance_m - 0.5)
    assert np.all(alts - ground <= area.ceiling_m + 0.5)
    lo, hi = leg.true_height_m
    assert area.clearance_m + PLANNING_MARGIN_M - 1.0 <= lo <= hi <= area.ceiling_m
    # the climbs are paid for: more energy than the same leg over flat ground
    model = FLEET.model_of(FLEET.drones[0])
    assert leg.energy_wh > model.leg_energy_wh(leg.distance_m, leg.payload_kg) + 1.0


def test_a_massif_above_the_ceiling_is_flown_around(area: AreaTerrain) -> None:
    problem = _problem(area, _request("R2", (2000.0, 0.0), (6000.0, 0.0)))
    result = plan(problem, seconds=1)
    assert result.served == ("R2",)
    assert validate_plan(problem, result) == []
    leg = _delivery_leg(result, "R2")
    assert len(leg.waypoints) > 2 and leg.distance_m > 4200.0  # a detour, not the straight 4 km
    core = shapely.box(4000.0 - 320.0, -440.0, 4000.0 + 320.0, 440.0)  # ground above 100 + 150 m
    path = shapely.LineString(FRAME.points_to_xy([w[:2] for w in leg.waypoints]))
    assert not path.intersects(core)
    # over flat ground the same request flies straight through
    flat = plan(_problem(None, _request("R2", (2000.0, 0.0), (6000.0, 0.0))), seconds=1)
    assert len(_delivery_leg(flat, "R2").waypoints) == 2


def test_the_massif_is_impassable_and_the_ridge_is_not(area: AreaTerrain) -> None:
    mask = impassable_mask(area.terrain, grade=FLEET.model_of(FLEET.drones[0]).grade)
    rows, cols = np.nonzero(mask)
    a, _, c, _, e, f = area.terrain.transform
    x, _ = FRAME.to_xy(c + (cols + 0.5) * a, f + (rows + 0.5) * e)
    assert mask.any() and np.all(np.abs(np.asarray(x) - 4000.0) < 1400.0)  # not the ridge at 1.5 km


def test_the_validator_rejects_a_plan_that_ignores_the_terrain(area: AreaTerrain) -> None:
    problem = _problem(area, _request("R1", (500.0, 0.0), (2500.0, 0.0)))
    result = plan(problem, seconds=1)
    leg = _delivery_leg(result, "R1")
    level = tuple((w[0], w[1], PLAIN_M + 80.0) for w in leg.profile)  # into the ridge
    model = FLEET.model_of(FLEET.drones[0])
    flat_wh = model.leg_energy_wh(leg.distance_m, leg.payload_kg)  # what a plan over flat ground states

    def doctored(**changes: object) -> set[str]:
        trips = tuple(
            replace(t, legs=tuple(replace(x, **changes) if x is leg else x for x in t.legs))  # type: ignore[arg-type]
            for t in result.drones[0].trips
        )
        bad = replace(result, drones=(replace(result.drones[0], trips=trips),))
        return {v.kind for v in validate_plan(problem, bad)}

    assert doctored() == set()
    assert "terrain_clearance" in doctored(profile=level, energy_wh=flat_wh)
    assert {"energy_mismatch", "energy_climb"} <= doctored(energy_wh=flat_wh)
    assert "terrain_profile" in doctored(profile=())


def test_intents_over_terrain_cover_the_true_heights_flown(area: AreaTerrain) -> None:
    problem = _problem(area, _request("R1", (500.0, 0.0), (2500.0, 0.0)))
    result = plan(problem, seconds=1)
    trip = result.drones[0].trips[0]
    params = IntentParams()
    intent = trip_intent("D1", 1, trip, FRAME, params)
    lows = [leg.true_height_m[0] for leg in trip.legs if leg.true_height_m]
    highs = [leg.true_height_m[1] for leg in trip.legs if leg.true_height_m]
    en_route = [v for v in intent.volumes if v.lo_m > 0 and v.resource is None]
    assert en_route
    assert min(v.lo_m for v in en_route) <= min(lows) - params.half_band_m + 1e-6
    assert max(v.hi_m for v in en_route) >= max(highs) + params.half_band_m - 1e-6
    assert intent.layer_m == trip.legs[0].waypoints[0][2]


def test_plan_geojson_carries_altitudes_above_sea_level_and_reads_back(area: AreaTerrain) -> None:
    problem = _problem(area, _request("R1", (500.0, 0.0), (2500.0, 0.0)))
    result = plan(problem, seconds=1)
    doc = plan_to_geojson(result)
    legs = [f for f in doc["features"] if f["geometry"]["type"] == "LineString"]
    assert legs and all(f["properties"]["altitude_reference"] == "AMSL" for f in legs)
    over_ridge = next(
        f for f in legs if f["properties"]["to_id"] == "R1" and f["properties"]["to_kind"] == "dropoff"
    )
    alts = [c[2] for c in over_ridge["geometry"]["coordinates"]]
    assert max(alts) >= PLAIN_M + 70.0 + area.clearance_m  # altitudes above sea level, over the crest
    props = over_ridge["properties"]
    assert area.clearance_m <= props["min_true_height_m"] <= props["max_true_height_m"] <= area.ceiling_m
    back = plan_from_geojson(json.loads(json.dumps(doc)))
    assert [leg for *_, leg in back.legs()] == [leg for *_, leg in result.legs()]
    assert validate_plan(problem, back) == []


def test_over_terrain_the_layers_that_fly_different_heights_separate_trips(area: AreaTerrain) -> None:
    model = FLEET.model_of(FLEET.drones[0])
    # 140 m is capped under the ceiling like 120 m: the same heights, so one of them is offered
    assert layers_over_terrain(area, (60.0, 80.0, 100.0, 120.0, 140.0), 80.0) == (60.0, 80.0, 100.0, 120.0)
    assert layers_over_terrain(area, (120.0, 140.0), 140.0) == (140.0,)
    problem = _problem(area, _request("R1", (500.0, 0.0), (2500.0, 0.0)))
    trip = plan(problem, seconds=1).drones[0].trips[0]
    higher = relayered(trip, area, model, 100.0)
    for a, b in zip(trip.legs, higher.legs, strict=True):
        assert [w[:2] for w in a.waypoints] == [w[:2] for w in b.waypoints]  # the same path
        assert all(w[2] == 100.0 for w in b.waypoints)
        if a.distance_m > 0:
            assert max(w[2] for w in b.profile) > max(w[2] for w in a.profile)  # flown higher
            assert b.true_height_m is not None and b.true_height_m[1] >= 100.0 - 1.0
    # the relayered trip passes the validator's terrain and energy checks
    relayer_plan = replace(
        result := plan(problem, seconds=1), drones=(replace(result.drones[0], trips=(higher,)),)
    )
    kinds = {v.kind for v in validate_plan(problem, relayer_plan)}
    assert not kinds & {"terrain_clearance", "ceiling", "energy_climb", "energy_mismatch", "terrain_profile"}
