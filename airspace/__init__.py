"""Geometry of the sky: no-fly zones, the local metric frame and exact safe paths around zones.

Pure and synchronous: the only I/O is :func:`load_zones`, which reads a zones GeoJSON file.
"""

from airspace.frame import LocalFrame
from airspace.paths import Airspace, AirspaceError, DistanceMatrix, FlightPath
from airspace.zones import Zone, ZoneFormatError, load_zones, parse_zones, zones_to_geojson

__all__ = [
    "Airspace",
    "AirspaceError",
    "DistanceMatrix",
    "FlightPath",
    "LocalFrame",
    "Zone",
    "ZoneFormatError",
    "load_zones",
    "parse_zones",
    "zones_to_geojson",
]
