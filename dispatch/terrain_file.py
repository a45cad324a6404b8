"""Reading and writing a terrain model (a GeoTIFF DEM) with rasterio: the I/O edge of
:mod:`airspace.terrain`, which stays pure.

A DEM for this project is a single-band GeoTIFF of ground heights in metres above mean sea level,
on WGS-84 geographic coordinates (EPSG:4326, pixels in degrees), covering the whole service area
with a margin of at least one pixel, without missing (nodata) pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

from airspace.terrain import AreaTerrain, Terrain, TerrainError
from dispatch.settings.model import TerrainSettings
from fleet.dem import DemError, read_dem
from fleet.description import Fleet


def load_terrain(path: str | Path) -> Terrain:
    """Read a DEM GeoTIFF (:func:`fleet.dem.read_dem`) into a :class:`~airspace.terrain.Terrain`;
    raises :class:`TerrainError` with the file's name when it cannot be used (missing, not a
    raster, wrong CRS, nodata, a bad grid)."""
    try:
        grid = read_dem(path)
    except DemError as exc:
        raise TerrainError(str(exc)) from exc
    return Terrain(grid.heights, grid.transform, grid.name)


def area_terrain(
    fleet: Fleet, fleet_path: str | Path, override: str | Path | None = None
) -> AreaTerrain | None:
    """The area's terrain model with its band: ``override`` (a ``--terrain`` flag) if given, else
    the DEM the fleet file names (relative to that file), else None (flat ground)."""
    if override is not None:
        path = Path(override)
    elif fleet.terrain is not None:
        path = Path(fleet_path).parent / fleet.terrain
    else:
        return None
    return AreaTerrain(load_terrain(path), fleet.clearance_m, fleet.ceiling_m)


def write_terrain(path: str | Path, terrain: Terrain) -> None:
    """Write a :class:`~airspace.terrain.Terrain` as a float32 GeoTIFF on EPSG:4326 (compressed)."""
    rows, cols = terrain.heights.shape
    with rasterio.open(
        Path(path),
        "w",
        driver="GTiff",
        width=cols,
        height=rows,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=Affine(*terrain.transform),
        compress="deflate",
        predictor=3,
    ) as dst:
        dst.write(terrain.heights.astype(np.float32), 1)


def terrain_of_settings(settings: TerrainSettings) -> AreaTerrain | None:
    """The area's terrain of the ``terrain`` settings (None while ``dem`` is unset)."""
    if settings.dem is None:
        return None
    return AreaTerrain(load_terrain(settings.dem), settings.clearance_m, settings.ceiling_m)
