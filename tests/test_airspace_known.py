"""Known-answer tests for exact paths: detours with analytic lengths, bands, validity windows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airspace import Airspace, LocalFrame, parse_zones

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
FRAME = LocalFrame.centred_on(127.0, 37.4)


def lonlat(x: float, y: float) -> tuple[float, float]:
    """A lon/lat point from metres in the test frame."""
    lon, lat = FRAME.to_lonlat(x, y)
    return float(lon), float(lat)


def square_feature(zid: str, cx: float, cy: float, half: float, **props: object) -> dict:
    ring = [lonlat(cx - half, cy - half), lonlat(cx + half, cy - half), lonlat(cx + half, cy + half)]
    ring += [lonlat(cx - half, cy + half), ring[0]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        "properties": {"id": zid, **props},
    }


def circle_feature(zid: str, cx: float, cy: float, radius: float, **props: object) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(lonlat(cx, cy))},
        "properties": {"id": zid, "radius_m": radius, **props},
    }


def airspace(*features: dict, segments: int = 32) -> Airspace:
    zones = parse_zones({"type": "FeatureCollection", "features": list(features)}, source="test")
    return Airspace(zones, FRAME, circle_segments=segments)


def test_unobstructed_path_is_the_straight_line() -> None:
    space = airspace(square_feature("far", 0, 5000, 100))
    path = space.shortest_path(lonlat(-1000, 0), lonlat(1000, 0), altitude_m=120, at=AT)
    assert path.length_m == pytest.approx(2000, rel=1e-9)
    assert len(path.waypoints) == 2
