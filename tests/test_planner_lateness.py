"""The drone planner puts a cost on time: a busy drone that will end its mission next to a pickup
no longer beats an idle drone that delivers sooner; the benchmark instances stay distance-only."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from routing.engine import solve
from routing.engine_evaluation import check_solution, earliest_arrivals, objective, route_distance
from routing.feasibility import precheck
from routing.mapping import build_instance
from routing.planner import kept_after_passes, plan, serving_most
from routing.prepared import prepare
from routing.problem import DroneState, Plan
from routing.second_pass import Draft
from routing.validate import validate_plan
from tests.planner_fixtures import T0, at_m, model, problem, request


def two_ports() -> dict[str, Any]:
    """Port P at the origin with D0, port Q 4 km east with D1."""
    p, q = at_m(0, 0), at_m(4000, 0)
    return {
        "models": {"m": model()},
        "ports": [
            {"id": "P", "lon": p[0], "lat": p[1], "drones": [{"id": "D0", "model": "m"}]},
            {"id": "Q", "lon": q[0], "lat": q[1], "drones": [{"id": "D1", "model": "m"}]},
        ],
    }


def busy_and_idle(busy_for_min: float) -> Any:
    """A request next to P while D0 (at P) is busy for ``busy_for_min`` and D1 (at Q) is idle."""
    base = problem([], two_ports(), [request("R", at_m(200, 0), at_m(1500, 1500), deadline=240)])
    busy = DroneState("D0", 0.0, 0.0, T0 + timedelta(minutes=busy_for_min), 300.0, port="P")
    idle = DroneState("D1", 0.0, 0.0, T0, 300.0, port="Q")
    return replace(base, drone_states=(busy, idle))


def test_an_idle_drone_further_away_beats_a_busy_one_next_to_the_pickup() -> None:
    p = busy_and_idle(busy_for_min=12)
    result = plan(p, seconds=1, workers=1)
    assert validate_plan(p, result) == []
    assert result.etas["R"].drone_id == "D1"


def test_a_busy_drone_that_is_free_almost_at_once_still_serves() -> None:
    # Free in 30 s at the pickup's doorstep: it delivers sooner than D1 flying 3.8 km.
    p = busy_and_idle(busy_for_min=0.5)
    result = plan(p, seconds=1, workers=1)
    assert validate_plan(p, result) == []
    assert result.etas["R"].drone_id == "D0"


def test_engine_objective_counts_lateness_on_the_earliest_schedule() -> None:
    p = busy_and_idle(busy_for_min=12)
    prep = prepare(p)
    candidates = [precheck(prep, r).candidate for r in p.requests]
    instance = build_instance(prep, [c for c in candidates if c is not None]).instance
    assert instance.lateness_cost, "drone planning carries a cost on time"
    solution = solve(instance, time_limit_s=0.5, workers=1, engine="ortools")
    (v,) = [v for v, r in enumerate(solution.routes) if r]
    assert v == 1, "the idle drone D1"
    # Distance alone waits for the busy D0, which flies 3.6 km less.
    distance_only = replace(instance, lateness_cost={})
    alone = solve(distance_only, time_limit_s=0.5, workers=1, engine="ortools")
    assert [v for v, r in enumerate(alone.routes) if r] == [0]
    route = solution.routes[v]
    # OR-Tools times the visits at their earliest, which is what the objective charges.
    assert solution.arrival[v] == earliest_arrivals(instance, v, route)
    late = sum(
        c * max(0, t - b)
        for node, t in zip(route, solution.arrival[v], strict=True)
        if node in instance.lateness_cost
        for b, c in [instance.lateness_cost[node]]
    )
    assert late > 0
    assert solution.objective == objective(instance, solution.routes)
    assert solution.objective == route_distance(instance, v, route) + late


def test_alternatives_are_the_search_s_other_feasible_solutions() -> None:
    p = busy_and_idle(busy_for_min=12)
    prep = prepare(p)
    candidates = [precheck(prep, r).candidate for r in p.requests]
    instance = build_instance(prep, [c for c in candidates if c is not None]).instance
    plain = solve(instance, time_limit_s=0.5, workers=1, engine="ortools")
    assert plain.alternatives == []
    best = solve(instance, time_limit_s=0.5, workers=1, engine="ortools", alternatives=True)
    assert [v for v, r in enumerate(best.routes) if r] == [1]
    assert best.alternatives, "the distance-only phase's solution at least"
    for other in best.alternatives:
        assert check_solution(instance, other) == []
        assert other.objective >= best.objective
        assert other.objective == objective(instance, other.routes)
    # The distance-only phase waits for the busy D0: the one the deconfliction may prefer.
    assert any([v for v, r in enumerate(o.routes) if r] == [0] for o in best.alternatives)


def test_of_the_drafts_the_one_serving_most_urgent_then_most_requests_is_kept() -> None:
    def draft_serving(*served: str) -> Draft:
        return Draft.checked(Plan(T0, (), served, ()))

    best, fewer, more, more_urgent, more_too = (
        draft_serving("A", "B"),
        draft_serving("A"),
        draft_serving("A", "B", "C"),
        draft_serving("U", "A"),
        draft_serving("A", "B", "D"),
    )
    assert serving_most([best, fewer], set()) is best
    assert serving_most([best, fewer, more, more_too], set()) is more, "the first of equals"
    assert serving_most([best, more, more_urgent], {"U"}) is more_urgent
    assert serving_most([best], {"U"}) is best


def test_of_the_drafts_the_one_serving_most_after_its_passes_is_kept() -> None:
    def draft_serving(*served: str) -> Draft:
        return Draft.checked(Plan(T0, (), served, ()))

    best, distance_only = draft_serving("A", "B", "C"), draft_serving("A", "B")
    gains = {id(best): ("D",), id(distance_only): ("C", "D", "E")}
    seen: list[Draft] = []

    def passes(first: Draft) -> Plan:
        seen.append(first)
        return Plan(T0, (), (*first.plan.served, *gains[id(first)]), ())

    kept = kept_after_passes([best, distance_only], passes, set())
    assert seen == [best, distance_only], "every draft gets its passes"
    assert set(kept.served) == {"A", "B", "C", "D", "E"}, "fewer before its passes, more after"
    gains[id(best)] = ("U",)
    assert set(kept_after_passes([best, distance_only], passes, {"U"}).served) == {"A", "B", "C", "U"}
