"""``dronedispatch bench pdptw|vrptw FILE --seconds S``: solve one benchmark instance, print one JSON line.

``dronedispatch bench round --drones N --requests M --seconds S [--seed K]``: plan one round on a
generated city (``routing.synthetic_city``) and print ``{"drones", "requests", "vehicles",
"wall_s", "served", "km", "stages", "intake_s"}`` (``vehicles``: the drones the round kept,
``routing.round_fleet``, its districts' together, ``routing.districts``; ``stages``: seconds per
planner stage in this process, ``routing.stages``, a district's search in a worker counted as
the wait for it, ``solve``; ``intake_s``: intake's decision on one request against the whole
fleet, median of 5).

The line is ``{"instance", "vehicles", "distance", "seconds", "routes"}``; routes list node ids
without the depot, and vehicles and distance are recomputed from those routes by the independent
checker (``routing.benchmarks.check_routes``): double precision for Li & Lim, the truncated
one-decimal convention for Solomon. A file that cannot be read exits 2 naming file and line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dispatch.service.intake import assess
from routing.benchmarks import (
    BenchmarkFormatError,
    BenchmarkInstance,
    CheckedSolution,
    Kind,
    check_routes,
    parse_benchmark,
    to_instance,
)
from routing.districts import districts
from routing.engine import ENGINES, solve
from routing.planner import CHUNK_SIZE, plan
from routing.problem import PlanningProblem
from routing.round_fleet import round_fleet
from routing.stages import recording
from routing.synthetic_city import city_problem


@dataclass(frozen=True, slots=True)
class BenchmarkRun:
    """One solved benchmark instance, as checked independently of the engine."""

    instance: str
    checked: CheckedSolution
    seconds: float
    routes: list[list[int]]
    engine: str

    def json_line(self) -> str:
        """The JSON line the bench command prints."""
        record = {
            "instance": self.instance,
            "vehicles": self.checked.vehicles,
            "distance": round(self.checked.distance, 4),
            "seconds": round(self.seconds, 2),
            "routes": self.routes,
        }
        return json.dumps(record)


def read_benchmark(path: Path, kind: Kind | None = None) -> BenchmarkInstance:
    """Read and parse an instance file; errors name the file (and line, for format errors)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkFormatError(f"{path}: cannot read: {exc}") from exc
    return parse_benchmark(text, str(path), kind)


def run_benchmark(
    bench: BenchmarkInstance, *, seconds: float, workers: int = 2, seed: int = 0, engine: str = "auto"
) -> BenchmarkRun:
    """Solve ``bench`` and check the answer against the published data."""
    solution = solve(to_instance(bench), time_limit_s=seconds, workers=workers, seed=seed, engine=engine)
    routes = [route for route in solution.routes if route]
    return BenchmarkRun(bench.name, check_routes(bench, routes), solution.seconds, routes, solution.engine)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dronedispatch bench", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["pdptw", "vrptw"], help="pdptw: Li & Lim; vrptw: Solomon")
    parser.add_argument("file", type=Path, help="instance file")
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="parallel searches (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=ENGINES, default="auto")
    return parser


def _round_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dronedispatch bench round",
        description="plan one round on a generated city, print one JSON line",
    )
    parser.add_argument("--drones", type=int, default=20, help="drones of the fleet (default 20)")
    parser.add_argument("--requests", type=int, default=100, help="open requests (default 100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="solver time limit (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="the city's seed (default 1)")
    return parser


def run_round(drones: int, requests: int, seconds: float, seed: int = 1) -> dict[str, object]:
    """Plan one round of ``requests`` on a city of ``drones`` drones; what the command prints
    (``stages``: wall seconds per stage of the planner, :mod:`routing.stages`)."""
    problem = city_problem(seed, n_requests=requests, n_drones=drones)
    with recording() as stages:
        t0 = time.perf_counter()
        result = plan(problem, seconds=seconds)
        wall = time.perf_counter() - t0
    return {
        "drones": drones,
        "requests": requests,
        "vehicles": _vehicles(problem),
        "wall_s": round(wall, 2),
        "served": len(result.served),
        "km": round(result.distance_m / 1000, 1),
        "stages": {name: round(s, 4) for name, s in stages.items()},
        "intake_s": round(_intake_s(problem), 4),
    }


def _vehicles(problem: PlanningProblem) -> int:
    """The drones the round keeps: its districts' together, or the one round fleet's."""
    parts = districts(problem, CHUNK_SIZE)
    if parts is None:
        return len(round_fleet(problem).fleet.drones)
    return sum(len(p.fleet.drones) for p in parts)


def _intake_s(problem: PlanningProblem, runs: int = 5) -> float:
    """Median wall time of intake's decision on one request against the whole fleet."""
    times = []
    for k in range(runs):
        request = problem.requests[k % len(problem.requests)]
        t0 = time.perf_counter()
        assess(problem.zones, problem.fleet, request, problem.at, problem.drone_states)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    """Run the bench command; 0 on success, 2 on bad input."""
    if argv[:1] == ["round"]:
        r = _round_parser().parse_args(argv[1:])
        if r.drones < 1 or r.requests < 1 or not r.seconds > 0:
            print(
                "dronedispatch bench round: --drones and --requests must be >= 1, --seconds > 0",
                file=sys.stderr,
            )
            return 2
        print(json.dumps(run_round(r.drones, r.requests, r.seconds, r.seed)))
        return 0
    args = _parser().parse_args(argv)
    if args.seconds <= 0 or args.workers < 1:
        print("dronedispatch bench: --seconds must be > 0 and --workers >= 1", file=sys.stderr)
        return 2
    try:
        bench = read_benchmark(args.file, args.kind)
    except BenchmarkFormatError as exc:
        print(f"dronedispatch bench: {exc}", file=sys.stderr)
        return 2
    run = run_benchmark(bench, seconds=args.seconds, workers=args.workers, seed=args.seed, engine=args.engine)
    print(run.json_line())
    return 0
