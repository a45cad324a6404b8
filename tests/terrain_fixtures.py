"""Synthetic terrain models for the tests: a DEM grid sampled from a ground function of local
metres, and the straight tent ridge the monitor's and the validator's tests fly over."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain, Terrain

RIDGE_LON, RIDGE_LAT, RIDGE_PIX = 114.30, 36.10, 0.0005


def grid_terrain(
    frame: LocalFrame,
    ground: Callable[[np.ndarray, np.ndarray], np.ndarray],
    south_west_m: tuple[float, float],
    north_east_m: tuple[float, float],
    pix: float,
    name: str = "hills",
) -> Terrain:
    """A DEM of ``pix``-degree pixels over the box between two corners (local metres of
    ``frame``), each pixel the ground function at its centre."""
    (lon_w, lat_s), (lon_e, lat_n) = frame.to_lonlat(*south_west_m), frame.to_lonlat(*north_east_m)
    cols, rows = int((lon_e - lon_w) / pix) + 1, int((lat_n - lat_s) / pix) + 1
    lons = lon_w + (np.arange(cols) + 0.5) * pix
    lats = lat_n - (np.arange(rows) + 0.5) * pix
    glon, glat = np.meshgrid(lons, lats)
    x, y = frame.to_xy(glon.ravel(), glat.ravel())
    heights = ground(np.asarray(x), np.asarray(y)).reshape(rows, cols)
    return Terrain(heights, (pix, 0.0, lon_w, 0.0, -pix, lat_n), name)


def ridge_area() -> tuple[AreaTerrain, LocalFrame]:
    """A north-south tent ridge 150 m above a 100 m plain, 1 km either side of its crest at
    (114.30 E, 36.10 N), with the default band (30 m clearance, 120 m ceiling), and its frame."""
    frame = LocalFrame(RIDGE_LON, RIDGE_LAT)
    cols, rows = 120, 20
    lons = RIDGE_LON - cols / 2 * RIDGE_PIX + (np.arange(cols) + 0.5) * RIDGE_PIX
    x, _ = frame.to_xy(lons, np.full(cols, RIDGE_LAT))
    row = 100.0 + 150.0 * np.clip(1.0 - np.abs(x) / 1000.0, 0.0, None)
    transform = (
        RIDGE_PIX,
        0.0,
        RIDGE_LON - cols / 2 * RIDGE_PIX,
        0.0,
        -RIDGE_PIX,
        RIDGE_LAT + rows / 2 * RIDGE_PIX,
    )
    return AreaTerrain(Terrain(np.tile(row, (rows, 1)), transform, "ridge")), frame
