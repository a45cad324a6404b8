"""A large round over a large fleet planned by district: compact districts with drones of their own,
searched in a worker process while this one prepares and deconflicts the others, the whole
validated once (``routing.districts``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

import routing.districts
from bench.bench_city import city_problem
from dispatch.service.solver_pool import SolverPool
from routing.districts import Then, districts, plan_in_districts
from routing.instance import Instance, Solution
from routing.intents import OperationalIntent
from routing.planner import CHUNK_SIZE, DeconflictionParams, ProblemError, drafted, plan, set_up
from routing.problem import DroneState, Plan, PlanningProblem
from routing.processes import spawn_pool
from routing.second_pass import Draft
from routing.validate import Violation, validate_plan

SIZE = 30
SEPARATION = DeconflictionParams().intents


def _problem(**kw: Any) -> PlanningProblem:
    return city_problem(2, n_requests=90, n_drones=240, n_ports=6, size_m=12_000.0, n_zones=20, **kw)


def _accounted(problem: PlanningProblem, result: Plan) -> None:
    ids = [*result.served, *(u.request_id for u in result.unserved)]
    assert sorted(ids) == sorted(r.id for r in problem.requests)


def test_districts_are_compact_and_have_drones_of_their_own() -> None:
    problem = _problem()
    parts = districts(problem, SIZE)
    assert parts is not None and len(parts) >= 3
    ids = [r.id for p in parts for r in p.requests]
    assert sorted(ids) == sorted(r.id for r in problem.requests)
    assert all(len(p.requests) <= SIZE for p in parts)
    drones = [d.id for p in parts for d in p.fleet.drones]
    assert len(drones) == len(set(drones)), "no drone in two districts"
    assert len(drones) < len(problem.fleet.drones), "drones no request needs stay out"
    # Compact: a district's pickups are closer to its own centre than to the other centres, mostly.
    centres = [
        (
            sum(r.pickup[0] for r in p.requests) / len(p.requests),
            sum(r.pickup[1] for r in p.requests) / len(p.requests),
        )
        for p in parts
    ]

    def nearest(pt: tuple[float, float]) -> int:
        return min(
            range(len(centres)), key=lambda k: (centres[k][0] - pt[0]) ** 2 + (centres[k][1] - pt[1]) ** 2
        )

    own = sum(nearest(r.pickup) == k for k, p in enumerate(parts) for r in p.requests)
    assert own >= 0.8 * len(problem.requests)


def test_no_districts_for_a_round_that_fits_one_search_or_a_small_fleet() -> None:
    problem = _problem()
    assert districts(problem, len(problem.requests)) is None
    small = city_problem(2, n_requests=90, n_drones=30, n_ports=6, size_m=12_000.0, n_zones=20)
    assert districts(small, SIZE) is None


def test_a_state_of_an_unknown_drone_is_refused_not_dropped() -> None:
    problem = _problem()
    port = problem.fleet.ports[0]
    ghost = DroneState("ghost", port.lon, port.lat, problem.at, 100.0, port=port.id)
    problem = replace(problem, drone_states=(ghost,))
    assert districts(problem, SIZE) is None
    with pytest.raises(ProblemError, match="ghost"):
        plan(problem, seconds=1.0, chunk_size=SIZE)


def test_a_drone_carrying_documents_goes_with_their_district() -> None:
    problem = _problem()
    request = problem.requests[-1]
    drone = problem.fleet.drones[0]
    carrying = DroneState(
        drone.id,
        request.pickup[0],
        request.pickup[1],
        problem.at,
        problem.fleet.model_of(drone).battery_wh * 0.8,
        port=None,
        onboard=(request.id,),
    )
    parts = districts(replace(problem, drone_states=(carrying,)), SIZE)
    assert parts is not None
    home = next(p for p in parts if request.id in {r.id for r in p.requests})
    assert drone.id in {d.id for d in home.fleet.drones}
    assert all(drone.id not in {d.id for d in p.fleet.drones} for p in parts if p is not home)


def test_a_round_by_district_is_valid_and_accounts_for_every_request() -> None:
    problem = _problem()
    result = plan(problem, seconds=2.0, chunk_size=SIZE)
    assert validate_plan(problem, result) == []
    _accounted(problem, result)
    assert result.intents, "deconflicted"
    assert len(result.served) >= 0.6 * len(problem.requests)


def _prepare(sub: PlanningProblem) -> tuple[Instance, Then]:
    ready = set_up(sub)

    def then(solution: Solution, active: Sequence[OperationalIntent]) -> Draft:
        return drafted(ready, solution, active_intents=active)

    return ready.mapping.instance, then


def _breaking(target: PlanningProblem, handed: list[list[Violation] | None]) -> Any:
    """A ``prepare`` whose ``target`` district's draft loses one trip's intent (the whole must be
    refused); its ``finish`` records the violations it is handed."""

    def prepare(sub: PlanningProblem) -> tuple[Instance, Then]:
        instance, then = _prepare(sub)
        if sub is not target:
            return instance, then

        def broken_then(solution: Solution, active: Sequence[OperationalIntent]) -> Draft:
            made = then(solution, active)
            assert made.plan.intents
            broken = replace(made.plan, intents=made.plan.intents[1:])

            def finish(violations: list[Violation] | None) -> Plan:
                handed.append(violations)
                return made.finish(violations)

            return replace(made, plan=broken, finish=finish)

        return instance, broken_then

    return prepare


def _refused_whole(target: int) -> tuple[PlanningProblem, Plan, list[list[Violation] | None]]:
    """A round by district whose ``target`` district's draft lost one trip's intent; the plan and
    the violations that district's ``finish`` was handed, in order."""
    problem = _problem()
    parts = districts(problem, SIZE)
    assert parts is not None
    handed: list[list[Violation] | None] = []
    result = plan_in_districts(
        problem, parts, _breaking(parts[target], handed), seconds=1.5, separation=SEPARATION
    )
    return problem, result, handed


