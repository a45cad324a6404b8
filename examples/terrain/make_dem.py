"""Generate the sample's synthetic DEM: the Taihang foothills west of Anyang, Henan.

Not survey data: a deterministic, smooth model of the setting for the demo and the tests. The
plain around the city lies at about 75 m above mean sea level and falls gently to the east; west
of about 114.30 E the foothills rise towards 450 m at the DEM's western edge, with ridges running
north-north-east and one steep hill (the ``Xishan`` block, west of the city) that the drones cannot
clear under the 120 m ceiling and must fly around.

Grid: WGS-84 geographic (EPSG:4326), 114.20-114.55 E, 35.98-36.22 N (the service area,
114.25-114.50 E and 36.02-36.18 N, with a margin), 0.0015 degree pixels (about 135 x 167 m).

Run from the repository root (it rewrites ``examples/terrain/taihang.tif`` byte for byte)::

    .venv/bin/python examples/terrain/make_dem.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from airspace.terrain import Terrain
from dispatch.terrain_file import write_terrain

WEST, EAST, SOUTH, NORTH = 114.20, 114.55, 35.98, 36.22
PIX = 0.0015
OUT = Path(__file__).with_name("taihang.tif")


def heights() -> tuple[np.ndarray, tuple[float, float, float, float, float, float]]:
    """The height grid (m AMSL, north row first) and its GeoTIFF affine transform."""
    cols = round((EAST - WEST) / PIX)
    rows = round((NORTH - SOUTH) / PIX)
    lon = WEST + (np.arange(cols) + 0.5) * PIX
    lat = NORTH - (np.arange(rows) + 0.5) * PIX
    lon2, lat2 = np.meshgrid(lon, lat)
    plain = 75.0 - 60.0 * (lon2 - 114.35)  # falls gently to the east
    west = np.clip((114.31 - lon2) / 0.11, 0.0, None)  # 0 at 114.31 E, 1 at the western edge
    foothills = 380.0 * west**1.6
    # ridges running north-north-east, fading out onto the plain
    along = (lon2 - 114.20) * 1.0 - (lat2 - 35.98) * 0.35
    ridges = 45.0 * np.sin(along * 2 * np.pi / 0.035) ** 2 * np.clip(west * 3.0, 0.0, 1.0)
    # the Xishan block: a steep hill 280 m above the plain, west of the city
    r = np.hypot((lon2 - 114.285) * 90.0, (lat2 - 36.105) * 111.0)  # km
    hill = 280.0 * np.clip(1.0 - r / 0.7, 0.0, None)
    grid = plain + foothills + ridges + hill
    transform = (PIX, 0.0, WEST, 0.0, -PIX, NORTH)
    return np.round(grid, 1), transform


def main() -> None:
    """Write the DEM next to this script."""
    grid, transform = heights()
    write_terrain(OUT, Terrain(grid, transform, OUT.name))
    print(f"{OUT.name}: {grid.shape[1]} x {grid.shape[0]} px, {grid.min():.0f}-{grid.max():.0f} m AMSL")


if __name__ == "__main__":
    main()
