"""The planner's second pass: requests deconfliction left out are planned again after the trips
placed, and the merged plan is valid (the validator checks it independently)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise

from bench.bench_city import city_problem
from bench.bench_deconfliction import with_layers
from routing.intents import IntentParams, OperationalIntent
from routing.planner import draft, plan
from routing.problem import Plan, PlanningProblem
from routing.second_pass import Draft, left_out, plan_in_chunks, plan_left_out
from routing.validate import Violation, validate_plan


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


def test_a_round_larger_than_one_search_is_planned_in_valid_chunks() -> None:
    problem = city_problem(3, n_requests=45, n_drones=8, n_ports=2, n_pads=10, size_m=7000.0, n_zones=5)
    whole = plan(problem, seconds=1.5, seed=1, chunk_size=15)
    assert validate_plan(problem, whole) == []
    ids = [*whole.served, *(u.request_id for u in whole.unserved)]
    assert sorted(ids) == sorted(r.id for r in problem.requests)
    assert len(whole.served) >= 25, (  # 32 here; one search of all 45: 40
        len(whole.served),
        [u.reason for u in whole.unserved],
    )
    # Urgent requests went in the first chunk: none is left out for capacity while a normal one flies.
    urgent = {r.id for r in problem.requests if r.urgent}
    assert not {u.request_id for u in whole.unserved if u.reason == "no_capacity"} & urgent
    for d in whole.drones:
        numbers = sorted(i.trip for i in whole.intents if i.drone_id == d.drone_id)
        assert numbers == list(range(1, len(d.trips) + 1))
        # Each drone's trips follow one another (chunks start it where the last left it).
        legs = [t.legs for t in d.trips]
        assert all(a[-1].arrive <= b[0].depart for a, b in pairwise(legs))


def test_a_chunk_whose_merge_is_invalid_is_left_out_with_those_after_it() -> None:
    # A solver that ignores the plan so far for the second chunk (it plans every drone from its
    # original start): the final check refuses the merge, and the first chunk alone is kept.
    problem = city_problem(3, n_requests=45, n_drones=8, n_ports=2, n_pads=10, size_m=7000.0, n_zones=5)
    calls: list[int] = []

    def solve(sub: PlanningProblem, active: Sequence[OperationalIntent], seconds: float) -> Draft:
        calls.append(len(calls))
        if len(calls) == 2:
            sub = replace(sub, drone_states=problem.drone_states)
            active = ()
        return draft(sub, seconds=seconds, seed=1, active_intents=active)

    whole = plan_in_chunks(problem, solve, size=15, seconds=1.5)
    assert len(calls) == 3
    assert validate_plan(problem, whole) == []
    ids = [*whole.served, *(u.request_id for u in whole.unserved)]
    assert sorted(ids) == sorted(r.id for r in problem.requests)
    left = {u.request_id for u in whole.unserved if u.detail == "its part of a large round did not fit"}
    assert len(left) == 30  # the second and third chunks


def test_a_pass_whose_plan_the_check_refuses_falls_back_to_the_plan_before_it() -> None:
    # A pass that ignores the plan so far (every drone from its original start, no intents in
    # force): folded in, its trips overlap the first plan's, the final check refuses the whole,
    # and the first plan is checked and returned on its own.
    problem = city_problem(2, n_requests=60, n_drones=10, n_ports=1, n_pads=6, size_m=6000.0, n_zones=5)
    problem = replace(problem, fleet=with_layers(problem.fleet))
    first = draft(problem, seconds=1.0, seed=1)
    out = left_out(first.plan)
    assert out, "the scenario must leave requests out for a pass to run"
    passes: list[tuple[int, int]] = []  # per pass: requests planned, served

    def careless(sub: PlanningProblem, active: Sequence[OperationalIntent]) -> Plan:
        made = plan(replace(sub, drone_states=problem.drone_states), seconds=0.5, seed=1)
        passes.append((len(sub.requests), len(made.served)))
        return made

    result = plan_left_out(problem, first, careless, separation=IntentParams(), passes=1)
    assert [n for n, _ in passes] == [len(out)] and passes[0][1] > 0, passes  # it served some
    assert validate_plan(problem, result) == []
    assert set(result.served) == set(first.plan.served)
    assert out <= {u.request_id for u in result.unserved}


def test_passes_refused_for_a_fault_of_the_first_plan_run_again_on_its_repair() -> None:
    # The first plan carries a fault the passes do not cause (an ETA an hour after its drop-off):
    # the plan after the passes is refused for it. The first plan's repair (here: the plan
    # without the fault) gets the passes again, and they are kept.
    problem = city_problem(2, n_requests=60, n_drones=10, n_ports=1, n_pads=6, size_m=6000.0, n_zones=5)
    problem = replace(problem, fleet=with_layers(problem.fleet))
    good = draft(problem, seconds=1.0, seed=1).finish(None)
    assert left_out(good), "the scenario must leave requests out for a pass to run"
    rid = good.served[0]
    late = replace(good.etas[rid], delivered_at=good.etas[rid].delivered_at + timedelta(hours=1))
    bad = replace(good, etas={**good.etas, rid: late})
    assert validate_plan(problem, bad, separation=IntentParams()), "the fault must be one the check sees"
    repairs: list[list[Violation] | None] = []

    def finish(violations: list[Violation] | None) -> Plan:
        repairs.append(violations)
        return good

    calls: list[int] = []

    def again(sub: PlanningProblem, active: Sequence[OperationalIntent]) -> Plan:
        calls.append(len(sub.requests))
        return plan(sub, seconds=0.5, seed=1, active_intents=active)

    result = plan_left_out(problem, Draft(bad, finish), again, separation=IntentParams(), passes=1)
    assert repairs == [None] and calls == [len(left_out(good))] * 2, (repairs, calls)
    assert validate_plan(problem, result, separation=IntentParams()) == []
    assert set(good.served) < set(result.served), "the passes on the repaired plan are kept"


def test_no_further_pass_after_one_that_served_fewer_than_the_minimum_gain() -> None:
    problem = city_problem(2, n_requests=60, n_drones=10, n_ports=1, n_pads=6, size_m=6000.0, n_zones=5)
    problem = replace(problem, fleet=with_layers(problem.fleet))
    first = draft(problem, seconds=1.0, seed=1)
    assert left_out(first.plan), "the scenario must leave requests out for a pass to run"
    calls: list[tuple[int, int]] = []  # per pass: requests planned, served

    def again(sub: PlanningProblem, active: Sequence[OperationalIntent]) -> Plan:
        # Each pass plans only the first half of the requests it is given: the other half stay
        # left out for the next pass, whatever the search finds in its time.
        half = sub.requests[: max(1, len(sub.requests) // 2)]
        made = plan(replace(sub, requests=half), seconds=0.5, seed=1, active_intents=active)
        calls.append((len(sub.requests), len(made.served)))
        return made

    result = plan_left_out(problem, first, again, separation=IntentParams(), passes=3)
    assert len(calls) >= 2 and calls[0][1] >= 1, calls  # the scenario runs a second pass
    assert calls[1][0] < calls[0][0], calls  # on what the first pass left
    assert validate_plan(problem, result) == []
    calls.clear()
    first = draft(problem, seconds=1.0, seed=1)
    plan_left_out(problem, first, again, separation=IntentParams(), passes=3, min_gain=len(problem.requests))
    assert len(calls) == 1, calls  # no pass after one that served fewer than the minimum
