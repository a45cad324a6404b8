"""Datums of input coordinates (airspace.datum): published test points, the iterated inverse,
and zones documents declared GCJ-02 / BD-09 landing where they were drawn, in WGS-84."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import coordTransform
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, Polygon

from airspace import LocalFrame, ZoneFormatError, load_zones, parse_zones
from airspace.datum import (
    DATUMS,
    DatumError,
    check_datum,
    circle_to_wgs84,
    from_wgs84,
    geometry_to_wgs84,
    point_to_wgs84,
    to_wgs84,
)
from airspace.zones import MAX_ZONE_VERTICES, wgs84_feature

GEOD = Geod(ellps="WGS84")
CM = 0.01

# Published WGS-84 -> GCJ-02 test points: googollee/eviltransform's test data (MIT), the points
# every port of the formulas checks against: (wgs lon, wgs lat, gcj lon, gcj lat).
EVILTRANSFORM_POINTS = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
]
# wandergis/coordtransform's README (MIT): WGS-84 (116.404, 39.915) in GCJ-02, and GCJ-02
# (116.404, 39.915) in BD-09.
WANDERGIS_WGS_TO_GCJ = ((116.404, 39.915), (116.41024449916938, 39.91640428150164))
WANDERGIS_GCJ_TO_BD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))

ANYANG_HENAN = (114.392, 36.098)
WUHAN = (114.305, 30.593)
CHONGQING = (106.551, 29.563)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), EVILTRANSFORM_POINTS)
def test_published_points_forward_and_inverse(wlon: float, wlat: float, glon: float, glat: float) -> None:
    x, y = from_wgs84("GCJ-02", wlon, wlat)
    assert metres((float(x[0]), float(y[0])), (glon, glat)) < 1e-3
    # The inverse, iterated, lands on the published WGS-84 point within a millimetre.
    assert metres(point_to_wgs84("GCJ-02", glon, glat), (wlon, wlat)) < 1e-3


def test_published_bd09_point_goes_through_gcj02() -> None:
    (gcj, bd), (wgs, gcj_of_wgs) = WANDERGIS_GCJ_TO_BD, WANDERGIS_WGS_TO_GCJ
    x, y = from_wgs84("BD-09", *point_to_wgs84("GCJ-02", *gcj))
    assert metres((float(x[0]), float(y[0])), bd) < 1e-3
    assert metres(point_to_wgs84("BD-09", *bd), point_to_wgs84("GCJ-02", *gcj)) < 1e-3
    assert metres(point_to_wgs84("GCJ-02", *gcj_of_wgs), wgs) < 1e-3


@pytest.mark.parametrize("datum", ["GCJ-02", "BD-09"])
def test_round_trip_over_china_is_within_a_centimetre(datum: str) -> None:
    rng = np.random.default_rng(16)
    lon, lat = rng.uniform(75.0, 134.0, 2000), rng.uniform(5.0, 53.0, 2000)
    x, y = to_wgs84(datum, *from_wgs84(datum, lon, lat))
    _, _, err = GEOD.inv(lon, lat, x, y)
    assert float(np.max(err)) < CM
    fx, fy = from_wgs84(datum, *to_wgs84(datum, lon, lat))  # the residual the iteration stops at
    assert max(float(np.abs(fx - lon).max()), float(np.abs(fy - lat).max())) <= 1e-9


@pytest.mark.parametrize("city", [ANYANG_HENAN, WUHAN, CHONGQING])
def test_the_offsets_are_the_issue_s_and_the_one_step_formula_is_not_enough(
    city: tuple[float, float],
) -> None:
    gx, gy = from_wgs84("GCJ-02", *city)
    gcj = (float(gx[0]), float(gy[0]))
    assert 450 < metres(city, gcj) < 620
    bx, by = from_wgs84("BD-09", *city)
    assert 900 < metres(city, (float(bx[0]), float(by[0]))) < 1400
    assert metres(point_to_wgs84("GCJ-02", *gcj), city) < 1e-3
    one_step = coordTransform.gcj02_to_wgs84(*gcj)  # the package's own inverse: not iterated
    assert metres((one_step[0], one_step[1]), city) > 0.2


def test_wgs84_and_cgcs2000_are_taken_as_they_are() -> None:
    for datum in ("WGS-84", "CGCS2000"):
        assert point_to_wgs84(datum, *WUHAN) == WUHAN
        square = Polygon([(114.3, 30.6), (114.4, 30.6), (114.4, 30.7), (114.3, 30.6)])
        assert geometry_to_wgs84(datum, square) is square


def test_outside_china_gcj02_is_the_identity_bd09_is_not() -> None:
    paris = (2.35, 48.85)
    assert point_to_wgs84("GCJ-02", *paris) == pytest.approx(paris, abs=1e-12)
    assert metres(point_to_wgs84("BD-09", *paris), paris) > 100


def test_an_unknown_datum_names_the_allowed_ones() -> None:
    for bad in ("WGS84", "gcj-02", "", 4326, None):
        with pytest.raises(DatumError) as info:
            check_datum(bad)
        for name in DATUMS:
            assert name in str(info.value)
    assert check_datum("BD-09") == "BD-09"


def test_a_circle_converted_covers_the_circle_drawn() -> None:
    centre, radius = circle_to_wgs84("GCJ-02", 114.31, 30.59, 2000.0)
    assert 450 < metres(centre, (114.31, 30.59)) < 620
    assert 2000.0 < radius < 2000.0 + 2 * 2.5  # the offset stretches by about 2 m per km
    az = np.linspace(0, 360, 1000, endpoint=False)
    lon, lat, _ = GEOD.fwd(np.full(1000, 114.31), np.full(1000, 30.59), az, np.full(1000, 2000.0))
    x, y = to_wgs84("GCJ-02", lon, lat)
    _, _, d = GEOD.inv(np.full(1000, centre[0]), np.full(1000, centre[1]), x, y)
    assert float(d.max()) <= radius + 1e-3


# A zone drawn on a GCJ-02 map of Anyang (Henan): 6 km edges, a hole.
GCJ_OUTER = [(114.36, 36.08), (114.43, 36.08), (114.43, 36.13), (114.36, 36.13), (114.36, 36.08)]
GCJ_HOLE = [(114.39, 36.10), (114.40, 36.10), (114.40, 36.11), (114.39, 36.10)]


def gcj_document(datum: str | None = "GCJ-02") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [GCJ_OUTER, GCJ_HOLE]},
                "properties": {"id": "prison", "margin_m": 30},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [114.45, 36.09]},
                "properties": {"id": "school", "radius_m": 500},
            },
        ],
    }
    if datum is not None:
        doc["datum"] = datum
    return doc


def exact_image(ring: list[tuple[float, float]], datum: str) -> np.ndarray:
    """The ring's true WGS-84 image: every edge cut into ~1 m pieces, each vertex inverted."""
    dense = shapely.get_coordinates(shapely.segmentize(shapely.LineString(ring), 1e-5))
    x, y = to_wgs84(datum, dense[:, 0], dense[:, 1])
    return np.column_stack([x, y])


