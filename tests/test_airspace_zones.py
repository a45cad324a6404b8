"""The zones GeoJSON format: parsing, export round trip, time windows, altitude bands, bad input."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airspace import Zone, ZoneFormatError, load_zones, parse_zones, zones_to_geojson

SQUARE = [[114.34, 36.11], [114.35, 36.11], [114.35, 36.12], [114.34, 36.12], [114.34, 36.11]]
HOLE = [[114.343, 36.113], [114.343, 36.117], [114.347, 36.117], [114.347, 36.113], [114.343, 36.113]]


def feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [copy.deepcopy(r) for r in rings]}


def good() -> dict[str, Any]:
    return collection(
        feature(polygon(SQUARE, HOLE), id="ring", kind="no_fly", reason="a courtyard"),
        feature({"type": "Point", "coordinates": [114.39, 36.10]}, id="circle", radius_m=250, margin_m=40),
        feature(
            {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[p[0] + 0.05, p[1]] for p in SQUARE]]]},
            id="multi",
            floor_m=50,
            ceiling_m=300,
            valid_from="2026-12-01T10:00:00+08:00",
            valid_to="2026-12-01T14:00:00+08:00",
        ),
    )


def test_parse_reads_every_property_with_defaults() -> None:
    ring, circle, multi = parse_zones(good(), default_margin_m=30)
    assert ring.id == "ring" and ring.kind == "no_fly" and ring.reason == "a courtyard"
    assert ring.shape.geom_type == "Polygon" and len(ring.shape.interiors) == 1
    assert (ring.floor_m, ring.ceiling_m, ring.margin_m, ring.radius_m) == (0.0, None, 30.0, None)
    assert ring.valid_from is None and ring.valid_to is None
    assert circle.radius_m == 250 and circle.margin_m == 40 and circle.is_circle
    assert (circle.shape.x, circle.shape.y) == (114.39, 36.10)
    assert multi.shape.geom_type == "MultiPolygon" and (multi.floor_m, multi.ceiling_m) == (50, 300)
    assert multi.valid_from == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_export_round_trips_through_json() -> None:
    zones = parse_zones(good())
    exported = json.loads(json.dumps(zones_to_geojson(zones)))
    assert parse_zones(exported) == zones


def test_sample_area_loads(anyang_dir: Path) -> None:
    zones = load_zones(anyang_dir / "zones.geojson")
    assert {z.id for z in zones} >= {"hospital-helipad", "tower-crane", "sports-centre-event"}


def test_active_at_is_half_open_and_active_during_is_closed() -> None:
    multi = parse_zones(good())[2]
    start, end = multi.valid_from, multi.valid_to
    assert start is not None and end is not None
    assert not multi.active_at(start - timedelta(seconds=1))
    assert multi.active_at(start) and multi.active_at(end - timedelta(microseconds=1))
    assert not multi.active_at(end)
    assert multi.active_during(start - timedelta(hours=1), start)
    assert not multi.active_during(start - timedelta(hours=1), start - timedelta(seconds=1))
    assert multi.active_during(end - timedelta(seconds=1), end + timedelta(hours=1))
    assert not multi.active_during(end, end + timedelta(hours=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        multi.active_at(datetime(2026, 12, 1, 12))


def test_altitude_band_is_closed() -> None:
    multi = parse_zones(good())[2]
    assert [multi.blocks_altitude(a) for a in (49.9, 50, 120, 300, 300.1)] == [False, True, True, True, False]
    ring = parse_zones(good())[0]
    assert ring.blocks_altitude(0) and ring.blocks_altitude(10_000)


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    """A copy of good() with data[path] = value (or deleted when value is DELETE)."""
    data = good()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()
F0 = ["features", 0]
P0 = [*F0, "properties"]
F1P = ["features", 1, "properties"]
F2P = ["features", 2, "properties"]
RING = [*F0, "geometry", "coordinates", 0]

BAD_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("longitude out of range", mutate([*RING, 1], [181.0, 36.11]), "ring", "longitude 181.0 out of range"),
    ("latitude out of range", mutate([*RING, 1], [114.34, -91]), "ring", "latitude -91.0 out of range"),
    ("NaN coordinate", mutate([*RING, 1], [math.nan, 36.11]), "ring", "non-finite"),
    ("infinite coordinate", mutate([*RING, 2], [114.34, math.inf]), "ring", "non-finite"),
    ("unclosed ring", mutate([*RING, 4], [114.34, 36.1101]), "ring", "not closed"),
    (
        "too-short ring",
        mutate(RING, [[114.34, 36.11], [114.35, 36.11], [114.34, 36.11]]),
        "ring",
        "too short",
    ),
    (
        "self-intersecting polygon",
        mutate(RING, [[114.34, 36.11], [114.35, 36.12], [114.35, 36.11], [114.34, 36.12], [114.34, 36.11]]),
        "ring",
        "Self-intersection",
    ),
    (
        "unsupported geometry",
        mutate([*F0, "geometry"], {"type": "LineString", "coordinates": SQUARE}),
        "ring",
        "unsupported geometry type 'LineString'",
    ),
    ("circle without radius", mutate([*F1P, "radius_m"], DELETE), "circle", "positive finite 'radius_m'"),
    ("circle with zero radius", mutate([*F1P, "radius_m"], 0), "circle", "positive finite 'radius_m'"),
    ("negative margin", mutate([*F1P, "margin_m"], -1), "circle", "'margin_m' must be >= 0"),
    (
        "valid_to before valid_from",
        mutate([*F2P, "valid_to"], "2026-12-01T09:00:00+08:00"),
        "multi",
        "'valid_to' (2026-12-01T09:00:00+08:00) is not after 'valid_from'",
    ),
    (
        "time without zone offset",
        mutate([*F2P, "valid_from"], "2026-12-01T10:00:00"),
        "multi",
        "no zone offset",
    ),
    ("not a date-time", mutate([*F2P, "valid_from"], "tomorrow"), "multi", "not an ISO 8601"),
    (
        "ceiling below floor",
        mutate([*F2P, "ceiling_m"], 20),
        "multi",
        "'ceiling_m' (20.0) is below 'floor_m'",
    ),
    ("negative floor", mutate([*F2P, "floor_m"], -5), "multi", "'floor_m' must be >= 0"),
    ("unknown kind", mutate([*P0, "kind"], "restricted"), "ring", "'kind' is 'restricted'"),
    ("unknown property", mutate([*P0, "ceilling_m"], 100), "ring", "unknown property 'ceilling_m'"),
    ("radius on a polygon", mutate([*P0, "radius_m"], 100), "ring", "'radius_m' applies only to a circle"),
    ("boolean number", mutate([*F1P, "margin_m"], True), "circle", "must be a finite number"),
    ("missing id", mutate([*P0, "id"], DELETE), "features[0]", "'id' must be a non-empty string"),
    (
        "duplicate ids",
        mutate([*F1P, "id"], "ring"),
        "ring",
        "duplicate zone id 'ring' (first used by features[0])",
    ),
    ("not a feature", mutate(F0, ["x"]), "features[0]", "must be a GeoJSON object"),
]


@pytest.mark.parametrize(
    ("case", "data", "feature_name", "problem"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_zone_input_names_the_feature_and_the_problem(
    case: str, data: dict[str, Any], feature_name: str, problem: str
) -> None:
    with pytest.raises(ZoneFormatError) as info:
        parse_zones(data, source="zones.geojson")
    err = info.value
    assert err.source == "zones.geojson"
    assert err.feature == feature_name
    assert problem in err.problem
    assert str(err).startswith("zones.geojson: ") and feature_name in str(err) and problem in str(err)


def test_overlapping_multipolygon_parts_are_reported_not_repaired() -> None:
    shifted = [[p[0] + 0.005, p[1]] for p in SQUARE]
    data = collection(feature({"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted]]}, id="overlap"))
    with pytest.raises(ZoneFormatError, match=r"overlap.*invalid MultiPolygon"):
        parse_zones(data)


@pytest.mark.parametrize("data", [[], {"type": "Feature"}, {"type": "FeatureCollection"}, "x"])
def test_not_a_feature_collection(data: Any) -> None:
    with pytest.raises(ZoneFormatError) as info:
        parse_zones(data, source="in.json")
    assert info.value.feature == "$"


def test_load_zones_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.geojson"
    with pytest.raises(ZoneFormatError, match=r"missing\.geojson.*cannot read file"):
        load_zones(missing)
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ZoneFormatError, match=r"broken\.geojson.*invalid JSON"):
        load_zones(broken)
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(mutate([*F1P, "radius_m"], -3)), encoding="utf-8")
    with pytest.raises(ZoneFormatError) as info:
        load_zones(bad)
    assert info.value.source == str(bad) and info.value.feature == "circle"


def test_zone_times_keep_their_offset_and_compare_across_zones() -> None:
    multi = parse_zones(good())[2]
    cst = timezone(timedelta(hours=8))
    assert multi.active_at(datetime(2026, 12, 1, 12, 0, tzinfo=cst))
    assert not multi.active_at(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert isinstance(multi, Zone)