def test_the_district_a_refused_whole_blames_is_repaired_with_its_violations() -> None:
    problem, result, handed = _refused_whole(-1)
    # The last district: nothing was deconflicted against it, so its repair is all it takes.
    assert len(handed) == 1 and [v.kind for v in handed[0] or []] == ["intent_missing"]
    assert validate_plan(problem, result) == []
    _accounted(problem, result)


def test_a_repair_of_the_first_district_others_were_placed_against_leaves_a_valid_whole() -> None:
    problem, result, handed = _refused_whole(0)
    assert [v.kind for v in handed[0] or []] == ["intent_missing"]
    assert validate_plan(problem, result) == []
    _accounted(problem, result)


def test_without_a_worker_the_searches_are_made_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def closed(n: int) -> Any:
        pool = spawn_pool(n)
        pool.shutdown()
        return pool

    monkeypatch.setattr(routing.districts, "spawn_pool", closed)
    problem = _problem()
    parts = districts(problem, SIZE)
    assert parts is not None
    result = plan_in_districts(problem, parts, _prepare, seconds=1.5, separation=SEPARATION)
    assert validate_plan(problem, result, separation=SEPARATION) == []
    _accounted(problem, result)
    assert result.served and result.intents


def test_a_later_district_yields_to_the_intents_of_those_before() -> None:
    # Intents already in force and the earlier districts' both bind a district's trips.
    problem = _problem()
    first = plan(replace(problem, requests=problem.requests[:20]), seconds=1.0)
    later = replace(problem, at=problem.at + timedelta(seconds=1), requests=problem.requests[20:])
    result = plan(later, seconds=2.0, chunk_size=SIZE, active_intents=first.intents)
    assert validate_plan(later, result, active_intents=first.intents) == []
    _accounted(later, result)


async def test_a_round_by_district_planned_in_the_dispatcher_s_worker_is_valid(
    solver_pool: SolverPool,
) -> None:
    # The dispatcher plans in a worker process; the districts' searches run in that worker's own.
    problem = city_problem(1, n_requests=170, n_drones=400)
    assert districts(problem, CHUNK_SIZE) is not None
    result = await solver_pool.plan(problem, 2.0)
    assert validate_plan(problem, result) == []
    _accounted(problem, result)
    assert len(result.served) > 100
