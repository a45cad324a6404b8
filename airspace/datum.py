"""Datums of input coordinates: WGS-84, CGCS2000, GCJ-02 and BD-09, converted to WGS-84.

Everything the system stores, plans on and exports is WGS-84 lon/lat. Zones and pads drawn on
Chinese web maps come in GCJ-02 (AMap, Tencent) or BD-09 (Baidu), offset from WGS-84 by about
500 m (BD-09 by about 900 m more); input that declares one of them is converted here, once, on
the way in:

- ``WGS-84``: as is (RFC 7946's datum, and the default of every input).
- ``CGCS2000``: as is. China's geodetic datum differs from WGS-84 by centimetres (both are
  realisations of the ITRF; the ellipsoids differ by 0.1 mm at most), below anything a zone
  margin or a pad notices.
- ``GCJ-02`` and ``BD-09``: the published obfuscation formulas (the maintained ``coordTransform``
  package computes the forward direction, WGS-84 to GCJ-02 to BD-09), inverted here by
  fixed-point iteration on that forward transform until it reproduces the input within
  :data:`TOLERANCE_DEG` (about 0.1 mm), not by the usual one-step formula, which is metres off.
  Outside the package's China box (longitude 73.66 to 135.05, latitude 3.86 to 53.55, open) GCJ-02
  is the identity, as the package has it; BD-09 keeps its own rotation and shift everywhere.

Lines and rings are densified before they are converted (a vertex every :data:`SPACING_M` at
most: the offset drifts about 2 m per km and BD-09's wiggles by 40 m every 11 km, so a long edge
converted by its ends alone would be metres off in its middle), then simplified back within
:data:`SIMPLIFY_DEG` (millimetres). A
circle keeps its form: its centre is converted and its radius becomes the largest distance from
the converted centre to its converted outline, so it still covers the circle that was drawn.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import coordTransform as _ct
import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

WGS84 = "WGS-84"
DATUMS: tuple[str, ...] = ("WGS-84", "CGCS2000", "GCJ-02", "BD-09")
"""The datums input coordinates may declare (the values of a ``datum`` member or ``--datum``)."""
_AS_IS = frozenset({"WGS-84", "CGCS2000"})

TOLERANCE_DEG = 1e-9
"""The inverse stops when the forward transform of its result is this close to the input, in
degrees on either axis (about 0.1 mm)."""
MAX_ITERATIONS = 30
SPACING_M = 25.0
"""The longest edge converted by its ends alone: longer edges get vertices this far apart first.
GCJ-02's offset bends by centimetres over kilometres, but BD-09 turns points by up to 3e-6 rad
about the origin (about 40 m) with an 11 km period: 25 m pieces follow it within a millimetre."""
_SPACING_DEG = SPACING_M / 111_320.0  # degrees of latitude; fewer metres in longitude, so shorter
SIMPLIFY_DEG = 5e-8
"""How far (degrees, about 5 mm) the converted outline may move when the densified vertices that
a straight edge would follow anyway are dropped again."""
CIRCLE_SAMPLES = 360
_GEOD = Geod(ellps="WGS84")


class DatumError(ValueError):
    """A datum that is not one of :data:`DATUMS`, or coordinates that cannot be converted."""


def check_datum(value: Any) -> str:
    """``value`` if it names a supported datum, else :class:`DatumError` naming the allowed ones."""
    if isinstance(value, str) and value in DATUMS:
        return value
    shown = repr(value) if isinstance(value, str) and len(value) <= 40 else f"a {type(value).__name__}"
    raise DatumError(f"unknown datum {shown}: use one of {', '.join(DATUMS)} (WGS-84 when absent)")


def is_wgs84(datum: str) -> bool:
    """Whether coordinates in ``datum`` are taken as they are (WGS-84 and CGCS2000)."""
    return check_datum(datum) in _AS_IS


def _pairs(result: Any) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = result
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def from_wgs84(datum: str, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat (scalars or arrays, degrees) to ``datum``: the forward transform."""
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if is_wgs84(datum):
        return lon.copy(), lat.copy()
    glon, glat = _pairs(_ct.wgs84_to_gcj02(np.ascontiguousarray(lon), np.ascontiguousarray(lat)))
    if datum == "GCJ-02":
        return glon, glat
    return _pairs(_ct.gcj02_to_bd09(glon, glat))


