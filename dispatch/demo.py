"""``dronedispatch demo``: what the system does today, on the embedded sample area (examples/anyang).

1. Exact paths: the pad pairs of the sample area whose safe path detours most around the no-fly zones.
2. The offline planner: which drone flies which documents, in which order, with every request served
   or given a reason; the plan is checked by the independent validator and written as GeoJSON that
   any map tool opens.
3. Live: the dispatcher flies the same requests with the simulated fleet over an embedded MQTT broker
   and a SQLite file, on an accelerated clock, and prints what happens and a summary.

The HTTP API and the dashboard grow into this command as they land.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

from dispatch.commands.path import demo_paths, print_demo_paths
from dispatch.commands.plan import (
    SAMPLE_DIR,
    check_plan_file,
    load_problem,
    parse_at,
    summary_table,
    write_plan,
)
from dispatch.live_demo import print_summary, run_live
from routing.planner import plan


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dronedispatch demo", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="planner time limit (default 5)")
    ap.add_argument("--at", help="plan at this ISO 8601 time (default: the earliest ready_at)")
    ap.add_argument(
        "--out", type=Path, default=Path("out") / "plan.geojson", help="where to write the plan GeoJSON"
    )
    ap.add_argument("--speed", type=float, default=60.0, help="live part: simulated seconds per second")
    ap.add_argument("--timeout", type=float, default=300.0, help="live part: wall-time limit in seconds")
    ap.add_argument("--no-live", action="store_true", help="skip the live part (paths and plan only)")
    ap.add_argument(
        "--json", action="store_true", help="print the live summary as one JSON object at the end"
    )
    return ap


def main(argv: list[str]) -> int:
    """Run the demo; return 0 when the plan was written and validated."""
    args = _parser().parse_args(argv)
    at: datetime | None = parse_at(args.at) if args.at else None
    problem = load_problem(
        SAMPLE_DIR / "zones.geojson", SAMPLE_DIR / "fleet.json", SAMPLE_DIR / "requests.json", at
    )
    print(f"== 1. Exact safe paths around the no-fly zones of {SAMPLE_DIR.name} (largest detours)")
    print_demo_paths(demo_paths(SAMPLE_DIR / "zones.geojson", SAMPLE_DIR / "pads.json", problem.at))
    print()
    print(f"== 2. Offline plan of {len(problem.requests)} requests, {len(problem.fleet.drones)} drones")
    result = plan(problem, seconds=args.seconds, workers=2)
    print(summary_table(problem, result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_plan(result, args.out)
    violations = check_plan_file(args.out, problem)
    if violations:
        print(f"\nThe written plan FAILED validation ({len(violations)} violations):", file=sys.stderr)
        for v in violations:
            print(f"  {v}", file=sys.stderr)
        return 1
    print(f"\nwrote {args.out} (validated independently: every leg clear of the zones) — open it in any")
    print("GeoJSON viewer, e.g. geojson.io or QGIS.")
    if args.no_live:
        return 0
    print()
    print(f"== 3. Live: dispatcher + simulated fleet over an embedded MQTT broker, {args.speed:g}x time")
    summary = asyncio.run(
        run_live(
            problem.fleet,
            SAMPLE_DIR / "zones.geojson",
            SAMPLE_DIR / "pads.json",
            problem.requests,
            problem.at,
            db_path=args.out.parent / "demo.db",
            speed=args.speed,
            timeout_s=args.timeout,
        )
    )
    print()
    print_summary(summary)
    if args.json:
        print(json.dumps(summary.as_dict()))
    return 0 if summary.breaches == 0 and summary.audit_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
