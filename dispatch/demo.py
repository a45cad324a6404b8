"""``dronedispatch demo``: what the system does today, on the embedded sample area (examples/anyang).

1. Exact paths: the pad pairs of the sample area whose safe path detours most around the no-fly zones.
2. The offline planner: which drone flies which documents, in which order, with every request served
   or given a reason; the plan is checked by the independent validator and written as GeoJSON that
   any map tool opens.
3. Live: the whole system on the embedded defaults (a SQLite file, an embedded MQTT 5 broker): the
   dispatcher, the HTTP API and the operators' dashboard (its URL is printed), and the simulated
   fleet, on an accelerated clock. Offices file a stream of requests over HTTP (the samples, then
   generated ones) until ``--requests`` were filed and all are final, or ``--duration`` ran out;
   progress shows live in the terminal, and a summary table ends it (``--json``: one JSON object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Literal

from dispatch.commands.path import demo_paths, print_demo_paths
from dispatch.commands.plan import (
    check_plan_file,
    load_problem,
    parse_at,
    summary_table,
    write_plan,
)
from dispatch.commands.terrain_args import TerrainInputError
from dispatch.live_demo import LiveOptions, print_summary, run_live
from dispatch.logs import configure_logging
from dispatch.sample_area import SAMPLE_DIR, SAMPLE_TERRAIN
from routing.planner import plan
from routing.problem import PlanningProblem


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dronedispatch demo", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="planner time limit (default 5)")
    ap.add_argument("--at", help="plan at this ISO 8601 time (default: the earliest ready_at)")
    ap.add_argument(
        "--out", type=Path, default=Path("out") / "plan.geojson", help="where to write the plan GeoJSON"
    )
    ap.add_argument("--speed", type=float, default=60.0, help="live part: simulated seconds per second")
    ap.add_argument(
        "--requests", type=int, default=30, help="live part: requests to file (samples first; default 30)"
    )
    ap.add_argument(
        "--duration",
        type=_duration,
        help="live part: stop after this much wall time (e.g. 90s, 5m); default: when all are final",
    )
    ap.add_argument("--host", default="127.0.0.1", help="HTTP API and dashboard host (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000; 0: any free port)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated requests (default 1)")
    ap.add_argument(
        "--weather",
        metavar="PATH_OR_URL",
        help="live part: weather go/no-go from an Open-Meteo hourly forecast (file or URL); "
        "unknown weather holds take-offs",
    )
    ap.add_argument(
        "--terrain",
        type=Path,
        default=SAMPLE_TERRAIN,
        metavar="DEM.tif",
        help="terrain model the plan and the live part fly over (default: the sample's synthetic DEM of "
        f"the Taihang foothills, {SAMPLE_TERRAIN.parent.name}/{SAMPLE_TERRAIN.name})",
    )
    ap.add_argument("--flat", action="store_true", help="no terrain model: flat ground at the pads' height")
    ap.add_argument("--headless", action="store_true", help="no live terminal display, only the summary")
    ap.add_argument("--live-only", action="store_true", help="skip the paths and the offline plan")
    ap.add_argument("--no-live", action="store_true", help="skip the live part (paths and plan only)")
    ap.add_argument(
        "--json", action="store_true", help="print the live summary as one JSON object at the end"
    )
    return ap


def _duration(text: str) -> float:
    """Wall seconds from ``90``, ``90s``, ``5m`` or ``1h``."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 90s, 5m or 1h)") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the duration must be positive, got {text!r}")
    return value


def main(argv: list[str]) -> int:
    """Run the demo; return 0 when the plan was written and validated."""
    args = _parser().parse_args(argv)
    at: datetime | None = parse_at(args.at) if args.at else None
    try:
        problem = load_problem(
            SAMPLE_DIR / "zones.geojson",
            SAMPLE_DIR / "fleet.json",
            SAMPLE_DIR / "requests.json",
            at,
            terrain=None if args.flat else args.terrain,
        )
    except TerrainInputError as exc:
        print(f"dronedispatch demo: {exc}", file=sys.stderr)
        return 2
    if args.requests < 0:
        print("dronedispatch demo: --requests must be >= 0", file=sys.stderr)
        return 2
    if not args.live_only and _offline(problem, args) != 0:
        return 1
    if args.no_live:
        return 0
    print()
    print(
        f"== 3. Live: dispatcher, HTTP API, dashboard and simulated fleet over an embedded MQTT broker, "
        f"{args.speed:g}x time; {args.requests} requests filed over HTTP"
    )
    display: Literal["panel", "lines", "off"] = (
        "off" if args.headless else ("panel" if sys.stdout.isatty() else "lines")
    )
    options = LiveOptions(
        requests=args.requests,
        duration_s=args.duration,
        speed=args.speed,
        host=args.host,
        port=args.port,
        display=display,
        seed=args.seed,
        weather=args.weather,
        terrain=problem.terrain,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    configure_logging()  # warnings only, escaped: the demo's HTTP server is open to anyone on --host
    summary = asyncio.run(
        run_live(
            problem.fleet,
            SAMPLE_DIR / "zones.geojson",
            SAMPLE_DIR / "pads.json",
            problem.requests,
            problem.at,
            db_path=args.out.parent / "demo.db",
            options=options,
        )
    )
    print()
    print_summary(summary)
    if args.json:
        print(json.dumps(summary.as_dict()))
    # A geofence breach, a loss of separation, a terrain violation or a broken chain fails the demo.
    safe = summary.breaches == 0 and summary.separation_losses == 0 and summary.terrain_violations == 0
    return 0 if safe and summary.audit_ok else 1


def _offline(problem: PlanningProblem, args: argparse.Namespace) -> int:
    """Sections 1 and 2: the largest detours, and the offline plan written and validated."""
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
