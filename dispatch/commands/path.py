"""``dronedispatch path``: the shortest safe path between two points around the zones.

Usage::

    dronedispatch path --zones ZONES.geojson --from LON,LAT --to LON,LAT
                       [--altitude 120] [--at ISO] [--until ISO] [--default-margin 25]
                       [--out PATH.geojson] [--datum GCJ-02]

``--datum`` names the datum of the points and of a zones file that declares none (WGS-84 by
default); everything printed and written is WGS-84.

Prints the path length, the straight-line length, the detour and the waypoints; with ``--out``
writes a GeoJSON FeatureCollection (the path as a LineString, then the zones) that any map tool
opens. ``--at`` defaults to the current time (UTC). Bad input prints one clear line on stderr and
exits with status 2; a path that does not exist (point in a zone, enclosed) exits with status 1.

:func:`demo_paths` and :func:`print_demo_paths` show exact paths between pads of a sample area.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from airspace import (
    Airspace,
    AirspaceError,
    FlightPath,
    LocalFrame,
    ZoneFormatError,
    load_zones,
    zones_to_geojson,
)
from airspace.datum import DatumError
from airspace.zones import DEFAULT_MARGIN_M, Zone
from dispatch.commands.datum_args import add_datum_argument, point_arg_to_wgs84

LonLat = tuple[float, float]


class _UsageError(Exception):
    """Bad command-line input: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _lonlat(text: str, option: str) -> LonLat:
    parts = text.split(",")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise _UsageError(f"{option} must be LON,LAT in degrees, got {text!r}") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise _UsageError(f"{option} is out of range (lon in [-180, 180], lat in [-90, 90]): {text!r}")
    return lon, lat


