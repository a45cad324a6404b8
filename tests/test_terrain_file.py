"""The DEM GeoTIFF edge: what is written is read back; unusable files get a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from airspace.terrain import Terrain, TerrainError
from dispatch.terrain_file import area_terrain, load_terrain, write_terrain
from fleet.description import parse_fleet
from tests.conftest import EXAMPLES

TRANSFORM = (0.001, 0.0, 114.25, 0.0, -0.001, 36.18)


def test_round_trip(tmp_path: Path) -> None:
    heights = np.arange(12.0).reshape(3, 4) * 10 + 80
    write_terrain(tmp_path / "dem.tif", Terrain(heights, TRANSFORM))
    t = load_terrain(tmp_path / "dem.tif")
    assert np.allclose(t.heights, heights)
    assert t.transform == pytest.approx(TRANSFORM)
    assert t.height_at(114.2515, 36.1785) == pytest.approx(heights[1, 1])


def test_unusable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TerrainError, match="no such file"):
        load_terrain(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_text("not a tiff")
    with pytest.raises(TerrainError, match=r"junk\.tif: not a readable GeoTIFF"):
        load_terrain(tmp_path / "junk.tif")
    profile = {"driver": "GTiff", "width": 3, "height": 3, "count": 1, "dtype": "float32"}
    with rasterio.open(
        tmp_path / "utm.tif", "w", crs="EPSG:32650", transform=Affine(30, 0, 0, 0, -30, 0), **profile
    ) as dst:
        dst.write(np.ones((3, 3), dtype=np.float32), 1)
    with pytest.raises(TerrainError, match="EPSG:4326"):
        load_terrain(tmp_path / "utm.tif")
    with rasterio.open(
        tmp_path / "holes.tif", "w", crs="EPSG:4326", transform=Affine(*TRANSFORM), nodata=-9999, **profile
    ) as dst:
        dst.write(np.array([[1, 1, 1], [1, -9999, 1], [1, 1, 1]], dtype=np.float32), 1)
    with pytest.raises(TerrainError, match="nodata"):
        load_terrain(tmp_path / "holes.tif")


def test_the_area_terrain_comes_from_the_flag_or_the_fleet_file(tmp_path: Path) -> None:
    data = json.loads((EXAMPLES / "fleet.json").read_text())
    fleet = parse_fleet(data)
    assert area_terrain(fleet, tmp_path / "fleet.json") is None  # flat ground
    (tmp_path / "dem").mkdir()
    write_terrain(tmp_path / "dem" / "hills.tif", Terrain(np.full((3, 4), 90.0), TRANSFORM))
    named = parse_fleet({**data, "terrain": "dem/hills.tif", "ceiling_m": 100})
    area = area_terrain(named, tmp_path / "fleet.json")
    assert area is not None and area.terrain.name == "hills.tif" and area.ceiling_m == 100.0
    flag = area_terrain(fleet, tmp_path / "fleet.json", tmp_path / "dem" / "hills.tif")
    assert flag is not None and flag.clearance_m == 30.0
    with pytest.raises(TerrainError, match="no such file"):
        area_terrain(parse_fleet({**data, "terrain": "missing.tif"}), tmp_path / "fleet.json")
