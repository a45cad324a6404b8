"""A synthetic city planning problem (seeded): ports, pads, zones, drones and requests.

``city_problem(seed, n_requests=100, n_drones=20, ...)`` is the bench city of the benchmarks
(``python -m bench city``, ``dronedispatch bench round``) and of randomised planner tests: the
same seed gives the same problem. Pure: no I/O.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airspace.zones import parse_zones
from fleet.description import parse_fleet
from routing.problem import PlanningProblem
from routing.requests import parse_requests

T0 = datetime.fromisoformat("2026-12-01T08:00:00+09:00")
CENTRE = (127.0, 37.5)
M_PER_DEG_LON = 88_200.0
M_PER_DEG_LAT = 111_000.0


def _lonlat(x: float, y: float) -> tuple[float, float]:
    return CENTRE[0] + x / M_PER_DEG_LON, CENTRE[1] + y / M_PER_DEG_LAT


def _ring(cx: float, cy: float, hw: float, hh: float) -> list[list[float]]:
    xs, ys = (cx - hw, cx + hw, cx + hw, cx - hw, cx - hw), (cy - hh, cy - hh, cy + hh, cy + hh, cy - hh)
    return [list(_lonlat(x, y)) for x, y in zip(xs, ys, strict=True)]


@dataclass(frozen=True, slots=True)
class CityArea:
    """A city's service area in the files' forms: zones (a GeoJSON FeatureCollection), the fleet
    (a FLEET.json dict: models, ports and their drones) and pad positions (lon, lat)."""

    zones: dict[str, Any]
    fleet: dict[str, Any]
    pads: list[tuple[float, float]]


def city_area(
    seed: int = 1,
    *,
    n_drones: int = 20,
    n_ports: int = 4,
    n_zones: int = 60,
    n_pads: int = 40,
    size_m: float = 16_000.0,
    pads_avoid_zones: bool = True,
) -> CityArea:
    """The area of :func:`city_problem` with the same arguments, without the requests (to seed a
    running system with, e.g. ``python -m bench system``)."""
    return _area(random.Random(seed), n_drones, n_ports, n_zones, n_pads, size_m, pads_avoid_zones)


def city_problem(
    seed: int = 1,
    *,
    n_requests: int = 100,
    n_drones: int = 20,
    n_ports: int = 4,
    n_zones: int = 60,
    n_pads: int = 40,
    size_m: float = 16_000.0,
    pads_avoid_zones: bool = True,
) -> PlanningProblem:
    """A seeded random city: square area, zones (some temporary, some in altitude bands), pads.

    With ``pads_avoid_zones=False`` pads fall anywhere, zones included (to exercise the reasons).
    """
    rng = random.Random(seed)
    area = _area(rng, n_drones, n_ports, n_zones, n_pads, size_m, pads_avoid_zones)
    pads = area.pads
    requests = []
    for k in range(n_requests):
        a, b = rng.sample(range(n_pads), 2)
        ready = T0 + timedelta(minutes=rng.randrange(0, 150, 5))
        requests.append(
            {
                "id": f"R{k:03d}",
                "pickup": {"lon": pads[a][0], "lat": pads[a][1]},
                "dropoff": {"lon": pads[b][0], "lat": pads[b][1]},
                "weight_kg": round(rng.choice([0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.5, 4.0]), 2),
                "priority": "urgent" if rng.random() < 0.2 else "normal",
                "ready_at": ready.isoformat(),
                "deadline": (ready + timedelta(minutes=rng.randrange(30, 120, 5))).isoformat(),
            }
        )
    return PlanningProblem(
        tuple(parse_zones(area.zones, "city")),
        parse_fleet(area.fleet, "city"),
        parse_requests(requests, "city"),
        T0,
    )


def _area(
    rng: random.Random,
    n_drones: int,
    n_ports: int,
    n_zones: int,
    n_pads: int,
    size_m: float,
    pads_avoid_zones: bool,
) -> CityArea:
    half = size_m / 2
    zones: list[dict[str, Any]] = []
    boxes: list[tuple[float, float, float]] = []  # centre and radius of each zone, to keep pads out
    for k in range(n_zones):
        cx, cy = rng.uniform(-half, half), rng.uniform(-half, half)
        props: dict[str, Any] = {"id": f"Z{k:02d}", "margin_m": 20}
        roll = rng.random()
        if roll < 0.1:
            props["floor_m"] = 150  # above cruise: never blocks
        elif roll < 0.2:
            props["ceiling_m"] = 60  # below cruise: blocks pads only
        elif roll < 0.3:
            start = T0 + timedelta(minutes=rng.randrange(30, 180, 10))
            props["valid_from"] = start.isoformat()
            props["valid_to"] = (start + timedelta(minutes=rng.randrange(30, 120, 10))).isoformat()
        if rng.random() < 0.5:
            r = rng.uniform(100, 350)
            geom = {"type": "Point", "coordinates": list(_lonlat(cx, cy))}
            props["radius_m"] = r
        else:
            hw, hh = rng.uniform(100, 450), rng.uniform(100, 450)
            r = math.hypot(hw, hh)
            geom = {"type": "Polygon", "coordinates": [_ring(cx, cy, hw, hh)]}
        boxes.append((cx, cy, r + 30))
        zones.append({"type": "Feature", "geometry": geom, "properties": props})

    def free_point() -> tuple[float, float]:
        while True:
            x, y = rng.uniform(-half, half), rng.uniform(-half, half)
            if not pads_avoid_zones or all(math.hypot(x - bx, y - by) > br for bx, by, br in boxes):
                return _lonlat(x, y)

    port_xy = [(-half / 2, -half / 2), (half / 2, -half / 2), (-half / 2, half / 2), (half / 2, half / 2)]
    ports: list[dict[str, Any]] = []
    for k in range(n_ports):
        x, y = port_xy[k % len(port_xy)]
        boxes.append((x, y, 0))
        lon, lat = _lonlat(x + rng.uniform(-300, 300), y + rng.uniform(-300, 300))
        ports.append({"id": f"port-{k}", "lon": lon, "lat": lat, "drones": []})
    for k in range(n_drones):
        ports[k % n_ports]["drones"].append({"id": f"D{k:02d}", "model": "small" if k % 3 else "large"})
    fleet = {
        "models": {
            "small": {
                "cruise_speed_mps": 16,
                "cruise_altitude_m": 120,
                "max_payload_kg": 2.0,
                "battery_wh": 400,
                "reserve_fraction": 0.2,
                "wh_per_km": 13,
                "wh_per_km_per_kg": 3,
                "service_s": 60,
                "turnaround_s": 300,
            },
            "large": {
                "cruise_speed_mps": 13,
                "cruise_altitude_m": 110,
                "max_payload_kg": 5.0,
                "battery_wh": 800,
                "reserve_fraction": 0.25,
                "wh_per_km": 22,
                "wh_per_km_per_kg": 4,
                "service_s": 90,
                "turnaround_s": 420,
            },
        },
        "ports": ports,
    }
    pads = [free_point() for _ in range(n_pads)]
    return CityArea({"type": "FeatureCollection", "features": zones}, fleet, pads)