@pytest.mark.parametrize("datum", ["GCJ-02", "BD-09"])
def test_a_zone_declared_gcj02_lands_where_it_was_drawn(datum: str) -> None:
    naive = parse_zones(gcj_document(None))[0]
    zone = parse_zones(gcj_document(datum))[0]
    frame = LocalFrame.centred_on(114.40, 36.10)

    def xy(points: np.ndarray) -> np.ndarray:
        return frame.points_to_xy(points)

    shape_xy = shapely.transform(zone.shape, lambda c: xy(c))
    naive_xy = shapely.transform(naive.shape, lambda c: xy(c))
    # The naive reading is half a kilometre (GCJ-02) or more (BD-09) off ...
    shift = shape_xy.centroid.distance(naive_xy.centroid)
    assert (450 < shift < 620) if datum == "GCJ-02" else (1000 < shift < 1450)
    # ... the converted one follows the exact image of every edge within a centimetre, both ways.
    for ring, converted in ((GCJ_OUTER, shape_xy.exterior), (GCJ_HOLE, shape_xy.interiors[0])):
        truth = shapely.LineString(xy(exact_image(ring, datum)))
        assert float(shapely.distance(shapely.points(shapely.get_coordinates(truth)), converted).max()) < CM
        assert float(shapely.distance(shapely.points(shapely.get_coordinates(converted)), truth).max()) < CM
    # Densified every 25 m, then simplified back: a 6 km edge keeps some vertices, not 240.
    assert len(zone.shape.exterior.coords) < 4 * (25 if datum == "GCJ-02" else 80)
    assert zone.margin_m == 30 and zone.id == "prison"


