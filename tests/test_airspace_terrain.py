"""The pure terrain core: bilinear ground heights, leg profiles within clearance, ceiling and grade."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime

import numpy as np
import pytest
from shapely.geometry import LineString, Point

from airspace.frame import LocalFrame
from airspace.paths import Airspace
from airspace.terrain import (
    Terrain,
    TerrainError,
    altitude_profile,
    band_violations,
    leg_profile,
    lowest_above_batch,
)
from airspace.terrain_obstacles import impassable_mask, terrain_zones
from dispatch.terrain_file import load_terrain
from tests.conftest import REPO

LON0, LAT0 = 114.30, 36.10
PIX = 0.0005  # degrees per pixel (about 45 m east, 55 m north)


def _grid(fn: object, cols: int = 120, rows: int = 40) -> Terrain:
    """A DEM west-to-east across (LON0, LAT0): heights fn(x_m east of LON0) on every row."""
    frame = LocalFrame(LON0, LAT0)
    lons = LON0 - cols / 2 * PIX + (np.arange(cols) + 0.5) * PIX
    x, _ = frame.to_xy(lons, np.full(cols, LAT0))
    row = np.array([fn(float(v)) for v in x])  # type: ignore[operator]
    transform = (PIX, 0.0, LON0 - cols / 2 * PIX, 0.0, -PIX, LAT0 + rows / 2 * PIX)
    return Terrain(np.tile(row, (rows, 1)), transform, "test DEM")


def _ridge(height: float, half_width_m: float, base: float = 100.0) -> object:
    return lambda x: base + height * max(0.0, 1.0 - abs(x) / half_width_m)


def test_bilinear_heights_are_exact_on_a_plane() -> None:
    transform = (0.001, 0.0, 114.0, 0.0, -0.001, 36.01)
    cols, rows = 10, 10
    c, r = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    t = Terrain(50.0 + 3.0 * c + 7.0 * r, transform)
    lon, lat = 114.0042, 36.01 - 0.0063
    assert t.height_at(lon, lat) == pytest.approx(50.0 + 3.0 * 4.2 + 7.0 * 6.3)
    with pytest.raises(TerrainError, match="outside"):
        t.height_at(113.9, 36.0)


def test_bad_grids_are_refused() -> None:
    with pytest.raises(TerrainError, match="nodata"):
        Terrain(np.array([[1.0, np.nan], [1.0, 1.0]]), (0.001, 0, 114, 0, -0.001, 36))
    with pytest.raises(TerrainError, match="degenerate"):
        Terrain(np.ones((3, 3)), (0.0, 0, 114, 0, -0.001, 36))


def test_flat_ground_gives_the_cruise_altitude_unchanged() -> None:
    s = np.linspace(0, 2000, 81)
    alt, clears = altitude_profile(s, np.full_like(s, 80.0), cruise_m=100, grade=0.2)
    assert clears
    assert np.allclose(alt, 180.0)


def test_a_ridge_below_the_ceiling_is_climbed_over_with_the_clearance() -> None:
    # 150 m high, rising 150 m over 1 km: 0.15 < grade 0.2 less nothing; the band follows it
    t = _grid(_ridge(150.0, 1000.0))
    frame = LocalFrame(LON0, LAT0)
    a, b = frame.to_lonlat(-2000.0, 0.0), frame.to_lonlat(2000.0, 0.0)
    p = leg_profile(t, [a, b], frame, cruise_m=100, grade=0.2)
    assert p.clears
    h = p.true_height_m
    assert h.min() >= 30.0 - 1e-6 and h.max() <= 120.0 + 1e-6
    assert np.all(np.abs(np.diff(p.alt_m)) <= 0.2 * np.diff(p.s_m) + 1e-6)
    assert p.ground_m.max() > 240.0 and p.alt_m.max() >= p.ground_m.max() + 30.0  # over the top
    assert p.climb_m == pytest.approx(p.alt_m.max() - p.alt_m[0])  # one climb, then down
    assert band_violations(t, p.waypoints, frame) == []


def test_a_steep_ridge_cannot_be_cleared_under_the_ceiling() -> None:
    # 300 m rising over 400 m: needs 270 m of climb where the band allows 90 + 0.2 x 400 = 170
    t = _grid(_ridge(300.0, 400.0))
    frame = LocalFrame(LON0, LAT0)
    a, b = frame.to_lonlat(-2000.0, 0.0), frame.to_lonlat(2000.0, 0.0)
    p = leg_profile(t, [a, b], frame, cruise_m=100, grade=0.2)
    assert not p.clears
    wps = p.waypoints
    kinds = {v[3] for v in band_violations(t, wps, frame)}
    assert kinds == {"ceiling"}  # the lowest profile within the grade is above the ceiling somewhere


def test_band_violations_sees_a_constant_altitude_into_the_hill() -> None:
    t = _grid(_ridge(150.0, 1000.0))
    frame = LocalFrame(LON0, LAT0)
    (ax, ay), (bx, by) = frame.to_lonlat(-2000.0, 0.0), frame.to_lonlat(2000.0, 0.0)
    out = band_violations(t, [(ax, ay, 200.0), (bx, by, 200.0)], frame)
    assert [v[3] for v in out] == ["clearance"]
    assert out[0][2] < 0  # into the hill at the top


def test_a_steep_ridge_becomes_a_terrain_zone_and_a_gentle_one_does_not() -> None:
    steep, gentle = _grid(_ridge(300.0, 400.0)), _grid(_ridge(150.0, 1000.0))
    assert terrain_zones(gentle, grade=0.2) == ()
    zones = terrain_zones(steep, grade=0.2)
    # the two flanks (steeper than the band allows from about 160 m below the crest): the crest
    # itself is in the band, but no leg reaches it from the foot without crossing a flank
    assert [z.id for z in zones] == ["terrain-1", "terrain-2"]
    assert all(z.reason.startswith("terrain (test DEM)") and z.active_at(datetime.now(UTC)) for z in zones)
    frame = LocalFrame(LON0, LAT0)
    crossing = LineString([frame.to_lonlat(-1500.0, 0.0), frame.to_lonlat(1500.0, 0.0)])
    assert all(z.shape.intersects(crossing) for z in zones)
    assert not any(
        z.shape.contains(Point(frame.to_lonlat(x, 0.0))) for z in zones for x in (-1500.0, 0.0, 1500.0)
    )
    # soundness: the lowest profile of the crossing fails exactly on the flanks
    mask = impassable_mask(steep, grade=0.2)
    assert not mask[:, 0].any() and not mask[:, mask.shape[1] // 2].any() and mask.any(axis=0).sum() > 4


def test_a_peak_the_drones_cannot_clear_is_flown_around_and_the_path_then_clears() -> None:
    frame = LocalFrame(LON0, LAT0)
    cols = rows = 100
    lons = LON0 - cols / 2 * PIX + (np.arange(cols) + 0.5) * PIX
    lats = LAT0 + rows / 2 * PIX - (np.arange(rows) + 0.5) * PIX
    x, y = frame.to_xy(*np.meshgrid(lons, lats))
    heights = 100.0 + 300.0 * np.clip(1.0 - np.hypot(x, y) / 400.0, 0.0, None)
    t = Terrain(heights, (PIX, 0.0, LON0 - cols / 2 * PIX, 0.0, -PIX, LAT0 + rows / 2 * PIX), "peak")
    a, b = frame.to_lonlat(-2000.0, 0.0), frame.to_lonlat(2000.0, 0.0)
    assert not leg_profile(t, [a, b], frame, cruise_m=100, grade=0.2).clears
    zones = terrain_zones(t, grade=0.2)
    assert zones
    path = Airspace(zones, frame).shortest_path(a, b, altitude_m=100, at=datetime.now(UTC))
    assert path.length_m > 4000.0 + 10.0  # a detour
    around = leg_profile(t, path.waypoints, frame, cruise_m=100, grade=0.2)
    assert around.clears
    assert band_violations(t, around.waypoints, frame) == []


def test_the_profile_is_the_lowest_within_the_grade_by_brute_force() -> None:
    rng = np.random.default_rng(7)
    s = np.cumsum(rng.uniform(5, 30, 60))
    g = 100 + np.cumsum(rng.normal(0, 8, 60))
    alt, _ = altitude_profile(s, g, cruise_m=30, grade=0.15, clearance_m=30, ceiling_m=1000)
    brute = (g[None, :] + 30 - 0.15 * np.abs(s[:, None] - s[None, :])).max(axis=1)
    assert np.allclose(alt, brute)


def test_the_sample_dem_is_what_its_script_makes_and_its_steep_hill_is_a_terrain_zone() -> None:
    spec = importlib.util.spec_from_file_location("make_dem", REPO / "examples" / "terrain" / "make_dem.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grid, transform = module.heights()
    t = load_terrain(REPO / "examples" / "terrain" / "taihang.tif")
    assert np.allclose(t.heights, grid, atol=0.01) and t.transform == pytest.approx(transform)
    assert t.bounds[0] >= 114.20 and t.bounds[2] <= 114.55 + 1e-9
    zones = terrain_zones(t, grade=0.2)
    assert len(zones) == 1 and zones[0].shape.contains(Point(114.285, 36.105))  # the Xishan block
    assert not zones[0].shape.interiors


def test_one_point_reads_agree_with_the_array_reads_on_the_sample_dem() -> None:
    t = load_terrain(REPO / "examples" / "terrain" / "taihang.tif")
    west, south, east, north = t.bounds
    rng = np.random.default_rng(7)
    lons = rng.uniform(west + 0.002, east - 0.002, 500)
    lats = rng.uniform(south + 0.002, north - 0.002, 500)
    one = np.array([t.height_at(float(x), float(y)) for x, y in zip(lons, lats, strict=True)])
    assert np.allclose(one, t.heights_at(lons, lats), rtol=0.0, atol=1e-9)
    with pytest.raises(TerrainError, match="outside"):
        t.height_at(east + 0.01, north)


def test_the_batched_profile_is_the_definition_leg_by_leg() -> None:
    # max_j (floor_j - grade |s_i - s_j|) within each leg, computed the slow way
    rng = np.random.default_rng(3)
    sizes = [1, 7, 40, 3]
    seg = np.repeat(np.arange(len(sizes)), sizes)
    s = np.concatenate([np.cumsum(rng.uniform(1.0, 30.0, n)) for n in sizes])
    floor = rng.uniform(50.0, 400.0, len(s))
    got = lowest_above_batch(s, floor, 0.2, seg)
    want = np.array(
        [
            max(floor[j] - 0.2 * abs(s[i] - s[j]) for j in range(len(s)) if seg[j] == seg[i])
            for i in range(len(s))
        ]
    )
    assert np.allclose(got, want)
