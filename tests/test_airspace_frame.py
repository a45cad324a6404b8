"""The local metric frame: round trips, and distances against geodesics over a 30 km area."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from airspace import LocalFrame

GEOD = Geod(ellps="WGS84")


def test_round_trip_scalars_and_arrays() -> None:
    frame = LocalFrame.centred_on(114.39, 36.11)
    x, y = frame.to_xy(114.39, 36.11)
    assert abs(x) < 1e-9 and abs(y) < 1e-9
    lons = np.array([114.24, 114.39, 114.54])
    lats = np.array([35.98, 36.11, 36.24])
    xs, ys = frame.to_xy(lons, lats)
    back_lon, back_lat = frame.to_lonlat(xs, ys)
    assert np.allclose(back_lon, lons, atol=1e-12) and np.allclose(back_lat, lats, atol=1e-12)
    assert xs[0] < 0 < xs[2] and ys[0] < 0 < ys[2]  # x east, y north


def test_for_points_centres_on_the_bounding_box() -> None:
    frame = LocalFrame.for_points([(114.24, 36.01), (114.44, 36.21), (114.34, 36.06)])
    assert (frame.lon0, frame.lat0) == pytest.approx((114.34, 36.11))
    with pytest.raises(ValueError, match="at least one point"):
        LocalFrame.for_points([])
    with pytest.raises(ValueError, match="valid lon/lat"):
        LocalFrame.centred_on(200.0, 37.0)


def test_distances_match_geodesics_across_a_30_km_area() -> None:
    """Frame distances vs WGS84 geodesics: relative error below 2e-6 anywhere in a 30 x 30 km area."""
    frame = LocalFrame.centred_on(114.39, 36.11)
    rng = np.random.default_rng(3)
    xy = rng.uniform(-15_000, 15_000, size=(200, 2))
    lon, lat = frame.to_lonlat(xy[:, 0], xy[:, 1])
    i, j = rng.integers(0, 200, size=(2, 400))
    keep = i != j
    i, j = i[keep], j[keep]
    _, _, geodesic = GEOD.inv(lon[i], lat[i], lon[j], lat[j])
    planar = np.hypot(*(xy[i] - xy[j]).T)
    rel = np.abs(planar - geodesic) / geodesic
    assert rel.max() < 2e-6
    # through the centre the projection is exact (azimuthal equidistant)
    _, _, radial = GEOD.inv(np.full(len(lon), 114.39), np.full(len(lat), 36.11), lon, lat)
    assert np.allclose(np.hypot(xy[:, 0], xy[:, 1]), radial, rtol=1e-9)
    assert math.isfinite(float(rel.mean()))


def test_distance_m_is_the_planar_distance_in_the_frame() -> None:
    frame = LocalFrame.centred_on(114.39, 36.11)
    a, b = frame.to_lonlat(-3000.0, 400.0), frame.to_lonlat(1000.0, -2600.0)
    assert frame.distance_m(a, b) == pytest.approx(5000.0, rel=1e-12)


def test_a_centre_has_one_shared_frame() -> None:
    # The dispatcher asks an intent's frame for every telemetry sample: building one costs
    # milliseconds of projection set-up, so frames are made once per centre.
    a = LocalFrame.centred_on(114.39, 36.10)
    assert LocalFrame.centred_on(114.39, 36.10) is a
    assert LocalFrame.centred_on(114.40, 36.10) is not a
    # The fleet's frame (asked by planning, intake and every intent check) is shared too.
    ports = [(114.38, 36.09), (114.40, 36.11)]
    assert LocalFrame.for_points(ports) is LocalFrame.for_points(list(reversed(ports))) is a
    with pytest.raises(ValueError, match="valid lon/lat"):
        LocalFrame.centred_on(float("nan"), 36.10)
