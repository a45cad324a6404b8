"""``dronedispatch plan``: plan a fleet offline, print a summary table, write ``PLAN.geojson``.

::

    dronedispatch plan --zones ZONES.geojson --fleet FLEET.json --requests REQUESTS.json
                       [--at ISO_TIME] [--seconds N] [--workers N] [--out PLAN.geojson]
    dronedispatch plan --check PLAN.geojson --zones ... --fleet ... --requests ... [--at ISO_TIME]

``--at`` defaults to the earliest ``ready_at`` of the requests (an offline plan is made for the
day's batch; with ``--check`` the default is the plan's own ``at``). Bad input exits 2 with a
message naming the file, the record and the field; nothing is written. ``--check`` validates a
written plan with the independent validator and exits 1 if it breaks a rule.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from airspace.datum import DatumError
from airspace.zones import ZoneFormatError, load_zones
from dispatch.commands.datum_args import add_datum_argument, fleet_to_wgs84, requests_to_wgs84
from dispatch.commands.terrain_args import TerrainInputError, add_terrain_argument, terrain_for
from dispatch.sample_area import SAMPLE_DIR
from fleet.description import FleetFormatError, load_fleet
from routing.plan_geojson import PlanFormatError, plan_from_geojson, plan_to_geojson
from routing.planner import PlanningError, ProblemError, plan
from routing.problem import Plan, PlanningProblem
from routing.requests import RequestFormatError, parse_requests
from routing.validate import Violation, validate_plan


class InputError(ValueError):
    """Bad input for the command; the message names the file, the record and the field."""


def read_json(path: Path, error: Callable[[str, str, str], Exception]) -> Any:
    """Decode a JSON file; a read or syntax error is raised as ``error(source, where, problem)``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(str(path), "$", f"cannot read file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise error(str(path), "$", f"not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise error(str(path), f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}") from exc


def parse_at(text: str) -> datetime:
    """Parse ``--at``: ISO 8601 with a zone offset."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--at: not an ISO 8601 time: {text!r}") from exc
    if value.utcoffset() is None:
        raise InputError(f"--at: give a zone offset (e.g. +08:00 or Z): {text!r}")
    return value


def load_problem(
    zones: str | Path,
    fleet: str | Path,
    requests: str | Path,
    at: datetime | None = None,
    datum: str | None = None,
    terrain: str | Path | None = None,
) -> PlanningProblem:
    """Read the three input files into a :class:`PlanningProblem` in WGS-84 (``at``: earliest
    ready_at; ``datum``: the files' datum, ``--datum``; ``terrain``: a DEM, ``--terrain``, else
    the one the fleet file names)."""
    zone_list = load_zones(zones, datum=datum)
    fleet_desc = fleet_to_wgs84(load_fleet(fleet), datum)
    req_path = Path(requests)
    reqs = parse_requests(read_json(req_path, RequestFormatError), source=str(req_path))
    reqs = requests_to_wgs84(reqs, datum)
    if at is None:
        if not reqs:
            raise InputError(f"{req_path}: no requests, and no --at to plan from")
        at = min(r.ready_at for r in reqs)
    area = terrain_for(fleet_desc, fleet, terrain)
    return PlanningProblem(tuple(zone_list), fleet_desc, reqs, at, terrain=area)


def _hhmm(t: datetime | None, tz: Any) -> str:
    return "-" if t is None else t.astimezone(tz).strftime("%H:%M")


def summary_table(problem: PlanningProblem, result: Plan) -> str:
    """A plain-text summary: one line per drone, one per request, and the totals."""
    tz = problem.at.tzinfo
    lines = [f"Plan at {problem.at.isoformat()} ({result.solver})", ""]
    lines.append(f"{'drone':<8} {'model':<12} {'trips':>5} {'legs':>4} {'km':>7} {'Wh':>7}  requests")
    for drone in problem.fleet.drones:
        dp = result.drone(drone.id)
        trips = dp.trips if dp is not None else ()
        legs = [leg for t in trips for leg in t.legs]
        served = [leg.to_id for leg in legs if leg.to_kind == "dropoff"]
        km = sum(leg.distance_m for leg in legs) / 1000
        wh = sum(leg.energy_wh for leg in legs)
        lines.append(
            f"{drone.id:<8} {drone.model:<12} {len(trips):>5} {len(legs):>4} {km:>7.2f} {wh:>7.1f}  "
            + (" ".join(served) or "-")
        )
    lines += [
        "",
        f"{'request':<8} {'prio':<6} {'status':<9} {'drone':<5} {'pickup':>6} {'drop':>6} {'due':>6}  detail",
    ]
    reasons = {u.request_id: u for u in result.unserved}
    for r in problem.requests:
        eta = result.etas.get(r.id)
        if eta is not None:
            status, who, detail = "served", eta.drone_id, ("LATE (on board)" if r.id in result.late else "")
            pick, drop = _hhmm(eta.pickup_at, tz), _hhmm(eta.delivered_at, tz)
        else:
            u = reasons.get(r.id)
            status, who, pick, drop = "unserved", "-", "-", "-"
            detail = f"{u.reason}: {u.detail}" if u is not None else "?"
        due = _hhmm(r.deadline, tz)
        lines.append(
            f"{r.id:<8} {r.priority:<6} {status:<9} {who:<5} {pick:>6} {drop:>6} {due:>6}  {detail}".strip()
        )
    lines += [
        "",
        f"served {len(result.served)}/{len(problem.requests)}, unserved {len(result.unserved)}; "
        f"{result.distance_m / 1000:.2f} km, {result.energy_wh:.1f} Wh",
    ]
    return "\n".join(lines)


def write_plan(result: Plan, out: Path) -> None:
    """Write ``PLAN.geojson`` atomically (a reader never sees half a file)."""
    text = json.dumps(plan_to_geojson(result), indent=1)
    fd, tmp = tempfile.mkstemp(prefix=".plan-", suffix=".geojson", dir=out.parent if str(out.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_plan_file(path: str | Path, problem: PlanningProblem) -> list[Violation]:
    """Read a ``PLAN.geojson`` and validate it against ``problem`` (empty list: valid)."""
    p = Path(path)
    written = plan_from_geojson(read_json(p, PlanFormatError), source=str(p))
    return validate_plan(problem, written)


def plan_sample(seconds: float = 3.0, workers: int = 1, out: Path | None = None) -> Plan:
    """Plan the sample scenario (examples/anyang), print the summary table, optionally write it."""
    problem = load_problem(
        SAMPLE_DIR / "zones.geojson", SAMPLE_DIR / "fleet.json", SAMPLE_DIR / "requests.json"
    )
    result = plan(problem, seconds=seconds, workers=workers)
    print(summary_table(problem, result))
    if out is not None:
        write_plan(result, out)
    return result


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="dronedispatch plan",
        description="Plan a fleet offline: zones + fleet + requests -> summary table and PLAN.geojson.",
    )
    ap.add_argument("--zones", required=True, type=Path, help="zones GeoJSON")
    ap.add_argument("--fleet", required=True, type=Path, help="FLEET.json")
    ap.add_argument("--requests", required=True, type=Path, help="REQUESTS.json")
    ap.add_argument("--at", help="planning instant, ISO 8601 with offset (default: earliest ready_at)")
    ap.add_argument("--seconds", type=float, default=5.0, help="solver time limit (default 5)")
    ap.add_argument("--workers", type=int, default=1, help="parallel searches (default 1)")
    ap.add_argument("--out", type=Path, help="write the plan here (PLAN.geojson)")
    ap.add_argument("--check", type=Path, metavar="PLAN.geojson", help="validate a written plan instead")
    add_datum_argument(ap)
    add_terrain_argument(ap)
    return ap


def main(argv: list[str]) -> int:
    """Run the command; 0 ok, 1 a checked plan breaks a rule, 2 bad input or no valid plan."""
    ap = _parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error
        return int(exc.code or 0)
    if args.seconds <= 0 or args.workers < 1:
        print("dronedispatch plan: --seconds must be > 0 and --workers >= 1", file=sys.stderr)
        return 2
    try:
        at = parse_at(args.at) if args.at else None
        if args.check is not None:
            written = plan_from_geojson(read_json(args.check, PlanFormatError), source=str(args.check))
            problem = load_problem(
                args.zones, args.fleet, args.requests, at or written.at, args.datum, args.terrain
            )
            violations = validate_plan(problem, written)
            for v in violations:
                print(f"{args.check}: {v}")
            print(f"{args.check}: {'valid' if not violations else f'{len(violations)} violation(s)'}")
            return 1 if violations else 0
        problem = load_problem(args.zones, args.fleet, args.requests, at, args.datum, args.terrain)
        result = plan(problem, seconds=args.seconds, workers=args.workers)
    except (
        InputError,
        DatumError,
        ZoneFormatError,
        FleetFormatError,
        RequestFormatError,
        PlanFormatError,
        ProblemError,
        PlanningError,
        TerrainInputError,
    ) as exc:
        print(f"dronedispatch plan: {exc}", file=sys.stderr)
        return 2
    print(summary_table(problem, result))
    if args.out is not None:
        try:
            write_plan(result, args.out)
        except OSError as exc:
            print(f"dronedispatch plan: {args.out}: cannot write: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.out}")
    return 0
