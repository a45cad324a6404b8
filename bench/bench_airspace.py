"""Benchmark: distance matrices among many zones (prints a table).

Run: ``.venv/bin/python -m bench.bench_airspace [--runs 5] [--points 200 500] [--zones 100]``.

The scenario is random but seeded: zones (star-shaped polygons, rotated rectangles and circles,
mixed) over a 30 x 30 km area, points uniform over the area outside every footprint. Each run
builds a fresh :class:`~airspace.Airspace` (no cache reuse), so the time covers buffering the
zones, the visibility graph and the matrix.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from datetime import UTC, datetime

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from airspace import Airspace, LocalFrame, Zone

AREA_M = 30_000.0
CENTRE = (114.39, 36.11)
AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def random_zones(n: int, seed: int, frame: LocalFrame, area_m: float = AREA_M) -> list[Zone]:
    """``n`` seeded random zones (about 40 % circles, 30 % star polygons, 30 % rectangles)."""
    rng = np.random.default_rng(seed)
    zones: list[Zone] = []
    half = area_m / 2
    for k in range(n):
        cx, cy = rng.uniform(-half * 0.95, half * 0.95, 2)
        size = rng.uniform(150, 700)
        margin = float(rng.choice([15.0, 25.0, 40.0]))
        u = rng.uniform()
        if u < 0.4:
            lon, lat = frame.to_lonlat(cx, cy)
            zones.append(Zone(f"z{k}", "no_fly", Point(lon, lat), float(size), margin_m=margin))
            continue
        if u < 0.7:
            m = int(rng.integers(5, 10))
            ang = np.sort(rng.uniform(0, 2 * math.pi, m))
            rad = size * rng.uniform(0.5, 1.0, m)
            xs, ys = cx + rad * np.cos(ang), cy + rad * np.sin(ang)
        else:
            w, h, th = size, size * rng.uniform(0.3, 1.0), rng.uniform(0, math.pi)
            bx, by = np.array([-w, w, w, -w]) / 2, np.array([-h, -h, h, h]) / 2
            xs = cx + bx * math.cos(th) - by * math.sin(th)
            ys = cy + bx * math.sin(th) + by * math.cos(th)
        lon, lat = frame.to_lonlat(xs, ys)
        poly = Polygon(np.column_stack([lon, lat]))
        if not poly.is_valid:
            poly = shapely.convex_hull(poly)
        zones.append(Zone(f"z{k}", "no_fly", poly, None, margin_m=margin))
    return zones


def random_points(n: int, seed: int, frame: LocalFrame, space: Airspace, area_m: float = AREA_M) -> list:
    """``n`` seeded points over the area, none inside a zone footprint."""
    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    half = area_m / 2
    while len(out) < n:
        x, y = rng.uniform(-half, half, 2)
        lon, lat = frame.to_lonlat(x, y)
        try:
            space.check_point((lon, lat), altitude_m=120, at=AT)
        except Exception:
            continue
        out.append((float(lon), float(lat)))
    return out


def band_points(n: int, seed: int, frame: LocalFrame, zones: list[Zone], space: Airspace) -> list:
    """``n`` seeded points just outside circle zones, inside their margin band (not in any footprint)."""
    rng = np.random.default_rng(seed)
    circles = [z for z in zones if z.radius_m is not None and z.margin_m > 2]
    out: list[tuple[float, float]] = []
    while len(out) < n:
        z = circles[int(rng.integers(len(circles)))]
        cx, cy = frame.to_xy(z.shape.x, z.shape.y)
        t, gap = rng.uniform(0, 2 * math.pi), rng.uniform(1, z.margin_m - 1)
        r = float(z.radius_m) + gap  # type: ignore[arg-type]
        lon, lat = frame.to_lonlat(cx + r * math.cos(t), cy + r * math.sin(t))
        try:
            space.check_point((lon, lat), altitude_m=120, at=AT)
        except Exception:
            continue
        out.append((float(lon), float(lat)))
    return out


def measure(n_points: int, n_zones: int, runs: int, seed: int = 7, in_bands: int = 0) -> dict[str, float]:
    """Median build time of ``runs`` fresh distance matrices, with graph statistics.

    ``in_bands`` of the points are placed inside margin bands (pads next to zones).
    """
    frame = LocalFrame.centred_on(*CENTRE)
    zones = random_zones(n_zones, seed, frame)
    probe = Airspace(zones, frame)
    points = random_points(n_points - in_bands, seed + 1, frame, probe)
    points += band_points(in_bands, seed + 2, frame, zones, probe)
    times = []
    matrix = None
    for _ in range(runs):
        space = Airspace(zones, frame)
        t0 = time.perf_counter()
        matrix = space.distance_matrix(points, altitude_m=120, at=AT)
        times.append(time.perf_counter() - t0)
    assert matrix is not None
    field = next(iter(space._fields.values()))
    return {
        "in_bands": in_bands,
        "points": n_points,
        "zones": n_zones,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "graph_fraction": matrix.graph_fraction,
        "nodes": field.size,
        "edges": len(field.edge_w),
        "unreachable": int(np.isinf(matrix.lengths_m).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(prog="bench_airspace", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--points", type=int, nargs="+", default=[200, 500])
    parser.add_argument("--zones", type=int, default=100)
    parser.add_argument(
        "--band-share", type=float, default=0.1, help="share of points in margin bands (last row)"
    )
    args = parser.parse_args(argv)
    print("airspace: distance matrix, fresh Airspace per run (zones buffered + graph + matrix)")
    header = ("points", "in bands", "zones", "median s", "min s", "graph pairs", "nodes", "edges")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (6, 8, 5, 9, 7, 11, 6, 7), strict=True)))
    cases = [(n, 0) for n in args.points]
    if args.band_share > 0:
        cases.append((max(args.points), round(max(args.points) * args.band_share)))
    for n, in_bands in cases:
        r = measure(n, args.zones, args.runs, in_bands=in_bands)
        print(
            f"{r['points']:>6} {r['in_bands']:>8} {r['zones']:>5} {r['median_s']:>9.3f} {r['min_s']:>7.3f} "
            f"{r['graph_fraction']:>10.1%} {r['nodes']:>6} {r['edges']:>7}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