def test_a_converted_document_is_stored_as_wgs84_and_reads_back_the_same() -> None:
    doc = gcj_document()
    zones = parse_zones(doc)
    stored = [wgs84_feature(f, z) for f, z in zip(doc["features"], zones, strict=True)]
    again = parse_zones(json.loads(json.dumps({"type": "FeatureCollection", "features": stored})))
    for a, b in zip(zones, again, strict=True):
        assert a.shape.equals_exact(b.shape, 1e-12) and a.radius_m == b.radius_m
    circle = again[1]
    assert circle.radius_m is not None and circle.radius_m > 500
    assert 450 < metres((circle.shape.x, circle.shape.y), (114.45, 36.09)) < 620
    assert Point(stored[0]["geometry"]["coordinates"][0][0]).x != GCJ_OUTER[0][0]


def test_declared_and_given_datums_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(gcj_document()), encoding="utf-8")
    assert load_zones(path, datum="GCJ-02")[0].shape.equals(load_zones(path)[0].shape)
    with pytest.raises(ZoneFormatError, match="declares datum 'GCJ-02', but 'BD-09' was given"):
        load_zones(path, datum="BD-09")
    undeclared = tmp_path / "plain.geojson"
    undeclared.write_text(json.dumps(gcj_document(None)), encoding="utf-8")
    given = load_zones(undeclared, datum="GCJ-02")[0]
    assert given.shape.equals_exact(load_zones(path)[0].shape, 1e-12)


def test_an_unknown_datum_member_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ZoneFormatError) as info:
        parse_zones(gcj_document("EPSG:4326"))
    assert info.value.feature == "$"
    assert "unknown datum 'EPSG:4326'" in str(info.value)
    for name in DATUMS:
        assert name in str(info.value)


def one_zone(datum: str, ring: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "datum": datum,
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"id": "z"},
            }
        ],
    }


def test_a_zone_too_long_to_convert_within_the_vertex_limit_is_refused() -> None:
    # 150 km a side in BD-09, whose offset wiggles 40 m every 11 km: a vertex every 50 m or so.
    ring = [(113.0, 30.0), (114.5, 30.0), (114.5, 31.5), (113.0, 31.5), (113.0, 30.0)]
    with pytest.raises(ZoneFormatError, match=f"more than {MAX_ZONE_VERTICES}: split the zone"):
        parse_zones(one_zone("BD-09", ring))
    assert len(parse_zones(one_zone("GCJ-02", ring))[0].shape.exterior.coords) < MAX_ZONE_VERTICES


def test_outlines_too_long_to_densify_are_refused_before_converting() -> None:
    ring = [(110.0, 30.0), (114.9, 30.0), (114.9, 34.9), (110.0, 34.9), (110.0, 30.0)]  # 2,100 km
    doc = one_zone("GCJ-02", ring)
    doc["features"] = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"id": f"z{i}"},
        }
        for i in range(30)
    ]
    with pytest.raises(ZoneFormatError, match="too long to convert from GCJ-02"):
        parse_zones(doc)


def test_wgs84_features_of_a_wgs84_document_are_the_features_read() -> None:
    """What serve and the demo store for an undeclared file is what the file says."""
    doc = json.loads((Path(__file__).parent.parent / "examples" / "anyang" / "zones.geojson").read_text())
    for feature, zone in zip(doc["features"], parse_zones(doc), strict=True):
        assert wgs84_feature(feature, zone) == feature


def test_a_datum_on_a_feature_is_refused_not_ignored() -> None:
    doc = gcj_document(None)
    doc["features"][0]["datum"] = "GCJ-02"
    with pytest.raises(ZoneFormatError, match="member of the FeatureCollection, not of a feature"):
        parse_zones(doc)
