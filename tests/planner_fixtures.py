"""Builders for planner tests: a fleet, requests and zones placed in metres around one point, a
problem from them, a solved plan checked against the validator, and the sample scenario."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from airspace.zones import load_zones, parse_zones
from fleet.description import load_fleet, parse_fleet
from routing.planner import plan
from routing.problem import Plan, PlanningProblem
from routing.requests import parse_requests
from routing.validate import validate_plan
from tests.conftest import EXAMPLES

T0 = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
LON0, LAT0 = 114.44, 36.21
M_PER_DEG_LON = 88_200.0  # at 36.21 N, close enough to place test points
M_PER_DEG_LAT = 111_000.0


def at_m(x: float, y: float) -> list[float]:
    """A lon/lat a given number of metres east/north of the test origin."""
    return [LON0 + x / M_PER_DEG_LON, LAT0 + y / M_PER_DEG_LAT]


def model(**changes: float) -> dict[str, float]:
    base = {
        "cruise_speed_mps": 15,
        "cruise_altitude_m": 100,
        "max_payload_kg": 2.0,
        "battery_wh": 300,
        "reserve_fraction": 0.2,
        "wh_per_km": 12,
        "wh_per_km_per_kg": 3,
        "service_s": 60,
        "turnaround_s": 300,
    }
    return {**base, **changes}


def fleet(drones: int = 1, **changes: float) -> dict[str, Any]:
    lon, lat = at_m(0, 0)
    return {
        "models": {"m": model(**changes)},
        "ports": [
            {
                "id": "P",
                "lon": lon,
                "lat": lat,
                "drones": [{"id": f"D{k}", "model": "m"} for k in range(drones)],
            }
        ],
    }


def request(
    rid: str, pickup, dropoff, *, weight=0.5, priority="normal", ready=0, deadline=120
) -> dict[str, Any]:
    return {
        "id": rid,
        "pickup": {"lon": pickup[0], "lat": pickup[1]},
        "dropoff": {"lon": dropoff[0], "lat": dropoff[1]},
        "weight_kg": weight,
        "priority": priority,
        "ready_at": (T0 + timedelta(minutes=ready)).isoformat(),
        "deadline": (T0 + timedelta(minutes=deadline)).isoformat(),
    }


def square(zid: str, cx: float, cy: float, half: float, hole: float = 0.0, **props: Any) -> dict[str, Any]:
    def ring(h: float) -> list[list[float]]:
        return [
            at_m(cx - h, cy - h),
            at_m(cx + h, cy - h),
            at_m(cx + h, cy + h),
            at_m(cx - h, cy + h),
            at_m(cx - h, cy - h),
        ]

    rings = [ring(half)] + ([list(reversed(ring(hole)))] if hole else [])
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": rings},
        "properties": {"id": zid, **props},
    }


def problem(zones: list[dict], fleet_doc: dict, requests: list[dict]) -> PlanningProblem:
    return PlanningProblem(
        tuple(parse_zones({"type": "FeatureCollection", "features": zones})),
        parse_fleet(fleet_doc),
        parse_requests(requests),
        T0,
    )


def solved(p: PlanningProblem, seconds: float = 1.0) -> Plan:
    result = plan(p, seconds=seconds, workers=1)
    assert validate_plan(p, result) == []
    assert set(result.served) | {u.request_id for u in result.unserved} == {r.id for r in p.requests}
    return result


def reasons(result: Plan) -> dict[str, str]:
    return {u.request_id: u.reason for u in result.unserved}


SAMPLE_AT = datetime.fromisoformat("2026-12-01T09:00:00+08:00")


def sample_problem() -> PlanningProblem:
    zones = load_zones(EXAMPLES / "zones.geojson")
    fleet = load_fleet(EXAMPLES / "fleet.json")
    requests = parse_requests(json.loads((EXAMPLES / "requests.json").read_text()), "requests.json")
    return PlanningProblem(tuple(zones), fleet, requests, SAMPLE_AT)
