"""``--terrain DEM.tif`` for the commands that plan: the area's terrain model.

Without the flag the DEM the fleet file names (``"terrain"``, relative to that file) is used, and
without either the ground is flat at the pads' height. See ``docs/terrain.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from airspace.terrain import AreaTerrain, TerrainError
from dispatch.terrain_file import area_terrain
from fleet.description import Fleet

TERRAIN_HELP = (
    "terrain model, a GeoTIFF DEM on EPSG:4326 in metres above sea level (default: the one the fleet "
    "file names, else flat ground): cruise altitudes become true heights over it"
)


class TerrainInputError(ValueError):
    """The terrain model cannot be read or used; the message names the file."""


def add_terrain_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--terrain DEM.tif``."""
    parser.add_argument("--terrain", type=Path, default=None, metavar="DEM.tif", help=TERRAIN_HELP + ".")


def terrain_for(fleet: Fleet, fleet_path: str | Path, override: str | Path | None) -> AreaTerrain | None:
    """The area's terrain: ``override`` (``--terrain``), else the fleet file's DEM, else None."""
    try:
        return area_terrain(fleet, fleet_path, override)
    except (TerrainError, OSError) as exc:
        raise TerrainInputError(f"--terrain: {exc}") from exc
