"""The ``path`` command, run through ``dispatch.cli.main``, and the demo helper."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from airspace import parse_zones
from dispatch import cli
from dispatch.commands.path import demo_paths, print_demo_paths

AT = "2026-12-01T12:00:00+08:00"
SERVICE_CENTRE = "114.3968,36.1043"
ZHANGDE_ROAD = "114.416,36.1115"


def test_path_prints_lengths_and_writes_geojson(
    anyang_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "path.geojson"
    argv = [
        "path",
        "--zones",
        str(anyang_dir / "zones.geojson"),
        "--from",
        SERVICE_CENTRE,
        "--to",
        ZHANGDE_ROAD,
    ]
    assert cli.main([*argv, "--at", AT, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    length = float(text.split("path length")[1].split()[0])
    straight = float(text.split("straight line")[1].split()[0])
    assert length > straight > 1000
    assert "detour" in text and "waypoints" in text
    doc = json.loads(out.read_text(encoding="utf-8"))
    line, *zone_features = doc["features"]
    assert line["geometry"]["type"] == "LineString"
    assert line["geometry"]["coordinates"][0] == [114.3968, 36.1043]
    assert line["properties"]["length_m"] == pytest.approx(length, abs=0.05)
    # the zones come back in the zones format
    assert len(parse_zones({"type": "FeatureCollection", "features": zone_features})) == 7


def test_path_reports_a_point_in_a_zone(anyang_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "path",
        "--zones",
        str(anyang_dir / "zones.geojson"),
        "--from",
        SERVICE_CENTRE,
        "--to",
        "114.373,36.1315",
    ]
    assert cli.main([*argv, "--at", AT]) == 1
    assert "point_in_zone" in capsys.readouterr().err
    # the event zone is temporary: outside its window the same point is fine
    assert cli.main([*argv, "--at", "2026-12-01T15:00:00+08:00"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "114.34,36.11", "--to", "x,36.11"], "--to must be LON,LAT"),
        (["--from", "114.34,97.4", "--to", "114.34,36.11"], "--from is out of range"),
        (["--from", "114.34,36.11", "--to", "114.34,36.12", "--at", "2026-12-01T12:00:00"], "zone offset"),
        (["--from", "114.34,36.11", "--to", "114.34,36.12", "--altitude", "-5"], "--altitude"),
        (["--from", "114.34,36.11"], "required: --to"),
        (["--from", "129.07,35.18", "--to", "114.34,36.12"], "outside the service area"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(
    anyang_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli.main(["path", "--zones", str(anyang_dir / "zones.geojson"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_zones_file_names_the_feature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "zones.geojson"
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [114.34, 36.11]},
        "properties": {"id": "z"},
    }
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    assert cli.main(["path", "--zones", str(bad), "--from", "114.34,36.12", "--to", "114.35,36.12"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "'z'" in err and "radius_m" in err


def test_demo_paths_lists_detours_between_sample_pads(
    anyang_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = demo_paths(anyang_dir / "zones.geojson", anyang_dir / "pads.json", datetime.fromisoformat(AT))
    assert rows and len(rows) <= 6
    for r in rows:
        assert r["path_m"] > r["straight_m"] > 0 and r["waypoints"] >= 3
        assert r["detour_pct"] == pytest.approx((r["path_m"] / r["straight_m"] - 1) * 100)
    print_demo_paths(rows)
    assert rows[0]["from"] in capsys.readouterr().out
