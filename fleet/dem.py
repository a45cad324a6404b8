"""Reading a terrain model file (a GeoTIFF DEM) with rasterio: the I/O edge both the dispatcher
(``dispatch.terrain_file``) and the simulator read it through; the terrain itself is
:class:`airspace.terrain.Terrain` (pure), built from what is read here.

A DEM for this project is a single-band GeoTIFF of ground heights in metres above mean sea level,
on WGS-84 geographic coordinates (EPSG:4326, pixels in degrees), covering the whole service area
with a margin of at least one pixel, without missing (nodata) pixels (docs/terrain.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioError


class DemError(ValueError):
    """The file is not a usable DEM; the message names the file."""


@dataclass(frozen=True, slots=True)
class DemGrid:
    """The ground heights of a DEM (rows, cols) and its affine transform ``(a, b, c, d, e, f)``:
    ``lon = a·col + b·row + c``, ``lat = d·col + e·row + f`` at a pixel's corner."""

    heights: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    name: str


def read_dem(path: str | Path) -> DemGrid:
    """Read a DEM GeoTIFF; :class:`DemError` with the file's name when it cannot be used (missing,
    not a raster, wrong CRS, nodata)."""
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise DemError(f"terrain model {p}: no such file")
    try:
        with rasterio.open(p) as src:
            if src.count < 1:
                raise DemError(f"{name}: the DEM has no band")
            if src.crs is None or src.crs.to_epsg() != 4326:
                raise DemError(
                    f"{name}: the DEM must be on WGS-84 geographic coordinates (EPSG:4326), got {src.crs}"
                )
            band = src.read(1, masked=True)
            transform = tuple(float(v) for v in tuple(src.transform)[:6])
    except RasterioError as exc:
        raise DemError(f"{name}: not a readable GeoTIFF ({exc})") from exc
    if np.ma.is_masked(band) and np.ma.getmaskarray(band).any():
        raise DemError(f"{name}: the DEM has missing (nodata) pixels; fill them before use")
    a, b, c, d, e, f = transform
    return DemGrid(np.asarray(np.ma.getdata(band), dtype=float), (a, b, c, d, e, f), name)
