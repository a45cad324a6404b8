"""``dronedispatch plan`` end to end: summary, PLAN.geojson written and checked, bad input refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dispatch import cli
from dispatch.commands.plan import check_plan_file, load_problem, plan_sample
from routing.plan_geojson import plan_from_geojson
from tests.conftest import EXAMPLES


def _args(d: Path, *extra: str) -> list[str]:
    return [
        "plan",
        "--zones",
        str(d / "zones.geojson"),
        "--fleet",
        str(d / "fleet.json"),
        "--requests",
        str(d / "requests.json"),
        *extra,
    ]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plan") / "PLAN.geojson"
    assert cli.main(_args(EXAMPLES, "--seconds", "2", "--out", str(out))) == 0
    return out


def test_plan_writes_a_geojson_that_validates(written: Path) -> None:
    doc = json.loads(written.read_text())
    assert doc["type"] == "FeatureCollection"
    assert doc["features"], "the sample plan flies"
    props = doc["features"][0]["properties"]
    assert set(props) >= {"drone_id", "trip", "seq", "from_kind", "to_kind", "depart", "arrive", "payload_kg"}
    assert props["depart"].endswith("Z")
    legs = [f for f in doc["features"] if f["geometry"]["type"] == "LineString"]
    assert legs and all(len(c) == 3 for f in legs for c in f["geometry"]["coordinates"])
    volumes = [f for f in doc["features"] if f["geometry"]["type"] == "Polygon"]
    assert {(f["properties"]["drone_id"], f["properties"]["trip"]) for f in volumes} == {
        (f["properties"]["drone_id"], f["properties"]["trip"]) for f in legs
    }, "every trip has its intent's volumes"
    unserved = {u["id"]: u["reason"] for u in doc["plan"]["unserved"]}
    assert unserved["R011"] == "overweight"
    assert unserved["R012"] == "dropoff_in_zone"
    problem = load_problem(EXAMPLES / "zones.geojson", EXAMPLES / "fleet.json", EXAMPLES / "requests.json")
    assert check_plan_file(written, problem) == []


def test_check_mode_accepts_the_written_plan_and_refuses_a_corrupted_one(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(_args(EXAMPLES, "--check", str(written))) == 0
    assert "valid" in capsys.readouterr().out
    doc = json.loads(written.read_text())
    doc["features"][0]["properties"]["payload_kg"] += 9.0
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(doc))
    assert cli.main(_args(EXAMPLES, "--check", str(bad))) == 1
    assert "payload_mismatch" in capsys.readouterr().out


def test_round_trip_keeps_the_plan(written: Path) -> None:
    doc = json.loads(written.read_text())
    again = plan_from_geojson(doc)
    kinds = [f["geometry"]["type"] for f in doc["features"]]
    assert len(again.legs()) == kinds.count("LineString")
    assert sum(len(i.volumes) for i in again.intents) == kinds.count("Polygon")
    assert {(i.drone_id, i.trip) for i in again.intents} == {(d, t) for d, t, _, _ in again.legs()}
    assert set(again.served) == set(doc["plan"]["served"])


def _copy_sample(tmp_path: Path) -> Path:
    for name in ("zones.geojson", "fleet.json", "requests.json"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    ("file", "mutate", "expected"),
    [
        (
            "requests.json",
            lambda d: d[2].pop("deadline"),
            "requests.json: [2] (id 'R003'): missing field 'deadline'",
        ),
        ("requests.json", lambda d: d[0].update(priority="asap"), "(id 'R001'): field 'priority'"),
        (
            "requests.json",
            lambda d: d[4].update(ready_at="2026-12-01T09:10:00"),
            "field 'ready_at' must carry a time zone",
        ),
        (
            "requests.json",
            lambda d: d[1]["pickup"].update(lat=95),
            "(id 'R002'): field 'pickup.lat' out of range",
        ),
        (
            "fleet.json",
            lambda d: d["models"]["courier-s"].pop("wh_per_km"),
            "fleet.json: models.courier-s: missing",
        ),
        ("zones.geojson", lambda d: d["features"][1]["properties"].pop("radius_m"), "zones.geojson"),
    ],
)
def test_bad_input_exits_2_naming_file_record_field_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str, mutate, expected: str
) -> None:
    d = _copy_sample(tmp_path)
    data = json.loads((d / file).read_text())
    mutate(data)
    (d / file).write_text(json.dumps(data))
    out = tmp_path / "PLAN.geojson"
    assert cli.main(_args(d, "--seconds", "1", "--out", str(out))) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert not out.exists()


def test_invalid_json_and_bad_at_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy_sample(tmp_path)
    (d / "requests.json").write_text('[{"id": "R1",]')
    assert cli.main(_args(d)) == 2
    assert "requests.json: line 1 column" in capsys.readouterr().err
    assert cli.main(_args(EXAMPLES, "--at", "tomorrow")) == 2
    assert "--at" in capsys.readouterr().err
    assert cli.main(_args(EXAMPLES, "--at", "2026-12-01T09:00:00")) == 2
    assert "zone offset" in capsys.readouterr().err


def test_planning_after_every_deadline_gives_reasons_not_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "PLAN.geojson"
    late = "2026-12-01T12:00:00+08:00"
    assert cli.main(_args(EXAMPLES, "--at", late, "--seconds", "1", "--out", str(out))) == 0
    doc = json.loads(out.read_text())
    assert doc["plan"]["served"] == []
    reasons = {u["id"]: u["reason"] for u in doc["plan"]["unserved"]}
    assert reasons["R011"] == "overweight"
    assert reasons["R001"] == "deadline_infeasible"
    assert "served 0/14" in capsys.readouterr().out


def test_plan_sample_prints_the_table_and_writes_a_valid_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sample.geojson"
    result = plan_sample(seconds=1, out=out)
    printed = capsys.readouterr().out
    assert "R011     normal unserved" in printed and "overweight" in printed
    problem = load_problem(EXAMPLES / "zones.geojson", EXAMPLES / "fleet.json", EXAMPLES / "requests.json")
    assert check_plan_file(out, problem) == []
    assert set(result.served) == set(json.loads(out.read_text())["plan"]["served"])


def test_plan_over_the_sample_terrain_writes_altitudes_above_sea_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dem = EXAMPLES.parent / "terrain" / "taihang.tif"
    out = tmp_path / "PLAN.geojson"
    assert cli.main(_args(EXAMPLES, "--seconds", "1", "--terrain", str(dem), "--out", str(out))) == 0
    doc = json.loads(out.read_text())
    legs = [f for f in doc["features"] if f["geometry"]["type"] == "LineString"]
    assert legs and all(f["properties"]["altitude_reference"] == "AMSL" for f in legs)
    # the plain under the city lies some 60-90 m above sea level: altitudes are not true heights
    assert min(c[2] for f in legs for c in f["geometry"]["coordinates"]) > 100.0
    assert cli.main(_args(EXAMPLES, "--check", str(out), "--terrain", str(dem))) == 0
    capsys.readouterr()
    assert cli.main(_args(EXAMPLES, "--seconds", "1", "--terrain", str(tmp_path / "none.tif"))) == 2
    assert "--terrain" in capsys.readouterr().err
