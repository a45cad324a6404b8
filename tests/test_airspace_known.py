"""Known-answer tests for exact paths: detours with analytic lengths, bands, validity windows."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from airspace import Airspace, AirspaceError, LocalFrame, load_zones, parse_zones

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
FRAME = LocalFrame.centred_on(114.39, 36.10)


def lonlat(x: float, y: float) -> tuple[float, float]:
    """A lon/lat point from metres in the test frame."""
    lon, lat = FRAME.to_lonlat(x, y)
    return float(lon), float(lat)


def square_feature(zid: str, cx: float, cy: float, half: float, **props: object) -> dict:
    ring = [lonlat(cx - half, cy - half), lonlat(cx + half, cy - half), lonlat(cx + half, cy + half)]
    ring += [lonlat(cx - half, cy + half), ring[0]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        "properties": {"id": zid, **props},
    }


def circle_feature(zid: str, cx: float, cy: float, radius: float, **props: object) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(lonlat(cx, cy))},
        "properties": {"id": zid, "radius_m": radius, **props},
    }


def airspace(*features: dict, segments: int = 32) -> Airspace:
    zones = parse_zones({"type": "FeatureCollection", "features": list(features)}, source="test")
    return Airspace(zones, FRAME, circle_segments=segments)


def test_unobstructed_path_is_the_straight_line() -> None:
    space = airspace(square_feature("far", 0, 5000, 100))
    path = space.shortest_path(lonlat(-1000, 0), lonlat(1000, 0), altitude_m=120, at=AT)
    assert path.length_m == pytest.approx(2000, rel=1e-9)
    assert len(path.waypoints) == 2


def xy_of(point: tuple[float, float]) -> tuple[float, float]:
    x, y = FRAME.to_xy(*point)
    return float(x), float(y)


def path_xy(path) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    return [xy_of(p) for p in path.waypoints]


def rounded_square_detour(h: float, m: float, length: float) -> float:
    """Exact shortest path from (-L, 0) to (L, 0) around a square of half-side h grown by a round margin m."""
    corner = np.array([-h, h])
    a = np.array([-length, 0.0])
    dist = float(np.hypot(*(a - corner)))
    beta = math.acos(m / dist)
    base = math.atan2(*(a - corner)[::-1])
    # the upper of the two tangent points, and the arc from it to the top of the corner circle
    angle = max(base + beta, base - beta, key=lambda t: math.sin(t))
    arc = angle % (2 * math.pi) - math.pi / 2
    return 2 * (math.sqrt(dist**2 - m**2) + m * arc) + 2 * h


def circle_detour(rho: float, length: float) -> float:
    """Exact shortest path from (-L, 0) to (L, 0) around a disc of radius rho."""
    return 2 * math.sqrt(length**2 - rho**2) + rho * (math.pi - 2 * math.acos(rho / length))


def test_detour_around_a_square_without_margin_is_exact() -> None:
    space = airspace(square_feature("sq", 0, 0, 300, margin_m=0))
    path = space.shortest_path(lonlat(-1000, 0), lonlat(1000, 0), altitude_m=120, at=AT)
    # lon/lat-straight edges bend by millimetres in the frame: the obstacle grows by that slack
    slack = space._footprint(0).edge_slack_m
    assert 0 < slack < 0.01
    exact = 2 * math.hypot(700, 300) + 600
    assert exact <= path.length_m <= exact + 4 * slack / math.cos(math.pi / 32)
    xs = path_xy(path)
    assert len(xs) > 3
    assert all(abs(y) >= 300 for _, y in xs[1:-1])


def test_detour_around_a_square_with_margin_is_between_the_round_and_the_outside_bounds() -> None:
    h, m, length, n = 300.0, 25.0, 1000.0, 32
    space = airspace(square_feature("sq", 0, 0, h, margin_m=m), segments=n)
    path = space.shortest_path(lonlat(-length, 0), lonlat(length, 0), altitude_m=120, at=AT)
    exact = rounded_square_detour(h, m, length)
    outer = rounded_square_detour(h, m / math.cos(math.pi / n), length)
    assert exact - 1e-6 <= path.length_m <= outer + 1e-6
    assert path.length_m == pytest.approx(exact, rel=1e-4)


@pytest.mark.parametrize("segments", [8, 32, 64])
def test_detour_around_a_circle_matches_the_analytic_length(segments: int) -> None:
    r, m, length = 250.0, 40.0, 1500.0
    space = airspace(circle_feature("c", 0, 0, r, margin_m=m), segments=segments)
    path = space.shortest_path(lonlat(-length, 0), lonlat(length, 0), altitude_m=120, at=AT)
    exact = circle_detour(r + m, length)
    outer = circle_detour((r + m) / math.cos(math.pi / segments), length)
    assert exact - 1e-6 <= path.length_m <= outer + 1e-6
    for x, y in path_xy(path)[1:-1]:
        assert math.hypot(x, y) >= r + m - 1e-6


def ring_zone(zid: str, outer: float, inner: float, **props: object) -> dict:
    def square(h: float) -> list[list[float]]:
        pts = [lonlat(-h, -h), lonlat(h, -h), lonlat(h, h), lonlat(-h, h)]
        return [list(p) for p in [*pts, pts[0]]]

    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [square(outer), square(inner)[::-1]]},
        "properties": {"id": zid, **props},
    }


def test_courtyard_inside_a_ring_zone_is_unreachable_from_outside() -> None:
    space = airspace(ring_zone("ring", 500, 300, margin_m=25))
    inside, also_inside, outside = lonlat(0, 0), lonlat(100, 50), lonlat(2000, 0)
    with pytest.raises(AirspaceError) as info:
        space.shortest_path(outside, inside, altitude_m=120, at=AT)
    assert info.value.code == "unreachable" and info.value.zone_id == "ring"
    assert info.value.point == inside
    matrix = space.distance_matrix([inside, also_inside, outside], altitude_m=120, at=AT)
    assert matrix.lengths_m[0, 1] == pytest.approx(math.hypot(100, 50), rel=1e-9)
    assert np.isinf(matrix.lengths_m[0, 2]) and np.isinf(matrix.lengths_m[2, 1])
    assert set(matrix.point_errors) == {0, 1}
    assert all(e.code == "unreachable" for e in matrix.point_errors.values())
    # inside the courtyard, paths still work
    assert space.shortest_path(inside, also_inside, altitude_m=120, at=AT).length_m > 0


def test_courtyard_is_reachable_when_the_zone_is_not_active_at_that_altitude() -> None:
    space = airspace(ring_zone("ring", 500, 300, margin_m=25, floor_m=200))
    path = space.shortest_path(lonlat(2000, 0), lonlat(0, 0), altitude_m=120, at=AT)
    assert path.length_m == pytest.approx(2000, rel=1e-9)


def test_altitude_bands_block_the_cruise_or_only_the_pads() -> None:
    above = square_feature("above", 0, 0, 300, floor_m=150)
    below = square_feature("below", 0, 3000, 300, ceiling_m=80)
    band = square_feature("band", 0, 6000, 300, floor_m=100, ceiling_m=200)
    space = airspace(above, below, band)
    straight = 2000.0
    for cy, blocks_cruise in ((0, False), (3000, False), (6000, True)):
        path = space.shortest_path(lonlat(-1000, cy), lonlat(1000, cy), altitude_m=120, at=AT)
        assert (path.length_m > straight + 1) is blocks_cruise
    # pads: a zone above the cruise never blocks them; one at or below the cruise does
    space.check_point(lonlat(0, 0), altitude_m=120, at=AT)
    for cy, zone_id in ((3000, "below"), (6000, "band")):
        with pytest.raises(AirspaceError) as info:
            space.check_point(lonlat(0, cy), altitude_m=120, at=AT)
        assert (info.value.code, info.value.zone_id) == ("point_in_zone", zone_id)
    # a pad just outside the crane's footprint (inside its margin) may take off
    space.check_point(lonlat(310, 3000), altitude_m=120, at=AT)
    assert {z.id for z in space.active_zones(120, AT)} == {"band"}
    assert {z.id for z in space.active_zones(160, AT)} == {"above", "band"}


def test_temporary_zone_blocks_only_inside_its_validity_window() -> None:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    end = start + timedelta(hours=4)
    space = airspace(
        circle_feature("festival", 0, 0, 300, valid_from=start.isoformat(), valid_to=end.isoformat())
    )
    a, b = lonlat(-1000, 0), lonlat(1000, 0)

    def length(at: datetime, until: datetime | None = None) -> float:
        return space.shortest_path(a, b, altitude_m=120, at=at, until=until).length_m

    assert length(start - timedelta(seconds=1)) == pytest.approx(2000)
    assert length(start) > 2000 + 100
    assert length(end - timedelta(seconds=1)) > 2000 + 100
    assert length(end) == pytest.approx(2000)
    # interval queries: conservative over [at, until]
    assert length(start - timedelta(hours=1), until=start) > 2000 + 100
    assert length(start - timedelta(hours=1), until=start - timedelta(seconds=1)) == pytest.approx(2000)
    assert [
        z.id for z in space.active_zones_during(120, end - timedelta(hours=1), end + timedelta(hours=1))
    ] == ["festival"]
    assert space.active_zones_during(120, end, end + timedelta(hours=1)) == []


def test_point_in_zone_is_reported_with_the_zone() -> None:
    space = airspace(circle_feature("heli", 0, 0, 200))
    with pytest.raises(AirspaceError) as info:
        space.shortest_path(lonlat(0, 100), lonlat(1000, 1000), altitude_m=120, at=AT)
    assert (info.value.code, info.value.zone_id) == ("point_in_zone", "heli")
    matrix = space.distance_matrix([lonlat(0, 100), lonlat(1000, 0), lonlat(-1000, 0)], altitude_m=120, at=AT)
    assert list(matrix.point_errors) == [0] and matrix.point_errors[0].zone_id == "heli"
    assert np.isinf(matrix.lengths_m[0]).all() and np.isinf(matrix.lengths_m[:, 0]).all()
    assert np.isfinite(matrix.lengths_m[1:, 1:]).all()
    with pytest.raises(AirspaceError):
        matrix.path(0, 1)


def footprint_distance(space: Airspace, zone_id: str, point: tuple[float, float]) -> float:
    zone = next(z for z in space.zones if z.id == zone_id)
    fp = space._footprint(space.zones.index(zone))
    return float(fp.distance(Point(point)))


def segment_clearance(space: Airspace, zone_id: str, a: tuple[float, float], b: tuple[float, float]) -> float:
    zone = next(z for z in space.zones if z.id == zone_id)
    fp = space._footprint(space.zones.index(zone))
    return float(fp.distance(LineString([a, b])))


def test_pad_inside_the_margin_band_can_take_off_and_keeps_away_from_the_zone() -> None:
    # a long wall 1000 x 200 m, margin 50; the pad sits 10 m below its bottom edge
    wall = square_feature("wall", 0, 0, 100, margin_m=50)
    wall["geometry"]["coordinates"] = [
        [list(lonlat(x, y)) for x, y in [(-500, -100), (500, -100), (500, 100), (-500, 100), (-500, -100)]]
    ]
    space = airspace(wall)
    pad = lonlat(0, -110)
    targets = [lonlat(0, -2000), lonlat(0, 2000), lonlat(3000, -110), lonlat(-3000, 500)]
    for target in targets:
        path = space.shortest_path(pad, target, altitude_m=120, at=AT)
        pts = path_xy(path)
        # the first leg never gets closer than the pad's own clearance (10 m to the chord; the
        # wall's edge as written bows 1.5 cm towards the pad)
        own = footprint_distance(space, "wall", pts[0])
        assert 9.9 < own <= 10
        assert segment_clearance(space, "wall", pts[0], pts[1]) >= own - 1e-5
        # every later leg keeps the full margin
        for a, b in itertools.pairwise(pts[1:]):
            assert segment_clearance(space, "wall", a, b) >= 50 - 1e-5
        back = space.shortest_path(target, pad, altitude_m=120, at=AT)
        assert back.length_m == pytest.approx(path.length_m, rel=1e-9)
    # straight away from the wall: the straight line
    away = space.shortest_path(pad, targets[0], altitude_m=120, at=AT)
    assert away.length_m == pytest.approx(1890, rel=1e-9)


def test_first_leg_may_not_reenter_the_band_further_on() -> None:
    # U-shaped zone: the pad is in the band of the left arm; the straight line to a point beyond
    # the right arm passes that arm at less than the margin, so the path must go around it.
    arms = [(-300, 0), (300, 0), (300, 600), (200, 600), (200, 100), (-200, 100), (-200, 600), (-300, 600)]
    u_zone = square_feature("u", 0, 0, 1, margin_m=40)
    u_zone["geometry"]["coordinates"] = [[list(lonlat(x, y)) for x, y in [*arms, arms[0]]]]
    space = airspace(u_zone)
    pad = lonlat(-190, 500)  # 10 m right of the left arm's inner edge, inside the U
    target = lonlat(400, 640)  # right of the right arm's top, outside its band
    path = space.shortest_path(pad, target, altitude_m=120, at=AT)
    pts = path_xy(path)
    assert len(pts) > 2
    assert segment_clearance(space, "u", pts[0], pts[1]) >= 10 - 1e-5
    for a, b in itertools.pairwise(pts[1:]):
        assert segment_clearance(space, "u", a, b) >= 40 - 1e-5


def test_buffered_shapes_contain_the_true_margin_region() -> None:
    sharp = square_feature("sharp", 0, 0, 1, margin_m=30)
    sharp["geometry"]["coordinates"] = [
        [list(lonlat(x, y)) for x, y in [(0, 0), (400, 20), (0, 40), (150, 20), (0, 0)]]
    ]
    space = airspace(sharp, circle_feature("disc", 2000, 0, 120, margin_m=25), segments=8)
    for zone in space.zones:
        k = space.zones.index(zone)
        true_region = space._footprint(k).geometry.buffer(
            zone.margin_m + space._footprint(k).radius_m, quad_segs=256
        )
        shape = space.buffered_shape(zone.id)
        # the true offset curve (densely sampled) is inside the outside-approximated shape
        assert shape.buffer(1e-9).contains(true_region)
        # and the approximation is tight: no point of it is farther than margin/cos(pi/8)
        dist = space._footprint(k).distance(MultiPoint(np.asarray(shape.exterior.coords)).geoms)
        radius = space._footprint(k).radius_m
        grown = zone.margin_m + space._footprint(k).edge_slack_m
        assert dist.max() <= (radius + grown) / math.cos(math.pi / 8) - radius + 1e-6


def test_overlapping_zones_are_merged_into_one_obstacle() -> None:
    # two overlapping squares without margin form one L-shaped obstacle; the corner where they
    # meet (inside the union) must not be used as a waypoint
    space = airspace(
        square_feature("a", 0, 0, 200, margin_m=0),
        square_feature("b", 300, 300, 200, margin_m=0),
        segments=32,
    )
    a, b = lonlat(-1000, 100), lonlat(1500, 100)
    path = space.shortest_path(a, b, altitude_m=120, at=AT)
    pts = path_xy(path)
    union = space.buffered_shape("a").union(space.buffered_shape("b"))
    # Without a margin the path hugs the corners: it may graze the outline by floating-point noise
    # (micrometres, depending on where the frame sits), never by a millimetre.
    inner = union.buffer(-1e-3)
    for p, q in itertools.pairwise(pts):
        assert not LineString([p, q]).relate_pattern(inner, "T********")
    # the bottom way round: (-1000, 100) -> (-200, -200) -> (200, -200) -> (1500, 100)
    exact = math.hypot(800, 300) + 400 + math.hypot(1300, 300)
    slack = max(space._footprint(k).edge_slack_m for k in range(2))
    assert exact <= path.length_m <= exact + 6 * slack


def test_multipolygon_zone_blocks_with_every_part() -> None:
    left = square_feature("m", -500, 0, 100, margin_m=10)["geometry"]["coordinates"]
    right = square_feature("m", 500, 0, 100, margin_m=10)["geometry"]["coordinates"]
    feature = {
        "type": "Feature",
        "geometry": {"type": "MultiPolygon", "coordinates": [left, right]},
        "properties": {"id": "m", "margin_m": 10},
    }
    space = airspace(feature)
    for cx in (-500, 500):
        path = space.shortest_path(lonlat(cx, -1000), lonlat(cx, 1000), altitude_m=120, at=AT)
        assert path.length_m > 2000 + 1
        with pytest.raises(AirspaceError):
            space.check_point(lonlat(cx, 0), altitude_m=120, at=AT)
    free = space.shortest_path(lonlat(0, -1000), lonlat(0, 1000), altitude_m=120, at=AT)
    assert free.length_m == pytest.approx(2000, rel=1e-9)


def test_interval_matrix_is_conservative_and_cached_per_zone_set() -> None:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    space = airspace(
        circle_feature(
            "tmp", 0, 0, 300, valid_from=start.isoformat(), valid_to=(start + timedelta(hours=1)).isoformat()
        )
    )
    points = [lonlat(-1000, 0), lonlat(1000, 0), lonlat(0, 1000)]
    before = space.distance_matrix(points, altitude_m=120, at=start - timedelta(hours=2))
    horizon = space.distance_matrix(points, altitude_m=120, at=start - timedelta(hours=2), until=start)
    assert before.lengths_m[0, 1] == pytest.approx(2000)
    assert horizon.lengths_m[0, 1] > 2000 + 100
    assert before.graph_pairs == 0 and horizon.graph_pairs == 1
    # same zone set and points: the very same (read-only) matrix comes back
    again = space.distance_matrix(points, altitude_m=120, at=start + timedelta(minutes=30))
    assert again is horizon
    with pytest.raises(ValueError):
        again.lengths_m[0, 1] = 0.0


def test_points_outside_the_service_area_are_refused() -> None:
    space = airspace(circle_feature("c", 0, 0, 100))
    with pytest.raises(ValueError, match="outside the service area"):
        space.distance_matrix([lonlat(0, 0), (129.07, 35.18)], altitude_m=120, at=AT)  # Busan
    with pytest.raises(ValueError, match="timezone-aware"):
        space.shortest_path(lonlat(-500, 0), lonlat(500, 0), altitude_m=120, at=datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="altitude_m"):
        space.shortest_path(lonlat(-500, 0), lonlat(500, 0), altitude_m=math.nan, at=AT)


def test_courtyard_formed_by_several_zones_names_them_all() -> None:
    bars = [
        square_feature("south", 0, -400, 1, margin_m=20),
        square_feature("north", 0, 400, 1, margin_m=20),
        square_feature("west", -400, 0, 1, margin_m=20),
        square_feature("east", 400, 0, 1, margin_m=20),
    ]
    boxes = {"south": (-500, -500, 500, -300), "north": (-500, 300, 500, 500)}
    boxes |= {"west": (-500, -500, -300, 500), "east": (300, -500, 500, 500)}
    for bar in bars:
        x0, y0, x1, y1 = boxes[bar["properties"]["id"]]
        ring = [lonlat(x0, y0), lonlat(x1, y0), lonlat(x1, y1), lonlat(x0, y1), lonlat(x0, y0)]
        bar["geometry"]["coordinates"] = [[list(p) for p in ring]]
    space = airspace(*bars)
    matrix = space.distance_matrix([lonlat(0, 0), lonlat(2000, 0)], altitude_m=120, at=AT)
    err = matrix.point_errors[0]
    assert err.code == "unreachable" and err.zone_id is None
    assert all(name in str(err) for name in ("south", "north", "west", "east"))
    assert np.isinf(matrix.lengths_m[0, 1])


def test_pad_in_a_courtyard_closed_by_the_margin_is_unreachable_and_named() -> None:
    # the hole (40 m across) is narrower than twice the margin: the courtyard is all margin band
    space = airspace(ring_zone("ring", 300, 20, margin_m=25))
    inside = lonlat(0, 0)
    for a, b in ((lonlat(1000, 0), inside), (inside, lonlat(1000, 0))):
        with pytest.raises(AirspaceError) as info:
            space.shortest_path(a, b, altitude_m=120, at=AT)
        assert (info.value.code, info.value.zone_id, info.value.point) == ("unreachable", "ring", inside)


def test_sample_area_paths_keep_every_margin(anyang_dir: Path) -> None:
    zones = load_zones(anyang_dir / "zones.geojson")
    pads = json.loads((anyang_dir / "pads.json").read_text(encoding="utf-8"))
    points = [(p["lon"], p["lat"]) for p in pads.values()]
    at = datetime.fromisoformat("2026-12-01T12:00:00+08:00")
    space = Airspace(zones)
    matrix = space.distance_matrix(points, altitude_m=120, at=at)
    cruise = space.active_zones(120, at)
    assert {z.id for z in cruise} >= {"sports-centre-event", "hospital-helipad"}
    assert "tower-crane" not in {z.id for z in cruise} and "airfield-approach" not in {z.id for z in cruise}
    frame = space.frame
    assert frame is not None
    checked = 0
    for i, j in itertools.combinations(range(len(points)), 2):
        if not np.isfinite(matrix.lengths_m[i, j]):
            assert i in matrix.point_errors or j in matrix.point_errors
            continue
        path = matrix.path(i, j)
        xy = frame.points_to_xy(path.waypoints)
        assert path.length_m >= frame.distance_m(points[i], points[j]) - 1e-6
        for zone in cruise:
            fp = space._footprint(space.zones.index(zone))
            for k in range(len(xy) - 1):
                leg = LineString([xy[k], xy[k + 1]])
                own = [
                    float(fp.distance(Point(xy[e]))) for e in (0, -1) if k == (0 if e == 0 else len(xy) - 2)
                ]
                need = min([zone.margin_m, *own])
                assert float(fp.distance(leg)) >= need - 1e-5
        checked += 1
    assert checked > 50


def test_long_lonlat_edges_are_covered_as_written() -> None:
    # a 17 km wide zone: its south edge, straight in lon/lat (a parallel), bows metres south of
    # the chord between its projected ends, so the zone as written reaches beyond the chord
    lons, lat_s, lat_n = (114.29, 114.49), 36.11, 36.16
    ring = [[lons[0], lat_s], [lons[1], lat_s], [lons[1], lat_n], [lons[0], lat_n], [lons[0], lat_s]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"id": "wide"},
    }
    space = airspace(feature)
    true_mid = np.array(FRAME.to_xy(114.39, lat_s))
    chord_mid = (np.array(FRAME.to_xy(lons[0], lat_s)) + np.array(FRAME.to_xy(lons[1], lat_s))) / 2
    assert true_mid[1] < chord_mid[1] - 1.0  # metres: not negligible
    # a pad between the chord and the edge as written lies inside the zone, though not inside
    # the projected polygon
    between = FRAME.to_lonlat(*((true_mid + chord_mid) / 2))
    assert not space._footprint(0).geometry.intersects(Point(FRAME.to_xy(*between)))
    with pytest.raises(AirspaceError) as info:
        space.check_point(between, altitude_m=120, at=AT)
    assert info.value.zone_id == "wide"
    # the obstacle contains the zone as written (densified in lon/lat), grown by its margin
    dense = np.array(Polygon(ring).segmentize(0.001).exterior.coords)
    written = Polygon(np.column_stack(FRAME.to_xy(dense[:, 0], dense[:, 1])))
    assert space.buffered_shape("wide").contains(written.buffer(25.0 - 1e-3, quad_segs=64))


def test_path_inside_an_l_shaped_courtyard_bends_at_its_inner_corner() -> None:
    outer = [(-1000, -1000), (1000, -1000), (1000, 1000), (-1000, 1000)]
    hole = [(-400, -400), (400, -400), (400, -200), (-200, -200), (-200, 400), (-400, 400)]
    rings = [[list(lonlat(x, y)) for x, y in [*r, r[0]]] for r in (outer, hole[::-1])]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": rings},
        "properties": {"id": "l"},
    }
    space = airspace({**feature, "properties": {"id": "l", "margin_m": 0}})
    a, b = lonlat(300, -300), lonlat(-300, 300)
    path = space.shortest_path(a, b, altitude_m=120, at=AT)
    exact = 2 * math.hypot(500, 100)
    assert exact <= path.length_m <= exact + 0.05
    corner = path_xy(path)[1]
    assert math.dist(corner, (-200, -200)) < 0.05
    with pytest.raises(AirspaceError) as info:
        space.shortest_path(a, lonlat(2000, 0), altitude_m=120, at=AT)
    assert info.value.code == "unreachable"
