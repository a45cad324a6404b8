"""The ``datum`` member of API bodies with coordinates: which datum their lon/lat are in.

Requests, quotes, pads and zones may say ``"datum": "GCJ-02"`` (AMap, Tencent), ``"BD-09"``
(Baidu), ``"CGCS2000"`` or ``"WGS-84"`` (the default, as in RFC 7946); the coordinates are
converted to WGS-84 on the way in (:mod:`airspace.datum`) and everything stored and answered is
WGS-84. Any other value is ``422 unknown_datum``, naming the allowed ones.
"""

from __future__ import annotations

from typing import Any

from airspace.datum import DATUMS, WGS84, DatumError, check_datum, point_to_wgs84
from dispatch.api.errors import ApiError


def body_datum(value: Any, field: str = "datum") -> str:
    """The datum a body declares (``None``: WGS-84), or ``422 unknown_datum``."""
    if value is None:
        return WGS84
    try:
        return check_datum(value)
    except DatumError as exc:
        raise ApiError(
            422, "unknown_datum", f"{field}: {exc}", {"field": field, "allowed": list(DATUMS)}
        ) from None


def lonlat_to_wgs84(datum: str, lon: float, lat: float, field: str) -> tuple[float, float]:
    """A point of a body in WGS-84 (``422 invalid_coordinates`` where it cannot be converted)."""
    try:
        return point_to_wgs84(datum, lon, lat)
    except DatumError as exc:
        raise ApiError(422, "invalid_coordinates", f"{field}: {exc}", {"field": field}) from None
