"""The simulator's terrain monitor reports a drone flown into a hill or above the ceiling."""

from __future__ import annotations

import itertools

import pytest

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain, leg_profile
from simulator.terrain_monitor import CEILING, CLEARANCE, TerrainMonitor
from tests.terrain_fixtures import ridge_area


@pytest.fixture
def world() -> tuple[AreaTerrain, LocalFrame]:
    return ridge_area()


def _flown(
    frame: LocalFrame, waypoints: list[tuple[float, float, float]]
) -> list[tuple[float, float, float]]:
    xy = frame.points_to_xy([(w[0], w[1]) for w in waypoints])
    return [(float(x), float(y), w[2]) for (x, y), w in zip(xy, waypoints, strict=True)]


def test_a_drone_following_the_profile_is_not_reported(world: tuple[AreaTerrain, LocalFrame]) -> None:
    area, frame = world
    a, b = frame.to_lonlat(-2000.0, 0.0), frame.to_lonlat(2000.0, 0.0)
    p = leg_profile(area.terrain, [a, b], frame, cruise_m=100, grade=0.2)
    monitor = TerrainMonitor(area, frame)
    path = _flown(frame, p.waypoints)
    for piece in itertools.pairwise(path):  # as telemetry comes, piece by piece
        assert monitor.check_path("D1", list(piece)) == []


def test_a_drone_made_to_fly_level_over_the_ridge_is_reported_once_per_excursion(
    world: tuple[AreaTerrain, LocalFrame],
) -> None:
    area, frame = world
    monitor = TerrainMonitor(area, frame)
    level = [(-2000.0, 0.0, 240.0), (-500.0, 0.0, 240.0)]  # 140 m true height at the start
    (first,) = monitor.check_path("D1", level)
    assert first.kind == CEILING and first.true_height_m == pytest.approx(140.0, abs=1.0)
    into = [(-500.0, 0.0, 240.0), (0.0, 0.0, 240.0)]  # the crest is at 250 m: into the hill
    (hill,) = monitor.check_path("D1", into)
    assert hill.kind == CLEARANCE and hill.true_height_m < 0 and hill.limit_m == 30.0
    assert monitor.check_path("D1", [(0.0, 0.0, 240.0), (10.0, 0.0, 240.0)]) == []  # still in: once
    assert monitor.check_path("D1", [(0.0, 0.0, 240.0), (0.0, 0.0, 0.0)], cruising=False) == []  # landing
    assert [v.kind for v in monitor.check_path("D2", [*level, into[1]])] == [CEILING, CLEARANCE]  # both
