"""The planner's second pass: requests deconfliction left out are planned again after the trips
placed, and the merged plan is valid (the validator checks it independently)."""

from __future__ import annotations

from dataclasses import replace

from bench.bench_city import city_problem
from bench.bench_deconfliction import with_layers
from routing.planner import plan
from routing.second_pass import left_out
from routing.validate import validate_plan


def test_the_second_pass_serves_left_out_requests_in_a_valid_plan() -> None:
    # Busy pads and one port: the first pass leaves requests out for deconfliction.
    problem = city_problem(2, n_requests=60, n_drones=10, n_ports=1, n_pads=6, size_m=6000.0, n_zones=5)
    problem = replace(problem, fleet=with_layers(problem.fleet))
    first = plan(problem, seconds=1.0, seed=1)
    assert left_out(first), "the scenario must leave requests out for the second pass to matter"
    both = plan(problem, seconds=1.0, seed=1, second_pass=True)
    assert validate_plan(problem, both) == []
    # More served (here 44-46 against 37, with 23 left out at first).
    assert len(both.served) > len(first.served)
    # Every request is accounted for once, served or with a reason.
    ids = [*both.served, *(u.request_id for u in both.unserved)]
    assert sorted(ids) == sorted(r.id for r in problem.requests)
    # The merged trips keep one intent per trip, numbered per drone.
    assert len(both.intents) == sum(len(d.trips) for d in both.drones)
    for d in both.drones:
        numbers = sorted(i.trip for i in both.intents if i.drone_id == d.drone_id)
        assert numbers == list(range(1, len(d.trips) + 1))
