"""Seeded random small cities: every plan validates and every unserved request has a reason."""

from __future__ import annotations

import pytest

from routing.feasibility import REASON_CODES
from routing.planner import plan
from routing.synthetic_city import city_problem
from routing.validate import validate_plan


@pytest.mark.parametrize("seed", [3, 7, 11])
def test_random_city_plans_are_valid_and_fully_accounted(seed: int) -> None:
    problem = city_problem(seed, n_requests=14, n_drones=3, n_ports=2, n_zones=12, n_pads=10, size_m=8000)
    result = plan(problem, seconds=1.5, workers=1, seed=seed)
    assert validate_plan(problem, result) == []
    ids = [r.id for r in problem.requests]
    assert sorted([*result.served, *(u.request_id for u in result.unserved)]) == sorted(ids)
    assert all(u.reason in REASON_CODES and u.detail for u in result.unserved)
    assert result.served, "a small city with three drones serves something"
    for rid in result.served:
        eta = result.etas[rid]
        req = problem.request(rid)
        assert eta.pickup_at is not None and eta.pickup_at >= req.ready_at
        assert eta.delivered_at <= req.deadline
