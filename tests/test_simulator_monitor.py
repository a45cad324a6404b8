"""The airspace monitor checks flown segments against true zone shapes, bands and validity."""

from __future__ import annotations

from datetime import UTC, datetime

from shapely.geometry import Point, Polygon

from airspace.frame import LocalFrame
from airspace.zones import Zone
from simulator.monitor import AirspaceMonitor

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
FRAME = LocalFrame(114.39, 36.11)


def strip(width_m: float, **kw: object) -> Zone:
    """A thin north-south strip centred on the frame's origin, 2 km long."""
    w = width_m / 2
    corners = [FRAME.to_lonlat(x, y) for x, y in [(-w, -1000), (w, -1000), (w, 1000), (-w, 1000)]]
    return Zone(id="strip", kind="no_fly", shape=Polygon(corners), radius_m=None, **kw)  # type: ignore[arg-type]


def test_a_fast_drone_cannot_skip_a_thin_zone_between_samples() -> None:
    monitor = AirspaceMonitor([strip(4.0)], FRAME)
    # Both sampled positions are well outside; the segment between them crosses the 4 m strip.
    assert monitor.check_path("D1", [(-100.0, 0.0, 120.0), (100.0, 0.0, 120.0)], AT) == ["strip"]
    # Staying outside, parallel to it: nothing.
    assert monitor.check_path("D2", [(-100.0, -500.0, 120.0), (-100.0, 500.0, 120.0)], AT) == []


def test_altitude_band_and_validity_window() -> None:
    crane = strip(50.0, floor_m=0.0, ceiling_m=80.0)
    monitor = AirspaceMonitor([crane], FRAME)
    assert monitor.zones_hit((-100.0, 0.0, 120.0), (100.0, 0.0, 120.0), AT) == []  # above the ceiling
    # Climbing from 0 to 200 m across it: inside the band while over the strip's west part.
    assert monitor.zones_hit((-30.0, 0.0, 0.0), (30.0, 0.0, 200.0), AT) == ["strip"]
    # Climbing steeply before it: above 80 m by the time it is over the strip.
    assert monitor.zones_hit((-100.0, 0.0, 60.0), (100.0, 0.0, 200.0), AT) == []
    later = strip(50.0, valid_from=datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
    monitor = AirspaceMonitor([later], FRAME)
    assert monitor.zones_hit((-100.0, 0.0, 120.0), (100.0, 0.0, 120.0), AT) == []  # not active yet


def test_circles_are_exact_discs_and_entries_are_reported_once() -> None:
    lon, lat = FRAME.to_lonlat(0.0, 0.0)
    disc = Zone(id="helipad", kind="no_fly", shape=Point(lon, lat), radius_m=250.0)
    monitor = AirspaceMonitor([disc], FRAME)
    assert monitor.zones_hit((-300.0, 249.0, 100.0), (300.0, 249.0, 100.0), AT) == ["helipad"]
    assert monitor.zones_hit((-300.0, 251.0, 100.0), (300.0, 251.0, 100.0), AT) == []
    path = [(-300.0, 0.0, 100.0), (-100.0, 0.0, 100.0)]
    assert monitor.check_path("D1", path, AT) == ["helipad"]
    assert monitor.check_path("D1", [(-100.0, 0.0, 100.0), (0.0, 0.0, 100.0)], AT) == []  # still inside
    assert monitor.check_path("D1", [(0.0, 0.0, 100.0), (400.0, 0.0, 100.0)], AT) == []  # leaving: no entry
    assert monitor.check_path("D1", [(400.0, 0.0, 100.0), (500.0, 0.0, 100.0)], AT) == []  # outside
    assert monitor.check_path("D1", [(500.0, 0.0, 100.0), (0.0, 0.0, 100.0)], AT) == ["helipad"]  # again


def test_a_zone_added_later_is_watched() -> None:
    monitor = AirspaceMonitor([], FRAME)
    segment = [(-100.0, 0.0, 120.0), (100.0, 0.0, 120.0)]
    assert monitor.check_path("D1", segment, AT) == []
    monitor.add_zone(strip(10.0))
    assert monitor.check_path("D1", segment, AT) == ["strip"]
    monitor.add_zone(strip(10.0, floor_m=500.0))  # same id: replaces it
    assert monitor.zones_hit(*segment, AT) == []
