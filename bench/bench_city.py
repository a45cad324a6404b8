"""City-sized dispatch benchmark: 100 requests, 20 drones, 4 ports, 60 zones (seeded generator).

Measures the time to the first feasible (validated) plan, then compares the plan found in 5 s
with the plan found in 60 s (served requests by priority, distance). Prints a table. Run it with
``python -m bench.bench_city [--seed N] [--long SECONDS]``.

Targets: first feasible plan <= 1 s of solver time; the 5 s plan within 2 % of the 60 s plan.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from datetime import datetime, timedelta
from typing import Any

from airspace.zones import parse_zones
from fleet.description import parse_fleet
from routing.planner import plan
from routing.prepared import prepare
from routing.problem import Plan, PlanningProblem
from routing.requests import parse_requests
from routing.validate import validate_plan

T0 = datetime.fromisoformat("2026-12-01T08:00:00+09:00")
CENTRE = (127.0, 37.5)
M_PER_DEG_LON = 88_200.0
M_PER_DEG_LAT = 111_000.0


def _lonlat(x: float, y: float) -> tuple[float, float]:
    return CENTRE[0] + x / M_PER_DEG_LON, CENTRE[1] + y / M_PER_DEG_LAT


def _ring(cx: float, cy: float, hw: float, hh: float) -> list[list[float]]:
    xs, ys = (cx - hw, cx + hw, cx + hw, cx - hw, cx - hw), (cy - hh, cy - hh, cy + hh, cy + hh, cy - hh)
    return [list(_lonlat(x, y)) for x, y in zip(xs, ys, strict=True)]


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
    ports = []
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
        tuple(parse_zones({"type": "FeatureCollection", "features": zones}, "city")),
        parse_fleet(fleet, "city"),
        parse_requests(requests, "city"),
        T0,
    )


def _summary(problem: PlanningProblem, result: Plan) -> tuple[int, int, float]:
    urgent = {r.id for r in problem.requests if r.urgent}
    served = set(result.served)
    return len(served & urgent), len(served - urgent), result.distance_m / 1000


def main(argv: list[str] | None = None) -> int:
    """Run the city benchmark and print its table."""
    ap = argparse.ArgumentParser(prog="python -m bench.bench_city")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--short", type=float, default=5.0)
    ap.add_argument("--long", type=float, default=60.0)
    args = ap.parse_args(argv)
    problem = city_problem(args.seed)
    t = time.perf_counter()
    prep = prepare(problem)
    matrices_s = time.perf_counter() - t
    print(
        f"city seed {args.seed}: {len(problem.requests)} requests, {len(problem.fleet.drones)} drones, "
        f"{len(problem.fleet.ports)} ports, {len(problem.zones)} zones, {len(prep.sites)} sites; "
        f"matrices {matrices_s:.2f} s"
    )
    rows = []
    first: tuple[float, float] | None = None
    for limit in (0.1, 0.25, 0.5, 1.0, 2.0):
        t = time.perf_counter()
        result = plan(problem, seconds=limit, workers=1)
        wall = time.perf_counter() - t
        if validate_plan(problem, result) == [] and result.served:
            first = (limit, wall)
            rows.append((f"first ({limit:g} s limit)", wall, result))
            break
    for limit in (args.short, args.long):
        t = time.perf_counter()
        result = plan(problem, seconds=limit, workers=1)
        rows.append((f"{limit:g} s", time.perf_counter() - t, result))
    header = f"{'run':<20} {'wall s':>7} {'urgent':>7} {'normal':>7} {'km':>9} {'valid':>6}"
    print(f"\n{header}  unserved by reason")
    for name, wall, result in rows:
        u, n, km = _summary(problem, result)
        by_reason: dict[str, int] = {}
        for x in result.unserved:
            by_reason[x.reason] = by_reason.get(x.reason, 0) + 1
        ok = "yes" if not validate_plan(problem, result) else "NO"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items()))
        print(f"{name:<20} {wall:>7.2f} {u:>7} {n:>7} {km:>9.2f} {ok:>6}  {reasons}")
    short, long_ = rows[-2][2], rows[-1][2]
    su, sn, skm = _summary(problem, short)
    lu, ln, lkm = _summary(problem, long_)
    print()
    if first is not None:
        print(
            f"first feasible plan: solver limit {first[0]:g} s, wall {first[1]:.2f} s (with matrices, checks)"
        )
    served_gap = 100 * ((lu + ln) - (su + sn)) / max(1, lu + ln)
    km_gap = 100 * (skm - lkm) / max(lkm, 1e-9)
    print(
        f"{args.short:g} s vs {args.long:g} s: served urgent {su}/{lu}, normal {sn}/{ln} "
        f"(gap {served_gap:.1f} %), distance {skm:.1f} vs {lkm:.1f} km ({km_gap:+.1f} %)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
