"""The sample scenario (examples/anyang) plans to a valid plan with the right reason codes."""

from __future__ import annotations

from datetime import datetime

import pytest
import shapely

from airspace.frame import LocalFrame
from airspace.obstacles import footprint_in_frame
from routing.planner import plan
from routing.problem import Plan, PlanningProblem
from routing.validate import validate_plan
from tests.planner_fixtures import sample_problem

AT = datetime.fromisoformat("2026-12-01T09:00:00+08:00")


@pytest.fixture(scope="module")
def sample() -> tuple[PlanningProblem, Plan]:
    problem = sample_problem()
    return problem, plan(problem, seconds=3, workers=1)


def test_sample_plan_is_valid_and_accounts_for_every_request(sample) -> None:
    problem, result = sample
    assert validate_plan(problem, result) == []
    ids = {r.id for r in problem.requests}
    assert set(result.served) | {u.request_id for u in result.unserved} == ids
    assert not set(result.served) & {u.request_id for u in result.unserved}


def test_sample_reasons_are_the_right_ones(sample) -> None:
    _, result = sample
    reasons = {u.request_id: u.reason for u in result.unserved}
    assert reasons["R011"] == "overweight"
    assert reasons["R012"] == "dropoff_in_zone"
    assert "tower-crane" in next(u.detail for u in result.unserved if u.request_id == "R012")
    # Everything else is feasible in the sample: the urgent ones must all be kept.
    assert {"R001", "R004", "R008"} <= set(result.served)
    for rid, reason in reasons.items():
        assert reason in ("overweight", "dropoff_in_zone", "no_capacity"), (rid, reason)


def test_sample_sports_centre_delivery_happens_before_the_event(sample) -> None:
    problem, result = sample
    event = next(z for z in problem.zones if z.id == "sports-centre-event")
    assert event.valid_from is not None
    assert "R010" in result.served, "sports-centre is usable before the event starts"
    assert result.etas["R010"].delivered_at < event.valid_from


def test_sample_every_leg_keeps_clear_of_the_zones_it_meets(sample) -> None:
    """Geometry checked here directly with shapely, not only through the validator."""
    problem, result = sample
    frame = LocalFrame.for_points([(114.39, 36.10)])
    altitudes = {m.cruise_altitude_m for m in problem.fleet.models.values()}
    assert altitudes == {110.0, 120.0}
    checked = 0
    for _, _, _, leg in result.legs():
        xy = frame.points_to_xy([(w[0], w[1]) for w in leg.waypoints])
        line = shapely.LineString(xy) if len(xy) > 1 and leg.distance_m > 0 else shapely.Point(xy[0])
        alt = leg.waypoints[0][2]
        for zone in problem.zones:
            if not (zone.blocks_altitude(alt) and zone.active_during(leg.depart, leg.arrive)):
                continue
            fp = footprint_in_frame(zone, frame)
            assert float(fp.distance(line)) >= zone.margin_m - 0.5, (zone.id, leg)
            checked += 1
    assert checked > 0
    # The altitude band above cruise (airfield approach) never blocks: no leg is checked against it.
    approach = next(z for z in problem.zones if z.id == "airfield-approach")
    assert not any(approach.blocks_altitude(a) for a in altitudes)
