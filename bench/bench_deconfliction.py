"""Strategic deconfliction benchmark: the cost of safety, and the speed of the conflict check.

For the bench city (seed 1, 100 requests, 20 drones) and a denser scenario (120 requests on 12
pads, 24 drones, 2 ports, a smaller city), plans the same problem four ways: deconfliction off
(today's plans), on with the fleet as it is (one cruise altitude per model: ground delays only),
on with cruise layers (each model may fly three layers 20 m apart), and with layers and the
planner's second pass over the requests deconfliction left out (``second_pass=True``). Per plan:
losses of separation en route (exact check, 50 m / 15 m), conflicts on pads and ports, the closest en-route
approach of two drones vertically closer than 15 m, served requests, km and the planning
round's wall time. Then times one conflict check of a new trip against 1,000 and 2,000 active
intents. Run it with ``python -m bench deconfliction [--seconds S] [--scenario city|dense]
[--repeats N] [--no-timing]``: with ``--repeats``, each scenario is planned N times each way, in
rounds, and the medians follow (one plan swings with how far the time-limited search got).

Targets (issue 13): zero losses after; served >= 95 % of before; km <= +8 %; wall <= +20 %.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace
from datetime import timedelta

from airspace.frame import LocalFrame
from bench.bench_city import T0, city_problem
from fleet.description import Fleet
from routing.intents import intent_frame, trip_intent
from routing.planner import plan
from routing.problem import PORT, Leg, Plan, PlanningProblem, Trip
from routing.separation import IntentIndex, pad_conflicts, pieces_of, separation_losses, trip_occupancies

LAYERS = {"small": (100.0, 120.0, 140.0), "large": (90.0, 110.0, 130.0)}


def with_layers(fleet: Fleet) -> Fleet:
    """The fleet with three cruise layers per bench model (20 m apart, interleaved by model)."""
    models = {
        name: replace(m, cruise_altitudes_m=LAYERS.get(name, (m.cruise_altitude_m,)))
        for name, m in fleet.models.items()
    }
    return replace(fleet, models=models)


def dense_problem() -> PlanningProblem:
    """More requests on fewer pads: 120 requests, 12 pads, 24 drones, 2 ports, 10 km city."""
    return city_problem(2, n_requests=120, n_drones=24, n_ports=2, n_pads=12, size_m=10_000.0, n_zones=30)


def measure(problem: PlanningProblem, result: Plan) -> tuple[int, int, float]:
    """Losses of separation en route, pad/port conflicts, closest en-route approach (m)."""
    frame = intent_frame(problem.fleet)
    drones = [(d.drone_id, d.trips) for d in result.drones]
    losses, closest = separation_losses(pieces_of(drones, frame))
    occ = [
        o for did, trips in drones for k, t in enumerate(trips, 1) for o in trip_occupancies(did, k, t, frame)
    ]
    spots = {p.id: p.landing_spots for p in problem.fleet.ports}
    return len(losses), len(pad_conflicts(occ, spots)), closest


def _random_trip(rng: random.Random, frame: LocalFrame, half: float) -> Trip:
    (x0, y0), (x1, y1) = [(rng.uniform(-half, half), rng.uniform(-half, half)) for _ in range(2)]
    dist = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
    depart = T0 + timedelta(seconds=rng.uniform(0, 4 * 3600))
    alt = rng.choice((90.0, 110.0, 130.0, 150.0))
    a, b = frame.to_lonlat(x0, y0), frame.to_lonlat(x1, y1)
    leg = Leg(
        PORT,
        "A",
        PORT,
        "B",
        depart,
        depart + timedelta(seconds=dist / 15.0),
        dist,
        0.0,
        0.0,
        ((a[0], a[1], alt), (b[0], b[1], alt)),
    )
    return Trip((leg,))


def time_checks(n_active: int, probes: int = 200) -> tuple[float, int]:
    """Mean milliseconds to check one new trip against ``n_active`` intents (30 km square, 4 h)."""
    rng = random.Random(n_active)
    frame = LocalFrame.centred_on(127.0, 37.5)
    index = IntentIndex(frame, {"A": 10_000, "B": 10_000})
    for k in range(n_active):
        index.add(trip_intent(f"D{k}", 1, _random_trip(rng, frame, 15_000.0), frame))
    new = [trip_intent(f"N{k}", 1, _random_trip(rng, frame, 15_000.0), frame) for k in range(probes)]
    t = time.perf_counter()
    found = sum(bool(index.conflicts(i)) for i in new)
    return 1000 * (time.perf_counter() - t) / probes, found


RUNS = ("off (before)", "on, 1 layer", "on, 3 layers", "on, 3 l., 2 pass")


def _plan_run(problem: PlanningProblem, run: str, seconds: float) -> tuple[Plan, PlanningProblem, float]:
    """One plan of ``problem`` the way ``run`` names it; the problem planned and the wall time."""
    layered = replace(problem, fleet=with_layers(problem.fleet))
    pr, kw = {
        "off (before)": (problem, {"deconfliction": None}),
        "on, 1 layer": (problem, {}),
        "on, 3 layers": (layered, {}),
        "on, 3 l., 2 pass": (layered, {"second_pass": True}),
    }[run]
    t = time.perf_counter()
    result = plan(pr, seconds=seconds, workers=1, **kw)  # type: ignore[arg-type]
    return result, pr, time.perf_counter() - t


def _relative(row: tuple[float, float, float], base: tuple[float, float, float]) -> str:
    served, km, wall = row
    return (
        f"  (served {100 * served / max(1, base[0]):.0f} %, km {100 * (km / base[1] - 1):+.1f} %, "
        f"wall {100 * (wall / base[2] - 1):+.0f} %)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the deconfliction benchmark and print its tables."""
    ap = argparse.ArgumentParser(prog="python -m bench deconfliction")
    ap.add_argument("--seconds", type=float, default=5.0, help="solver time per plan")
    ap.add_argument(
        "--scenario", choices=("all", "city", "dense"), default="all", help="run one scenario only"
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="plan each scenario this many times each way (rounds in turn) and add the medians",
    )
    ap.add_argument("--no-timing", action="store_true", help="skip the conflict-check timing")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    scenarios = [
        (name, make())
        for key, name, make in (
            ("city", "bench city (seed 1, 100 req)", lambda: city_problem(1)),
            ("dense", "dense (120 req, 12 pads)", dense_problem),
        )
        if args.scenario in ("all", key)
    ]
    print(
        f"{'scenario':<30} {'run':<16} {'drones':>6} {'en route':>8} {'pads':>5} {'closest m':>9} "
        f"{'served':>6} {'km':>8} {'wall s':>7}"
    )
    for name, problem in scenarios:
        rows: dict[str, list[tuple[float, float, float]]] = {run: [] for run in RUNS}
        for _ in range(args.repeats):
            for run in RUNS:
                result, pr, wall = _plan_run(problem, run, args.seconds)
                en_route, pads, closest = measure(pr, result)
                row = (float(len(result.served)), result.distance_m / 1000, wall)
                rows[run].append(row)
                base = rows[RUNS[0]][-1]
                rel = "" if run == RUNS[0] else _relative(row, base)
                print(
                    f"{name:<30} {run:<16} {len(pr.fleet.drones):>6} {en_route:>8} {pads:>5} "
                    f"{closest:>9.1f} {row[0]:>6.0f} {row[1]:>8.1f} {wall:>7.2f}{rel}",
                    flush=True,
                )
        if args.repeats > 1:
            print(f"medians of {args.repeats} plans each (the relative figures: medians against medians)")
            medians = {
                run: (
                    statistics.median(r[0] for r in got),
                    statistics.median(r[1] for r in got),
                    statistics.median(r[2] for r in got),
                )
                for run, got in rows.items()
            }
            for run, (served, km, wall) in medians.items():
                low, high = min(r[0] for r in rows[run]), max(r[0] for r in rows[run])
                rel = "" if run == RUNS[0] else _relative((served, km, wall), medians[RUNS[0]])
                print(
                    f"{name:<30} {run:<16} {'':>6} {'':>8} {'':>5} {'':>9} {served:>6.1f} "
                    f"{km:>8.1f} {wall:>7.2f}{rel}  served {low:.0f}-{high:.0f}",
                    flush=True,
                )
    if args.no_timing:
        return 0
    print(f"\n{'active intents':>14} {'ms per check':>12} {'in conflict':>11}")
    for n in (1000, 2000):
        ms, found = time_checks(n)
        print(f"{n:>14} {ms:>12.2f} {found:>10}/200")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