def to_wgs84(datum: str, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat in ``datum`` (scalars or arrays, degrees) to WGS-84, within :data:`TOLERANCE_DEG`.

    Fixed-point iteration on the forward transform: start from the input, then move each point by
    how far its forward image misses the input, until every point's image is within tolerance
    (3 or 4 rounds: the offset changes by about 2 m per km, so each round divides the error by
    some 500). :class:`DatumError` if a point does not settle in :data:`MAX_ITERATIONS` rounds
    (only where GCJ-02 jumps, at the edge of its China box).
    """
    target_lon = np.atleast_1d(np.asarray(lon, dtype=float))
    target_lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if is_wgs84(datum):
        return target_lon.copy(), target_lat.copy()
    if not (np.isfinite(target_lon).all() and np.isfinite(target_lat).all()):
        raise DatumError("coordinates must be finite numbers")
    x, y = target_lon.copy(), target_lat.copy()
    for _ in range(MAX_ITERATIONS):
        fx, fy = from_wgs84(datum, x, y)
        dx, dy = fx - target_lon, fy - target_lat
        if max(float(np.abs(dx).max(initial=0.0)), float(np.abs(dy).max(initial=0.0))) <= TOLERANCE_DEG:
            return x, y
        x, y = x - dx, y - dy
    worst = int(np.argmax(np.maximum(np.abs(dx), np.abs(dy))))
    raise DatumError(
        f"cannot convert ({target_lon[worst]:.7f}, {target_lat[worst]:.7f}) from {datum}: "
        "the inverse does not settle there (the edge of the area where GCJ-02 applies)"
    )


def point_to_wgs84(datum: str, lon: float, lat: float) -> tuple[float, float]:
    """One lon/lat point in ``datum`` to WGS-84 (see :func:`to_wgs84`)."""
    x, y = to_wgs84(datum, lon, lat)
    return float(x[0]), float(y[0])


def _convert_coords(datum: str) -> Any:
    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = to_wgs84(datum, coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return convert


def dense_positions(geometry: BaseGeometry) -> int:
    """How many positions :func:`geometry_to_wgs84` converts for ``geometry`` (about): a bound to
    check before converting an outline that could be thousands of kilometres long."""
    return int(shapely.get_num_coordinates(geometry)) + int(shapely.length(geometry) / _SPACING_DEG)


def geometry_to_wgs84(datum: str, geometry: BaseGeometry) -> BaseGeometry:
    """A line, polygon or multi-polygon in ``datum`` (lon/lat) to WGS-84, following the offset.

    Edges are densified to :data:`SPACING_M` before the conversion, and the vertices a straight
    edge would follow anyway within :data:`SIMPLIFY_DEG` are dropped after it (topology kept), so
    the result stays within a centimetre of the exact image of every edge while a long straight
    edge keeps a vertex only every few hundred metres (GCJ-02) or every 100 m or so (BD-09).
    Points are converted as they are.
    """
    if is_wgs84(datum):
        return geometry
    if geometry.geom_type in ("Point", "MultiPoint"):
        return shapely.transform(geometry, _convert_coords(datum))
    dense = shapely.segmentize(geometry, _SPACING_DEG)
    converted = shapely.transform(dense, _convert_coords(datum))
    return shapely.simplify(converted, SIMPLIFY_DEG, preserve_topology=True)


def circle_to_wgs84(datum: str, lon: float, lat: float, radius_m: float) -> tuple[tuple[float, float], float]:
    """A circle drawn in ``datum`` (centre lon/lat, radius in metres) as a WGS-84 circle.

    The centre is converted; the radius is the largest distance from it to the drawn outline
    converted (:data:`CIRCLE_SAMPLES` points), so the circle covers what was drawn: GCJ-02
    stretches a circle by about 0.2 % (2 m per km of radius), BD-09's wiggle by up to 2.3 %.
    """
    if is_wgs84(datum):
        return (lon, lat), radius_m
    azimuths = np.linspace(0.0, 360.0, CIRCLE_SAMPLES, endpoint=False)
    n = len(azimuths)
    ring_lon, ring_lat, _ = _GEOD.fwd(np.full(n, lon), np.full(n, lat), azimuths, np.full(n, radius_m))
    centre = point_to_wgs84(datum, lon, lat)
    wlon, wlat = to_wgs84(datum, ring_lon, ring_lat)
    _, _, dist = _GEOD.inv(np.full(n, centre[0]), np.full(n, centre[1]), wlon, wlat)
    return centre, float(np.max(dist))
