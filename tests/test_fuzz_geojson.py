"""Oversized and pathological zones GeoJSON: a clear error in bounded time, never a hang.

The zones parser (``airspace.zones``) and the store's zone upsert get 100,000-vertex outlines,
self-intersections, NaN, rings across the antimeridian, absurd radii and margins, unknown kinds,
wrong and absurdly deep nesting, and random mutations of a valid feature (hypothesis).
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airspace.zones import (
    MAX_TOTAL_VERTICES,
    MAX_ZONE_VERTICES,
    MAX_ZONES,
    ZoneFormatError,
    count_positions,
    load_zones,
    parse_zones,
)
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.solver_pool import SolverPool
from dispatch.store import InvalidInput, Store
from fleet.clock import ScaledClock
from fleet.link import FleetLink

LIMIT_S = 2.0  # every refusal, on a shared 2-core machine
C = (114.39, 36.10)


def star(n: int, r: float = 0.01, centre: tuple[float, float] = C) -> list[list[float]]:
    """A closed ring of ``n`` distinct positions around ``centre`` (a star: every other one inside)."""
    ring = [
        [
            centre[0] + r * (1 - 0.3 * (k % 2)) * math.cos(2 * math.pi * k / n),
            centre[1] + r * (1 - 0.3 * (k % 2)) * math.sin(2 * math.pi * k / n),
        ]
        for k in range(n)
    ]
    return [*ring, ring[0]]


def feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"id": "z", **props}}


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


SQUARE = [[114.39, 36.10], [114.40, 36.10], [114.40, 36.11], [114.39, 36.11], [114.39, 36.10]]
BOWTIE = [[114.39, 36.10], [114.40, 36.11], [114.40, 36.10], [114.39, 36.11], [114.39, 36.10]]
ACROSS = [[179.9, 10.0], [-179.9, 10.0], [-179.9, 10.1], [179.9, 10.1], [179.9, 10.0]]
POINT = {"type": "Point", "coordinates": list(C)}

CASES: list[tuple[str, Any, str]] = [
    (
        "100,000 vertices",
        collection(feature(polygon(star(100_000)))),
        f"more than {MAX_ZONE_VERTICES} in one zone",
    ),
    (
        "100,000 vertices as 25,000 squares",
        collection(feature({"type": "MultiPolygon", "coordinates": [[SQUARE]] * 25_000})),
        "too many positions",
    ),
    (
        "many zones, too many vertices in all",
        collection(*[{**feature(polygon(star(4_000))), "properties": {"id": f"z{i}"}} for i in range(30)]),
        f"more than {MAX_TOTAL_VERTICES} positions in all",
    ),
    ("too many zones", collection(*[feature(POINT, radius_m=10)] * (MAX_ZONES + 1)), f"at most {MAX_ZONES}"),
    ("self-intersection", collection(feature(polygon(BOWTIE))), "Self-intersection"),
    (
        "NaN vertex",
        collection(feature(polygon([[math.nan, 36.10], *SQUARE[1:4], [math.nan, 36.10]]))),
        "non-finite",
    ),
    ("infinite vertex", collection(feature(polygon([[114.39, math.inf], *SQUARE[1:]]))), "non-finite"),
    (
        "NaN centre",
        collection(feature({"type": "Point", "coordinates": [math.nan, 1]}, radius_m=5)),
        "non-finite",
    ),
    ("across the antimeridian", collection(feature(polygon(ACROSS))), "antimeridian"),
    ("a continent", collection(feature(polygon(star(64, r=20.0, centre=(100.0, 40.0))))), "degree limit"),
    ("absurd radius", collection(feature(POINT, radius_m=1e12)), "limit"),
    ("infinite radius", collection(feature(POINT, radius_m=math.inf)), "positive finite 'radius_m'"),
    ("absurd margin", collection(feature(polygon(SQUARE), margin_m=1e9)), "limit"),
    ("unknown kind", collection(feature(polygon(SQUARE), kind="no_photos")), "supported kinds"),
    (
        "ring not nested in a list",
        collection(feature({"type": "Polygon", "coordinates": SQUARE})),
        "must be a position",
    ),
    ("one level too deep", collection(feature({"type": "Polygon", "coordinates": [[SQUARE]]})), "position"),
    (
        "polygon as multipolygon",
        collection(feature({"type": "MultiPolygon", "coordinates": [SQUARE]})),
        "position",
    ),
    (
        "coordinates an object",
        collection(feature({"type": "Polygon", "coordinates": {"a": 1}})),
        "list of rings",
    ),
    ("features an object", {"type": "FeatureCollection", "features": {"0": {}}}, "'features' must be a list"),
    ("a bare geometry", polygon(SQUARE), "FeatureCollection"),
]


@pytest.mark.parametrize(("name", "doc", "message"), CASES, ids=[c[0] for c in CASES])
def test_pathological_zones_fail_fast_and_clearly(name: str, doc: Any, message: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ZoneFormatError, match=message) as info:
        parse_zones(doc, source="hostile.geojson")
    assert time.perf_counter() - t0 < LIMIT_S, name
    assert isinstance(info.value, ValueError) and str(info.value).startswith("hostile.geojson: ")


def test_the_limits_leave_real_zones_alone() -> None:
    # The largest zone allowed parses (and a valid 2,000-vertex outline is no problem).
    ring = star(MAX_ZONE_VERTICES - 1)
    assert len(parse_zones(collection(feature(polygon(ring))))[0].shape.exterior.coords) == MAX_ZONE_VERTICES
    assert parse_zones(collection(feature(POINT, radius_m=20_000)))[0].radius_m == 20_000


def test_deeply_nested_files_and_geometries(tmp_path: Path) -> None:
    deep = tmp_path / "deep.geojson"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ZoneFormatError, match="nested too deeply"):
        load_zones(deep)
    nested: Any = SQUARE
    for _ in range(100_000):
        nested = [nested]
    t0 = time.perf_counter()
    with pytest.raises(ZoneFormatError):
        parse_zones(collection(feature({"type": "MultiPolygon", "coordinates": nested})))
    with pytest.raises(ValueError, match="deeper"):
        count_positions(nested)
    assert time.perf_counter() - t0 < LIMIT_S


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
VALID = collection(
    feature(polygon(SQUARE), floor_m=0, ceiling_m=100, margin_m=20, valid_from="2026-12-01T00:00:00Z"),
    {**feature(POINT, radius_m=300), "properties": {"id": "c", "radius_m": 300}},
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:6]):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), junk=json_values)
def test_mutated_documents_parse_or_fail_cleanly(data: st.DataObject, junk: Any) -> None:
    doc = copy.deepcopy(VALID)
    path = data.draw(st.sampled_from(_paths(doc)[1:]), label="path")
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = junk
    t0 = time.perf_counter()
    try:
        zones = parse_zones(doc)
    except ZoneFormatError as exc:
        assert str(exc)
    else:
        assert all(z.shape.is_valid for z in zones)
    assert time.perf_counter() - t0 < LIMIT_S


@settings(max_examples=200, deadline=None, derandomize=True)
@given(doc=json_values)
def test_random_documents_fail_cleanly(doc: Any) -> None:
    with pytest.raises(ZoneFormatError):
        parse_zones(doc)


# --- the store's upsert ------------------------------------------------------------------------


async def test_store_refuses_oversized_and_deep_zones_fast(store: Store) -> None:
    nested: Any = SQUARE
    for _ in range(50_000):
        nested = [nested]
    deep_props = feature(POINT, radius_m=5)
    value: Any = 1
    for _ in range(50_000):
        value = [value]
    deep_props["properties"]["x"] = value
    for bad, message in [
        (feature(polygon(star(100_000))), "positions"),
        (feature({"type": "MultiPolygon", "coordinates": nested}), "deeper"),
        (deep_props, "nested too deeply"),
    ]:
        t0 = time.perf_counter()
        with pytest.raises(InvalidInput, match=message):
            await store.zones.upsert(bad, actor="op")
        assert time.perf_counter() - t0 < LIMIT_S
    assert await store.zones.list(active_only=False) == []
    json.dumps(VALID)  # the valid document is plain JSON (sanity of the fixture above)


async def test_the_dispatcher_stores_no_zone_it_cannot_read(store: Store, solver_pool: SolverPool) -> None:
    # One unreadable zone in the store would fail every later zone load (each tick, each restart).
    link = FleetLink("mqtt://127.0.0.1:1", clock=ScaledClock(1))  # never connected: not needed here
    dispatcher = Dispatcher(store, link, link.clock, pool=solver_pool)
    for bad in [feature(polygon(BOWTIE)), feature(polygon(star(100_000))), feature(POINT, radius_m=1e12)]:
        with pytest.raises(ZoneFormatError):
            await dispatcher.add_zone(bad, actor="op")
    assert await store.zones.list(active_only=False) == []
