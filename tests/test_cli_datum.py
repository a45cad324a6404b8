"""``--datum`` on the commands that read files (path, plan, db seed), and serve's seeding: the
sample area's files as a Chinese web map shows them (GCJ-02, BD-09) are read back onto the sample
area in WGS-84; a bad ``--datum``, or one that contradicts the zones file, is a usage error
naming the datums."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import shapely

from airspace.datum import DATUMS, from_wgs84
from airspace.zones import load_zones, parse_zones
from dispatch import cli
from dispatch.commands.plan import load_problem
from dispatch.commands.serve import seed_if_empty
from dispatch.store import open_store
from tests.conftest import EXAMPLES

AT = "2026-12-01T12:00:00+08:00"
SERVICE_CENTRE = (114.3968, 36.1043)
ZHANGDE_ROAD = (114.416, 36.1115)
CLOSE = 1e-7  # degrees: about a centimetre


def shown(datum: str, lon: float, lat: float) -> list[float]:
    x, y = from_wgs84(datum, lon, lat)
    return [float(x[0]), float(y[0])]


def _positions(coords: Any, datum: str) -> Any:
    if coords and isinstance(coords[0], int | float):
        return shown(datum, coords[0], coords[1])
    return [_positions(c, datum) for c in coords]


def sample_in(datum: str, out: Path, *, declare: bool) -> Path:
    """The sample area's files with every position as ``datum`` shows it (vertices moved)."""
    zones = json.loads((EXAMPLES / "zones.geojson").read_text(encoding="utf-8"))
    for f in zones["features"]:
        f["geometry"]["coordinates"] = _positions(f["geometry"]["coordinates"], datum)
    if declare:
        zones["datum"] = datum
    (out / "zones.geojson").write_text(json.dumps(zones), encoding="utf-8")
    fleet = json.loads((EXAMPLES / "fleet.json").read_text(encoding="utf-8"))
    for port in fleet["ports"]:
        port["lon"], port["lat"] = shown(datum, port["lon"], port["lat"])
    (out / "fleet.json").write_text(json.dumps(fleet), encoding="utf-8")
    pads = json.loads((EXAMPLES / "pads.json").read_text(encoding="utf-8"))
    for rec in pads.values():
        rec["lon"], rec["lat"] = shown(datum, rec["lon"], rec["lat"])
    (out / "pads.json").write_text(json.dumps(pads), encoding="utf-8")
    requests = json.loads((EXAMPLES / "requests.json").read_text(encoding="utf-8"))
    for r in requests:
        for end in ("pickup", "dropoff"):
            r[end]["lon"], r[end]["lat"] = shown(datum, r[end]["lon"], r[end]["lat"])
    (out / "requests.json").write_text(json.dumps(requests), encoding="utf-8")
    return out


def path_args(d: Path, start: list[float], end: list[float], *extra: str) -> list[str]:
    return [
        "path",
        "--zones",
        str(d / "zones.geojson"),
        "--at",
        AT,
        "--from",
        f"{start[0]!r},{start[1]!r}",
        "--to",
        f"{end[0]!r},{end[1]!r}",
        *extra,
    ]


