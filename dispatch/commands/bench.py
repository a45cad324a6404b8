"""``dronedispatch bench pdptw|vrptw FILE --seconds S``: solve one benchmark instance, print one JSON line.

The line is ``{"instance", "vehicles", "distance", "seconds", "routes"}``; routes list node ids
without the depot, and vehicles and distance are recomputed from those routes by the independent
checker (``routing.benchmarks.check_routes``): double precision for Li & Lim, the truncated
one-decimal convention for Solomon. A file that cannot be read exits 2 naming file and line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from routing.benchmarks import (
    BenchmarkFormatError,
    BenchmarkInstance,
    CheckedSolution,
    Kind,
    check_routes,
    parse_benchmark,
    to_instance,
)
from routing.engine import ENGINES, solve


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


def main(argv: list[str]) -> int:
    """Run the bench command; 0 on success, 2 on bad input."""
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
