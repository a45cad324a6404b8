"""The validator's own terrain check: clearance, ceiling and the climbs' energy of every leg."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from airspace.frame import LocalFrame
from airspace.terrain import leg_profile
from fleet.description import parse_fleet
from routing.problem import PORT, DronePlan, Leg, Plan, Trip
from routing.validate_terrain import leg_climb_m, terrain_violations
from tests.conftest import EXAMPLES
from tests.terrain_fixtures import ridge_area

FLEET = parse_fleet(json.loads((EXAMPLES / "fleet.json").read_text()))
DRONE = FLEET.drones[0]
MODEL = FLEET.model_of(DRONE)
AT = datetime(2026, 5, 1, 8, tzinfo=UTC)


def _plan(waypoints: list[tuple[float, float, float]], energy_wh: float) -> Plan:
    frame = LocalFrame.for_points([(w[0], w[1]) for w in waypoints])
    length = frame.distance_m(waypoints[0][:2], waypoints[-1][:2])
    leg = Leg(
        PORT,
        "a",
        PORT,
        "b",
        AT,
        AT + timedelta(seconds=length / MODEL.cruise_speed_mps),
        length,
        energy_wh,
        0.0,
        tuple((w[0], w[1], MODEL.cruise_altitude_m) for w in (waypoints[0], waypoints[-1])),
        profile=tuple(waypoints),
    )
    return Plan(AT, (DronePlan(DRONE.id, (Trip((leg,)),)),), (), ())


def test_a_leg_following_the_profile_passes_and_one_into_the_hill_fails() -> None:
    area, frame = ridge_area()
    a, b = frame.to_lonlat(-2000.0, 0.0), frame.to_lonlat(2000.0, 0.0)
    p = leg_profile(area.terrain, [a, b], frame, cruise_m=100, grade=MODEL.grade)
    assert p.clears
    energy = MODEL.leg_energy_wh(float(p.s_m[-1]), 0.0) + MODEL.climb_energy_wh(p.climb_m)
    good = _plan(p.waypoints, energy)
    assert leg_climb_m(good.drones[0].trips[0].legs[0]) > 140.0
    assert terrain_violations(good, area, FLEET) == []
    # the same leg without its climbs' energy
    cheap = _plan(p.waypoints, MODEL.leg_energy_wh(float(p.s_m[-1]), 0.0))
    assert [v.kind for v in terrain_violations(cheap, area, FLEET)] == ["energy_climb"]
    # a constant altitude: into the hill at the crest, above the ceiling at the ends
    flat = _plan([(*a, 260.0), (*b, 260.0)], energy)
    kinds = sorted(v.kind for v in terrain_violations(flat, area, FLEET))
    assert kinds == ["ceiling", "terrain_clearance"]
