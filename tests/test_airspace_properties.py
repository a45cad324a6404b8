"""Property tests on random zone sets: margins kept, never shorter than straight, exact vs brute force.

Tolerances: a path may dip at most 1 micrometre into an outside-approximated obstacle (the
epsilon policy of airspace.visibility); lon/lat round trips add nanometres. Margins are therefore
checked against the true shapes with a tolerance of 1e-5 m, lengths against brute force to 1e-6
relative.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import shapely
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import shortest_path
from shapely.geometry import LineString, Point, Polygon

from airspace import Airspace, AirspaceError, LocalFrame, Zone
from airspace.obstacles import footprint_in_frame

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
FRAME = LocalFrame.centred_on(114.39, 36.11)
SEGMENTS = 8  # coarse circles keep the brute force small; the safety argument does not depend on it
MARGIN_TOL_M = 1e-5
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def zone_specs(draw: st.DrawFn) -> list[dict]:
    """Random circles and star-shaped polygons (simple by construction) in metres."""
    specs = []
    for k in range(draw(st.integers(1, 5))):
        cx = draw(st.floats(-900, 900))
        cy = draw(st.floats(-900, 900))
        size = draw(st.floats(60, 450))
        margin = draw(st.sampled_from([0.0, 10.0, 25.0, 40.0]))
        if draw(st.booleans()):
            specs.append({"id": f"c{k}", "centre": (cx, cy), "radius": size, "margin": margin})
            continue
        m = draw(st.integers(3, 7))
        jitter = draw(st.lists(st.floats(-0.3, 0.3), min_size=m, max_size=m))
        angles = [(k + j) * 2 * math.pi / m for k, j in enumerate(jitter)]
        radii = draw(st.lists(st.floats(0.35, 1.0), min_size=m, max_size=m))
        pts = [
            (cx + size * r * math.cos(t), cy + size * r * math.sin(t))
            for t, r in zip(angles, radii, strict=True)
        ]
        specs.append({"id": f"p{k}", "polygon": pts, "margin": margin})
    return specs


def to_zone(spec: dict) -> Zone:
    if "radius" in spec:
        lon, lat = FRAME.to_lonlat(*spec["centre"])
        return Zone(spec["id"], "no_fly", Point(lon, lat), spec["radius"], margin_m=spec["margin"])
    lonlat = [FRAME.to_lonlat(x, y) for x, y in spec["polygon"]]
    return Zone(spec["id"], "no_fly", Polygon(lonlat), None, margin_m=spec["margin"])


def true_shape(spec: dict) -> tuple[shapely.Geometry, float]:
    """The footprint in metres (re-projected from the zone's lon/lat, as the test sees it) and radius."""
    zone = to_zone(spec)
    if "radius" in spec:
        return Point(FRAME.to_xy(zone.shape.x, zone.shape.y)), spec["radius"]
    coords = np.asarray(zone.shape.exterior.coords)
    return Polygon(np.column_stack(FRAME.to_xy(coords[:, 0], coords[:, 1]))), 0.0


def clearance(spec: dict, a: tuple[float, float], b: tuple[float, float]) -> float:
    shape, radius = true_shape(spec)
    return shape.distance(LineString([a, b])) - radius


def approximation_slack(spec: dict) -> float:
    """How far the outside-approximated obstacle may reach beyond the true footprint."""
    radius = spec.get("radius", 0.0)
    grown = spec["margin"] + footprint_in_frame(to_zone(spec), FRAME).edge_slack_m
    return (radius + grown) / math.cos(math.pi / SEGMENTS) - radius


def xy(lonlat: tuple[float, float]) -> tuple[float, float]:
    x, y = FRAME.to_xy(*lonlat)
    return float(x), float(y)


point = st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000))


@st.composite
def endpoint_pairs(draw: st.DrawFn) -> tuple[tuple[float, float], tuple[float, float]]:
    """Mostly pairs on opposite sides of the zone cluster, so that most legs need a detour."""
    a = draw(point)
    if draw(st.integers(0, 3)) == 0:
        return a, draw(point)
    dx, dy = draw(st.floats(-400, 400)), draw(st.floats(-400, 400))
    return a, (-a[0] + dx, -a[1] + dy)


