"""Routing quality on every Solomon / Li & Lim instance shipped in bench/data.

Every ``*.txt`` instance in a folder of ``bench/data`` (the format is detected) is solved with
``routing.engine.solve`` (auto engine unless ``--engine``, 2 workers), checked by the
independent checker, and compared with the best-known solution in its folder's ``bks.csv``:
Li & Lim vehicles first then double-precision distance (30 s), Solomon distance-only in the
truncated convention (10 s). Prints a table and the means.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

from dispatch.commands.bench import read_benchmark, run_benchmark
from routing.benchmarks import BenchmarkFormatError
from routing.engine import ENGINES

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Best:
    """A best-known solution: vehicles (None when the convention ignores them) and distance."""

    vehicles: int | None
    distance: float


def read_bks(folder: Path) -> dict[str, Best]:
    """Best-known values of a data folder, by lower-case instance name."""
    best: dict[str, Best] = {}
    with (folder / "bks.csv").open(newline="") as handle:
        for line_no, row in enumerate(csv.DictReader(handle), start=2):
            try:
                if "bks_distance_only_dimacs" in row:
                    best[row["instance"].lower()] = Best(None, float(row["bks_distance_only_dimacs"]))
                else:
                    best[row["instance"].lower()] = Best(int(row["vehicles"]), float(row["distance"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{folder / 'bks.csv'}:{line_no}: unreadable best-known row: {exc}") from exc
    return best


def main(argv: list[str]) -> int:
    """Run the routing benchmarks and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench routing", description=__doc__.splitlines()[0])
    parser.add_argument("--pdptw-seconds", type=float, default=30.0)
    parser.add_argument("--vrptw-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", choices=ENGINES, default="auto")
    parser.add_argument("--only", default="", help="run only instances whose name contains this")
    parser.add_argument("--data", type=Path, default=DATA, help="data folder (default: bench/data)")
    args = parser.parse_args(argv)
    paths = sorted(args.data.glob("*/*.txt"))
    if not paths:
        print(f"bench_routing: no instances (*/*.txt) under {args.data}")
        return 1
    columns = ("instance", "kind", "veh", "bks", "distance", "bks", "gap %", "s")
    header = "{:<10} {:<6} {:>4} {:>4} {:>10} {:>10} {:>7} {:>6}".format(*columns)
    limits = f"pdptw {args.pdptw_seconds:g} s, vrptw {args.vrptw_seconds:g} s"
    print(f"engine {args.engine}, {args.workers} workers; {limits}")
    print(header)
    print("-" * len(header))
    status = 0
    gaps: dict[str, list[float]] = {}
    at_bks_vehicles: dict[str, list[bool]] = {}
    best_of: dict[Path, dict[str, Best]] = {}
    for path in paths:
        if args.only and args.only.lower() not in path.stem.lower():
            continue
        folder = path.parent
        if folder not in best_of:
            best_of[folder] = read_bks(folder) if (folder / "bks.csv").exists() else {}
        try:
            bench = read_benchmark(path)
        except BenchmarkFormatError as exc:
            print(f"{path.stem:<10} unreadable: {exc}", flush=True)
            status = 1
            continue
        seconds = args.pdptw_seconds if bench.kind == "pdptw" else args.vrptw_seconds
        run = run_benchmark(bench, seconds=seconds, workers=args.workers, engine=args.engine)
        known = best_of[folder].get(path.stem.lower())
        bks_v = "-" if known is None or known.vehicles is None else str(known.vehicles)
        bks_d, gap_text = "-", "-"
        if known is not None:
            # Rounded, and + 0.0 so that a tiny negative difference prints as 0.00, not -0.00.
            gap = round(100 * (run.checked.distance - known.distance) / known.distance, 3) + 0.0
            gaps.setdefault(bench.kind, []).append(gap)
            bks_d, gap_text = f"{known.distance:.2f}", f"{gap:.2f}"
            if known.vehicles is not None:
                at_bks_vehicles.setdefault(bench.kind, []).append(run.checked.vehicles <= known.vehicles)
        print(
            f"{bench.name:<10} {bench.kind:<6} {run.checked.vehicles:>4} {bks_v:>4} "
            f"{run.checked.distance:>10.2f} {bks_d:>10} {gap_text:>7} {run.seconds:>6.1f}",
            flush=True,
        )
    print("-" * len(header))
    for kind, values in gaps.items():
        hits = at_bks_vehicles.get(kind)
        vehicles = f", best-known vehicles on {sum(hits)}/{len(hits)}" if hits else ""
        print(
            f"{kind}: {len(values)} instances with a best-known value, "
            f"mean gap {statistics.fmean(values):.2f}%{vehicles}"
        )
    return status
