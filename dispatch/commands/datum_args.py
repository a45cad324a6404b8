"""``--datum`` for the commands that read files with coordinates (zones, pads, requests, fleet).

The files are read in the datum named (``WGS-84`` by default, as RFC 7946 says; ``CGCS2000`` is
taken as WGS-84 within centimetres; ``GCJ-02`` and ``BD-09`` are converted), and everything the
commands print, write and store is WGS-84. A zones file that declares its own ``datum`` member
must agree with ``--datum`` (``airspace.zones.parse_zones``); the other files have no member of
their own, so ``--datum`` is how they declare it.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from airspace.datum import DATUMS, is_wgs84, point_to_wgs84, to_wgs84
from fleet.description import Fleet

if TYPE_CHECKING:
    from dispatch.store.views import Place
    from routing.requests import Request

DATUM_HELP = (
    "datum of the coordinates in the files read: WGS-84 (default), CGCS2000 (taken as WGS-84),"
    " GCJ-02 (AMap, Tencent) or BD-09 (Baidu); converted on input, everything written is WGS-84"
)


def add_datum_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--datum`` (one of :data:`airspace.datum.DATUMS`; argparse names them on a bad value)."""
    parser.add_argument("--datum", choices=DATUMS, default=None, metavar="DATUM", help=DATUM_HELP + ".")


def fleet_to_wgs84(fleet: Fleet, datum: str | None) -> Fleet:
    """The fleet with its ports converted from ``datum`` (None: WGS-84)."""
    if datum is None or is_wgs84(datum):
        return fleet
    lon, lat = to_wgs84(datum, [p.lon for p in fleet.ports], [p.lat for p in fleet.ports])
    ports = tuple(
        replace(p, lon=float(x), lat=float(y)) for p, x, y in zip(fleet.ports, lon, lat, strict=True)
    )
    return replace(fleet, ports=ports)


def pads_to_wgs84(pads: dict[str, tuple[str, Place]], datum: str | None) -> dict[str, tuple[str, Place]]:
    """Pads as ``dispatch.store.directory.load_pads`` reads them, converted from ``datum``."""
    if datum is None or is_wgs84(datum):
        return pads
    out: dict[str, tuple[str, Place]] = {}
    for pad_id, (name, place) in pads.items():
        lon, lat = point_to_wgs84(datum, place.lon, place.lat)
        out[pad_id] = (name, replace(place, lon=lon, lat=lat))
    return out


def requests_to_wgs84(requests: tuple[Request, ...], datum: str | None) -> tuple[Request, ...]:
    """Requests with their pickups and drop-offs converted from ``datum``."""
    if datum is None or is_wgs84(datum):
        return requests
    return tuple(
        replace(
            r,
            pickup=point_to_wgs84(datum, *r.pickup),
            dropoff=point_to_wgs84(datum, *r.dropoff),
        )
        for r in requests
    )


def point_arg_to_wgs84(point: tuple[float, float], datum: str | None) -> tuple[float, float]:
    """A ``LON,LAT`` argument converted from ``datum``."""
    return point if datum is None else point_to_wgs84(datum, *point)