def brute_force_length(space: Airspace, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Shortest path over ALL vertices of the buffered shapes; edges tested with exact DE-9IM."""
    if math.dist(a, b) < 1e-9:
        return math.dist(a, b)
    shapes = [space.buffered_shape(z.id) for z in space.zones]
    verts = [a, b]
    for s in shapes:
        for part in shapely.get_parts(s):
            for ring in (part.exterior, *part.interiors):
                verts.extend(map(tuple, np.asarray(ring.coords)[:-1]))
    pts = np.array(verts)
    n = len(pts)
    graph = np.full((n, n), np.inf)
    for i, j in itertools.combinations(range(n), 2):
        seg = LineString([pts[i], pts[j]])
        if seg.length == 0:
            continue
        # interiors must not meet (touching the boundary is allowed)
        if not any(shapely.relate_pattern(seg, s, "T********") for s in shapes):
            graph[i, j] = graph[j, i] = seg.length
    return float(shortest_path(graph, directed=False, indices=0)[1])


def outside_all(space: Airspace, p: tuple[float, float]) -> bool:
    return not any(space.buffered_shape(z.id).buffer(1e-3).contains(Point(p)) for z in space.zones)


@PROPS
@given(zone_specs(), endpoint_pairs())
def test_paths_keep_the_margin_and_match_brute_force(specs: list[dict], ends: tuple) -> None:
    a, b = ends
    zones = [to_zone(s) for s in specs]
    space = Airspace(zones, FRAME, circle_segments=SEGMENTS)
    la, lb = FRAME.to_lonlat(*a), FRAME.to_lonlat(*b)
    a, b = xy(la), xy(lb)  # what the airspace sees, after the lon/lat round trip
    assume(outside_all(space, a) and outside_all(space, b))
    straight = math.dist(a, b)
    try:
        path = space.shortest_path(la, lb, altitude_m=120, at=AT)
    except AirspaceError as exc:
        assert exc.code == "unreachable"
        assert math.isinf(brute_force_length(space, a, b))
        return
    pts = [xy(p) for p in path.waypoints]
    for spec in specs:
        for p, q in itertools.pairwise(pts):
            assert clearance(spec, p, q) >= spec["margin"] - MARGIN_TOL_M
    assert path.length_m >= straight - 1e-6
    assert math.isclose(path.length_m, sum(math.dist(p, q) for p, q in itertools.pairwise(pts)), abs_tol=1e-6)
    event("detour" if path.length_m > straight + 1e-3 else "straight")
    brute = brute_force_length(space, a, b)
    assert math.isclose(path.length_m, brute, rel_tol=1e-6, abs_tol=1e-6), (path.length_m, brute)
    if all(clearance(spec, a, b) >= approximation_slack(spec) + 1e-6 for spec in specs):
        assert math.isclose(path.length_m, straight, abs_tol=1e-6)


@settings(max_examples=40, deadline=None)
@given(zone_specs(), st.lists(point, min_size=2, max_size=7))
def test_distance_matrix_agrees_with_per_pair_paths(specs: list[dict], points: list) -> None:
    zones = [to_zone(s) for s in specs]
    lonlats = [FRAME.to_lonlat(*p) for p in points]
    matrix = Airspace(zones, FRAME, circle_segments=SEGMENTS).distance_matrix(lonlats, altitude_m=120, at=AT)
    fresh = Airspace(zones, FRAME, circle_segments=SEGMENTS)
    assert np.array_equal(matrix.lengths_m, matrix.lengths_m.T)
    for i, j in itertools.combinations(range(len(points)), 2):
        try:
            length = fresh.shortest_path(lonlats[i], lonlats[j], altitude_m=120, at=AT).length_m
        except AirspaceError as exc:
            assert math.isinf(matrix.lengths_m[i, j])
            if exc.code == "point_in_zone":
                assert matrix.point_errors[i if exc.point == lonlats[i] else j].zone_id == exc.zone_id
            continue
        assert math.isclose(matrix.lengths_m[i, j], length, rel_tol=1e-9)
        assert math.isclose(matrix.path(i, j).length_m, length, rel_tol=1e-9)
    for i, lonlat in enumerate(lonlats):
        gaps = [true_shape(s)[0].distance(Point(xy(lonlat))) - true_shape(s)[1] for s in specs]
        if min(abs(g) for g in gaps) < 1e-6:
            continue  # on a boundary up to rounding: either answer is right
        in_zone = i in matrix.point_errors and matrix.point_errors[i].code == "point_in_zone"
        assert in_zone == any(g < 0 for g in gaps)


def near_zone(data: st.DataObject, specs: list[dict]) -> tuple[float, float]:
    """A point just outside a zone, often inside its margin band."""
    spec = data.draw(st.sampled_from(specs))
    gap = data.draw(st.floats(0.5, 60))
    if "radius" in spec:
        t = data.draw(st.floats(0, 2 * math.pi))
        r = spec["radius"] + gap
        return spec["centre"][0] + r * math.cos(t), spec["centre"][1] + r * math.sin(t)
    shape, _ = true_shape(spec)
    on = shape.exterior.interpolate(data.draw(st.floats(0, 1)), normalized=True)
    centre = shape.centroid
    d = np.array([on.x - centre.x, on.y - centre.y])
    d /= max(float(np.hypot(*d)), 1e-9)
    return on.x + gap * d[0], on.y + gap * d[1]


@settings(max_examples=80, deadline=None)
@given(zone_specs(), st.data())
def test_pads_near_zones_keep_their_own_clearance_then_the_margin(
    specs: list[dict], data: st.DataObject
) -> None:
    """Pads may be inside a margin band: first/last legs keep the pad's clearance, the rest the margin."""
    zones = [to_zone(s) for s in specs]
    space = Airspace(zones, FRAME, circle_segments=SEGMENTS)
    start = near_zone(data, specs)
    end = data.draw(st.one_of(st.just(None), point))
    la = FRAME.to_lonlat(*start)
    lb = FRAME.to_lonlat(*(end if end is not None else near_zone(data, specs)))
    a, b = xy(la), xy(lb)
    own = {
        end: {s["id"]: true_shape(s)[0].distance(Point(end)) - true_shape(s)[1] for s in specs}
        for end in (a, b)
    }
    assume(all(c > 1e-3 for clearances in own.values() for c in clearances.values()))
    in_band = any(own[a][s["id"]] < s["margin"] for s in specs)
    event("start in a band" if in_band else "start outside the bands")
    try:
        path = space.shortest_path(la, lb, altitude_m=120, at=AT)
    except AirspaceError as exc:
        assert exc.code == "unreachable"
        event("unreachable")
        return
    pts = [xy(p) for p in path.waypoints]
    legs = list(itertools.pairwise(pts))
    for spec in specs:
        for k, (p, q) in enumerate(legs):
            need = spec["margin"]
            if k == 0:
                need = min(need, own[a][spec["id"]])
            if k == len(legs) - 1:
                need = min(need, own[b][spec["id"]])
            assert clearance(spec, p, q) >= need - MARGIN_TOL_M
            assert not enters(spec, p, q)
    assert path.length_m >= math.dist(a, b) - 1e-6


def enters(spec: dict, a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether the leg a-b enters the interior of the zone's true footprint."""
    shape, radius = true_shape(spec)
    if radius:
        return shape.distance(LineString([a, b])) < radius - MARGIN_TOL_M
    return bool(shapely.relate_pattern(LineString([a, b]), shape, "T********"))


@settings(max_examples=25, deadline=None)
@given(zone_specs(), st.lists(point, min_size=2, max_size=5), st.data())
def test_interval_matrices_are_never_shorter_than_at_any_instant(
    specs: list[dict], points: list, data: st.DataObject
) -> None:
    """Zones get random validity windows within a day; the [at, until] matrix bounds every instant."""
    base = datetime(2026, 12, 1, tzinfo=UTC)
    zones = []
    for spec in specs:
        start, length = data.draw(st.integers(0, 20)), data.draw(st.integers(1, 4))
        zone = to_zone(spec)
        zones.append(
            Zone(
                zone.id,
                zone.kind,
                zone.shape,
                zone.radius_m,
                margin_m=zone.margin_m,
                valid_from=base + timedelta(hours=start),
                valid_to=base + timedelta(hours=start + length),
            )
        )
    lonlats = [FRAME.to_lonlat(*p) for p in points]
    space = Airspace(zones, FRAME, circle_segments=SEGMENTS)
    at, until = base + timedelta(hours=6), base + timedelta(hours=12)
    horizon = space.distance_matrix(lonlats, altitude_m=120, at=at, until=until).lengths_m
    for hour in range(6, 13):
        instant = space.distance_matrix(lonlats, altitude_m=120, at=base + timedelta(hours=hour)).lengths_m
        assert np.all(horizon >= instant * (1 - 1e-9))