def path_run(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[float, list[float]]:
    assert cli.main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    line = json.loads(out.read_text(encoding="utf-8"))["features"][0]
    return float(text.split("path length")[1].split()[0]), line["geometry"]["coordinates"]


@pytest.mark.parametrize("datum", ["GCJ-02", "BD-09"])
def test_path_with_datum_flies_the_sample_path(
    datum: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth, truth_line = path_run(
        path_args(EXAMPLES, list(SERVICE_CENTRE), list(ZHANGDE_ROAD)), tmp_path / "wgs.geojson", capsys
    )
    d = sample_in(datum, tmp_path, declare=False)
    start, end = shown(datum, *SERVICE_CENTRE), shown(datum, *ZHANGDE_ROAD)
    length, line = path_run(path_args(d, start, end, "--datum", datum), tmp_path / "p.geojson", capsys)
    assert length == pytest.approx(truth, abs=0.5)  # the zones' edges bend by millimetres only
    assert abs(line[0][0] - SERVICE_CENTRE[0]) < CLOSE and abs(line[0][1] - SERVICE_CENTRE[1]) < CLOSE
    assert abs(line[-1][0] - ZHANGDE_ROAD[0]) < CLOSE and abs(line[-1][1] - ZHANGDE_ROAD[1]) < CLOSE
    assert len(line) == len(truth_line)
    # Read as WGS-84 the same file and points are the wrong place: ~460 m (GCJ-02) or more away.
    _, naive = path_run(path_args(d, start, end), tmp_path / "naive.geojson", capsys)
    assert abs(naive[0][0] - SERVICE_CENTRE[0]) > 0.003


def test_bad_or_contradicting_datums_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = sample_in("GCJ-02", tmp_path, declare=True)
    argv = path_args(d, list(SERVICE_CENTRE), list(ZHANGDE_ROAD))
    assert cli.main([*argv, "--datum", "WGS84"]) == 2
    err = capsys.readouterr().err
    assert "--datum" in err and all(name in err for name in DATUMS)
    assert cli.main([*argv, "--datum", "BD-09"]) == 2
    assert "declares datum 'GCJ-02', but 'BD-09' was given" in capsys.readouterr().err
    plan = ["plan", "--zones", str(d / "zones.geojson"), "--fleet", str(d / "fleet.json")]
    assert cli.main([*plan, "--requests", str(d / "requests.json"), "--datum", "BD-09"]) == 2
    assert "declares datum 'GCJ-02'" in capsys.readouterr().err


def test_plan_with_datum_reads_the_sample_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = sample_in("BD-09", tmp_path, declare=True)
    truth = load_problem(EXAMPLES / "zones.geojson", EXAMPLES / "fleet.json", EXAMPLES / "requests.json")
    got = load_problem(d / "zones.geojson", d / "fleet.json", d / "requests.json", datum="BD-09")
    for a, b in zip(truth.fleet.ports, got.fleet.ports, strict=True):
        assert abs(a.lon - b.lon) < CLOSE and abs(a.lat - b.lat) < CLOSE
    for a, b in zip(truth.requests, got.requests, strict=True):
        for p, q in ((a.pickup, b.pickup), (a.dropoff, b.dropoff)):
            assert abs(p[0] - q[0]) < CLOSE and abs(p[1] - q[1]) < CLOSE
    for za, zb in zip(truth.zones, got.zones, strict=True):
        # Every corner lands back within a centimetre; the edges between bend: BD-09 turns points
        # by up to 40 m with an 11 km period, so a straight 1.8 km edge on Baidu's map is metres off
        # straight in WGS-84 (and the densified conversion follows that bend).
        vertices = shapely.points(shapely.get_coordinates(zb.shape))
        for corner in shapely.get_coordinates(za.shape):
            assert float(shapely.distance(shapely.Point(corner), vertices).min()) < 1.5 * CLOSE
        assert za.shape.hausdorff_distance(zb.shape) < 1e-4
        if za.radius_m is not None:
            assert zb.radius_m is not None and za.radius_m < zb.radius_m < za.radius_m * 1.03  # BD-09: 2.3 %
    out = tmp_path / "PLAN.geojson"
    argv = ["plan", "--zones", str(d / "zones.geojson"), "--fleet", str(d / "fleet.json")]
    argv += ["--requests", str(d / "requests.json"), "--seconds", "1", "--out", str(out)]
    assert cli.main([*argv, "--datum", "BD-09"]) == 0, capsys.readouterr().err
    unserved = {u["id"]: u["reason"] for u in json.loads(out.read_text())["plan"]["unserved"]}
    assert unserved["R011"] == "overweight" and unserved["R012"] == "dropoff_in_zone"
    legs = [f for f in json.loads(out.read_text())["features"] if f["geometry"]["type"] == "LineString"]
    ports = {(round(p.lon, 6), round(p.lat, 6)) for p in truth.fleet.ports}
    assert any((round(c[0], 6), round(c[1], 6)) in ports for f in legs for c in f["geometry"]["coordinates"])


async def test_db_seed_with_datum_stores_wgs84(db_url: str, tmp_path: Path) -> None:
    d = sample_in("GCJ-02", tmp_path, declare=False)
    args = ["db", "seed", "--fleet", str(d / "fleet.json"), "--pads", str(d / "pads.json")]
    assert await asyncio.to_thread(cli.main, [*args, "--datum", "GCJ-02", "--db", db_url]) == 0
    store = await open_store(db_url)
    try:
        pads = await store.directory.pads()
        sample = json.loads((EXAMPLES / "pads.json").read_text(encoding="utf-8"))
        for pad_id, rec in sample.items():
            assert abs(pads[pad_id].lon - rec["lon"]) < CLOSE and abs(pads[pad_id].lat - rec["lat"]) < CLOSE
        fleet = json.loads((EXAMPLES / "fleet.json").read_text(encoding="utf-8"))
        stored = {p.id: p for p in (await store.directory.fleet()).ports}
        for port in fleet["ports"]:
            assert abs(stored[port["id"]].lon - port["lon"]) < CLOSE
            assert abs(stored[port["id"]].lat - port["lat"]) < CLOSE
    finally:
        await store.close()


async def test_serve_seeds_a_zones_file_declared_gcj02_in_wgs84(store: Any, tmp_path: Path) -> None:
    d = sample_in("GCJ-02", tmp_path, declare=True)
    for name in ("fleet.json", "pads.json"):  # serve reads these as WGS-84: no member, no --datum
        (d / name).write_text((EXAMPLES / name).read_text(encoding="utf-8"), encoding="utf-8")
    assert await seed_if_empty(store, d) is not None
    sample = {z.id: z for z in load_zones(EXAMPLES / "zones.geojson")}
    views = {v.id: v for v in await store.zones.list(active_only=False)}
    assert set(views) == set(sample)
    for zone_id, truth in sample.items():
        feature = views[zone_id].feature
        assert "datum" not in feature
        [stored] = parse_zones({"type": "FeatureCollection", "features": [feature]})  # read as WGS-84
        # Within the bend of the edges (15 cm on a 1.8 km edge), not the 460 m of a naive reading.
        assert truth.shape.hausdorff_distance(stored.shape) < 5e-6
