"""Rounds whose size follows the work: the drones one planning round counts on."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dispatch import cli
from routing.planner import ProblemError, plan
from routing.problem import DroneState
from routing.round_fleet import K_BEST, round_fleet
from routing.synthetic_city import city_problem


def test_a_large_fleet_is_cut_to_the_work_and_a_small_one_kept_whole() -> None:
    small = city_problem(1, n_requests=100, n_drones=20)
    assert round_fleet(small) is small
    big = city_problem(1, n_requests=100, n_drones=2000)
    kept = round_fleet(big)
    n = len(kept.fleet.drones)
    ports = len(big.fleet.ports)
    assert n <= 0.5 * 100 + K_BEST * ports * len(big.fleet.models) + ports
    assert n >= 0.5 * 100  # each request asks half a drone of its best place
    assert {d.port for d in kept.fleet.drones} == {p.id for p in big.fleet.ports}
    # Ten times more requests ask for more drones.
    busier = round_fleet(city_problem(1, n_requests=400, n_drones=2000))
    assert len(busier.fleet.drones) > n


def test_drones_in_the_air_or_carrying_documents_are_always_kept() -> None:
    big = city_problem(1, n_requests=10, n_drones=500)
    last = big.fleet.drones[-1]
    port = next(p for p in big.fleet.ports if p.id == last.port)
    flying = DroneState(last.id, port.lon + 0.01, port.lat, big.at, 100.0, port=None)
    problem = dataclasses.replace(big, drone_states=(flying,))
    kept = round_fleet(problem)
    assert last.id in {d.id for d in kept.fleet.drones}
    assert kept.drone_states == (flying,)


def test_only_drones_that_can_carry_a_request_are_asked_for_it() -> None:
    base = city_problem(1, n_requests=30, n_drones=600)
    light = min(m.max_payload_kg for m in base.fleet.models.values())
    heavy = tuple(dataclasses.replace(r, weight_kg=light + 0.1) for r in base.requests)
    kept = round_fleet(dataclasses.replace(base, requests=heavy))
    able = {n for n, m in kept.fleet.models.items() if m.max_payload_kg >= light + 0.1}
    assert {d.model for d in kept.fleet.drones} <= able


def test_a_round_with_a_thousand_drones_plans_and_validates() -> None:
    problem = city_problem(1, n_requests=60, n_drones=1000)
    result = plan(problem, seconds=1.0)  # plan() validates its result or raises
    used = {d.drone_id for d in result.drones}
    assert len(result.served) >= 30
    assert used <= {d.id for d in round_fleet(problem).fleet.drones}


def test_bench_round_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "round", "--drones", "300", "--requests", "20", "--seconds", "0.5"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(line) == {"drones", "requests", "vehicles", "wall_s", "served", "km", "stages", "intake_s"}
    assert line["drones"] == 300 and line["requests"] == 20 and 0 < line["vehicles"] < 300
    stages = line["stages"]
    for name in ("matrices", "pre-checks", "model build", "search", "deconfliction", "validation"):
        assert 0 < stages[name] < line["wall_s"], name
    assert stages["model build"] + stages["search"] <= stages["solve"]
    assert 0 < line["intake_s"] < line["wall_s"]
    assert cli.main(["bench", "round", "--drones", "0"]) == 2
    assert "--drones" in capsys.readouterr().err


def test_a_state_of_an_unknown_drone_is_not_dropped_but_left_to_the_planner_to_refuse() -> None:
    problem = city_problem(1, n_requests=20, n_drones=200)
    port = problem.fleet.ports[0]
    ghost = DroneState("ghost", port.lon, port.lat, problem.at, 100.0, port=port.id)
    problem = dataclasses.replace(problem, drone_states=(ghost,))
    assert round_fleet(problem) is problem
    with pytest.raises(ProblemError, match="unknown drone 'ghost'"):
        plan(problem, seconds=0.5)
