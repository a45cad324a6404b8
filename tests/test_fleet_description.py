"""The FLEET.json format: the sample loads; bad input is refused with the record and field named."""

from __future__ import annotations

import copy
import json

import pytest

from fleet.description import FleetFormatError, load_fleet, parse_fleet
from tests.conftest import EXAMPLES

SAMPLE = json.loads((EXAMPLES / "fleet.json").read_text())


def test_sample_fleet_loads_and_round_trips() -> None:
    fleet = load_fleet(EXAMPLES / "fleet.json")
    assert {d.id for d in fleet.drones} == {"D01", "D02", "D03", "D04", "D05", "D06"}
    assert parse_fleet(fleet.to_dict()) == fleet
    assert fleet.timezone == "Asia/Shanghai"
    assert parse_fleet({k: v for k, v in SAMPLE.items() if k != "timezone"}).timezone == "UTC"  # the default
    small = fleet.models["courier-s"]
    assert small.usable_wh == pytest.approx(350 * 0.8)
    # 2 km carrying 1 kg: 2 x (14 + 3 x 1)
    assert small.leg_energy_wh(2000, 1.0) == pytest.approx(34.0)


def _mutated(fn) -> dict:
    data = copy.deepcopy(SAMPLE)
    fn(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["models"]["courier-s"].pop("battery_wh"), "missing field 'battery_wh'"),
        (lambda d: d["models"]["courier-s"].update(wh_per_km="12"), "'wh_per_km' must be a finite number"),
        (lambda d: d["models"]["courier-s"].update(reserve_fraction=1.0), "reserve_fraction"),
        (lambda d: d["models"]["courier-s"].update(max_payload_kg=0), "'max_payload_kg' must be > 0"),
        (lambda d: d["ports"][0].update(lon=200), "ports[0] (id 'port-service-centre'): longitude 200"),
        (lambda d: d["ports"][1].update(id="port-service-centre"), "duplicate port id"),
        (lambda d: d["ports"][1]["drones"][0].update(id="D01"), "duplicate drone id 'D01'"),
        (lambda d: d["ports"][0]["drones"][0].update(model="nope"), "unknown model 'nope'"),
        (lambda d: d["ports"][0]["drones"][0].update(energy_wh=9999), "energy_wh"),
        (lambda d: d["ports"][0].update(colour="red"), "unknown field(s) 'colour'"),
        (lambda d: d.update(timezone="Mars/Olympus"), "timezone: unknown time zone 'Mars/Olympus'"),
        (lambda d: d.update(timezone="../../etc/passwd"), "timezone: unknown time zone"),
        (lambda d: d.update(timezone=9), "timezone: a time zone is an IANA name"),
    ],
)
def test_bad_fleet_is_refused_naming_record_and_field(mutate, expected: str) -> None:
    with pytest.raises(FleetFormatError) as err:
        parse_fleet(_mutated(mutate), source="fleet.json")
    assert expected in str(err.value)
    assert str(err.value).startswith("fleet.json: ")


def test_unreadable_and_invalid_json_name_the_file(tmp_path) -> None:
    bad = tmp_path / "fleet.json"
    bad.write_text("{not json")
    with pytest.raises(FleetFormatError, match=r"fleet.json: line 1 column 2: invalid JSON"):
        load_fleet(bad)
    with pytest.raises(FleetFormatError, match="cannot read file"):
        load_fleet(tmp_path / "missing.json")


def test_terrain_fields_default_parse_round_trip_and_are_validated() -> None:
    fleet = parse_fleet(SAMPLE)
    assert (fleet.terrain, fleet.clearance_m, fleet.ceiling_m) == (None, 30.0, 120.0)
    model = next(iter(fleet.models.values()))
    assert model.grade == pytest.approx(3.0 / model.cruise_speed_mps)
    assert model.climb_energy_wh(200.0) == pytest.approx(6.0) and model.climb_energy_wh(-5.0) == 0.0
    data = copy.deepcopy(SAMPLE)
    data.update(terrain="terrain.tif", clearance_m=40, ceiling_m=110)
    next(iter(data["models"].values())).update(climb_rate_mps=4, wh_per_100m_climb=2.5)
    fleet = parse_fleet(data)
    assert (fleet.terrain, fleet.clearance_m, fleet.ceiling_m) == ("terrain.tif", 40.0, 110.0)
    assert parse_fleet(fleet.to_dict()) == fleet
    for bad, expected in (
        ({"terrain": ""}, "terrain: must name a GeoTIFF"),
        ({"ceiling_m": 0}, "'ceiling_m' must be > 0"),
        ({"clearance_m": 130}, "must not exceed ceiling_m"),
    ):
        with pytest.raises(FleetFormatError, match=expected):
            parse_fleet({**SAMPLE, **bad})
    data = copy.deepcopy(SAMPLE)
    next(iter(data["models"].values()))["climb_rate_mps"] = 0
    with pytest.raises(FleetFormatError, match="'climb_rate_mps' must be > 0"):
        parse_fleet(data)