def _time(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _UsageError(f"{option} must be an ISO 8601 date-time, got {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _UsageError(f"{option} needs a zone offset (e.g. 'Z' or '+08:00'): {text!r}")
    return value


def straight_length_m(space: Airspace, a: LonLat, b: LonLat) -> float:
    """The straight-line length between two points, measured in the airspace's frame."""
    return (space.frame or LocalFrame.for_points([a, b])).distance_m(a, b)


def path_geojson(path: FlightPath, zones: list[Zone], properties: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection with the path (a LineString with ``properties``) followed by the zones."""
    line = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in path.waypoints]},
        "properties": {"kind": "flight_path", **properties},
    }
    return {"type": "FeatureCollection", "features": [line, *zones_to_geojson(zones)["features"]]}


def _report(path: FlightPath, straight: float, out: TextIO) -> None:
    detour = (path.length_m / straight - 1) * 100 if straight > 0 else 0.0
    print(f"path length      {path.length_m:12.1f} m", file=out)
    print(f"straight line    {straight:12.1f} m", file=out)
    print(f"detour           {detour:12.2f} %", file=out)
    print(f"waypoints        {len(path.waypoints):12d}", file=out)
    for k, (lon, lat) in enumerate(path.waypoints):
        print(f"  {k:3d}  {lon:.7f},{lat:.7f}", file=out)


def main(argv: list[str]) -> int:
    """Run ``dronedispatch path``; see the module docstring."""
    parser = _Parser(prog="dronedispatch path", description="Shortest safe path around the zones.")
    parser.add_argument("--zones", required=True, metavar="ZONES.geojson", help="zones GeoJSON file")
    parser.add_argument("--from", dest="start", required=True, metavar="LON,LAT", help="take-off point")
    parser.add_argument("--to", dest="end", required=True, metavar="LON,LAT", help="landing point")
    parser.add_argument("--altitude", type=float, default=120.0, metavar="M", help="cruise altitude (120)")
    parser.add_argument("--at", metavar="ISO", help="time with offset, e.g. 2026-12-01T12:00+08:00 (now)")
    parser.add_argument("--until", metavar="ISO", help="also count zones active at any time up to then")
    parser.add_argument(
        "--default-margin",
        type=float,
        default=DEFAULT_MARGIN_M,
        metavar="M",
        help="margin of zones without one (25)",
    )
    parser.add_argument("--out", metavar="PATH.geojson", help="write the path and the zones as GeoJSON")
    add_datum_argument(parser)
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        start, end = _lonlat(args.start, "--from"), _lonlat(args.end, "--to")
        at = _time(args.at, "--at") if args.at else datetime.now(UTC)
        until = _time(args.until, "--until") if args.until else None
        if until is not None and until < at:
            raise _UsageError(f"--until ({args.until}) is before --at ({at.isoformat()})")
        if not math.isfinite(args.altitude) or args.altitude < 0:
            raise _UsageError(f"--altitude must be a finite number of metres >= 0, got {args.altitude}")
        if not math.isfinite(args.default_margin) or args.default_margin < 0:
            raise _UsageError(f"--default-margin must be a finite number >= 0, got {args.default_margin}")
        zones = load_zones(args.zones, default_margin_m=args.default_margin, datum=args.datum)
        start, end = point_arg_to_wgs84(start, args.datum), point_arg_to_wgs84(end, args.datum)
    except (_UsageError, ZoneFormatError, DatumError) as exc:
        print(f"dronedispatch path: {exc}", file=sys.stderr)
        return 2
    space = Airspace(zones)
    try:
        path = space.shortest_path(start, end, altitude_m=args.altitude, at=at, until=until)
    except AirspaceError as exc:
        print(f"dronedispatch path: no path ({exc.code}): {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. a point outside the service area
        print(f"dronedispatch path: {exc}", file=sys.stderr)
        return 2
    straight = straight_length_m(space, start, end)
    _report(path, straight, sys.stdout)
    if args.out:
        props = {
            "length_m": round(path.length_m, 3),
            "straight_m": round(straight, 3),
            "altitude_m": args.altitude,
            "at": at.isoformat(),
            **({"until": until.isoformat()} if until else {}),
        }
        try:
            Path(args.out).write_text(
                json.dumps(path_geojson(path, zones, props), indent=1), encoding="utf-8"
            )
        except OSError as exc:
            print(f"dronedispatch path: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.out}")
    return 0


def load_pads(path: str | Path) -> dict[str, LonLat]:
    """Read a pads file ``{"name": {"lon": .., "lat": ..}, ...}`` (ValueError naming file and pad)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{p}: cannot read file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{p}: must be an object of pads by name")
    pads: dict[str, LonLat] = {}
    for name, rec in data.items():
        if not isinstance(rec, dict):
            raise ValueError(f"{p}: pad {name!r}: must be an object with 'lon' and 'lat'")
        try:
            pads[name] = _lonlat(f"{rec.get('lon')},{rec.get('lat')}", "position")
        except _UsageError as exc:
            raise ValueError(f"{p}: pad {name!r}: {exc}") from None
    return pads


def demo_paths(
    zones_path: str | Path, pads_path: str | Path, at: datetime, *, altitude_m: float = 120.0, limit: int = 6
) -> list[dict[str, Any]]:
    """Exact paths between pads of a sample area: the ``limit`` pad pairs with the largest detours.

    Rows: ``from``, ``to``, ``straight_m``, ``path_m``, ``detour_pct``, ``waypoints`` (count).
    Pads that cannot be used (inside a zone, enclosed) are left out.
    """
    zones = load_zones(zones_path)
    pads = load_pads(pads_path)
    names = list(pads)
    space = Airspace(zones)
    matrix = space.distance_matrix([pads[n] for n in names], altitude_m=altitude_m, at=at)
    rows: list[dict[str, Any]] = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            length = float(matrix.lengths_m[i, j])
            straight = straight_length_m(space, pads[names[i]], pads[names[j]])
            if not math.isfinite(length) or straight <= 0:
                continue
            path = matrix.path(i, j)
            rows.append(
                {
                    "from": names[i],
                    "to": names[j],
                    "straight_m": straight,
                    "path_m": length,
                    "detour_pct": (length / straight - 1) * 100,
                    "waypoints": len(path.waypoints),
                }
            )
    rows.sort(key=lambda r: (-r["detour_pct"], r["from"], r["to"]))
    return rows[:limit]


def print_demo_paths(rows: list[dict[str, Any]], out: TextIO | None = None) -> None:
    """Print :func:`demo_paths` rows as a table."""
    out = out or sys.stdout
    print(f"{'from':<18} {'to':<18} {'straight m':>10} {'path m':>9} {'detour':>7} {'wpts':>4}", file=out)
    for r in rows:
        print(
            f"{r['from']:<18} {r['to']:<18} {r['straight_m']:>10.0f} {r['path_m']:>9.0f} "
            f"{r['detour_pct']:>6.1f}% {r['waypoints']:>4d}",
            file=out,
        )
