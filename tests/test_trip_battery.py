"""Trips the battery can fly (``routing.trip_battery``): a route whose trip needs more energy than
its drone may use loses requests, normal before urgent, until it fits; the validator agrees."""

from __future__ import annotations

from dataclasses import replace

from bench.bench_city import city_problem
from routing.mapping import DROPOFF_NODE, PICKUP_NODE, NodeInfo
from routing.planner import SetUp, set_up
from routing.problem import DroneState, PlanningProblem
from routing.schedule import realise
from routing.trip_battery import within_battery


def _low_battery(problem: PlanningProblem, drone_index: int, share: float) -> PlanningProblem:
    """``problem`` with one drone at its port holding ``share`` of its battery, free now."""
    drone = problem.fleet.drones[drone_index]
    port = next(p for p in problem.fleet.ports if p.id == drone.port)
    battery = problem.fleet.model_of(drone).battery_wh
    state = DroneState(drone.id, port.lon, port.lat, problem.at, battery * share, port=port.id)
    return replace(problem, drone_states=(state,))


def _visits(ready: SetUp, *ids: str) -> list[NodeInfo]:
    """The pickup of each request in ``ids``, then their drop-offs, in that order."""
    nodes = {(n.kind, n.ref): n for n in ready.mapping.nodes}
    return [nodes[(PICKUP_NODE, r)] for r in ids] + [nodes[(DROPOFF_NODE, r)] for r in ids]


def _setting(share: float, urgent: str | None = None) -> tuple[SetUp, int, list[str]]:
    problem = _low_battery(city_problem(4, n_requests=12, n_drones=4), 0, share)
    if urgent is not None:
        problem = replace(
            problem,
            requests=tuple(replace(r, priority="urgent") if r.id == urgent else r for r in problem.requests),
        )
    ready = set_up(problem)
    v = next(k for k, s in enumerate(ready.prep.starts) if s.drone.id == problem.fleet.drones[0].id)
    model = ready.prep.starts[v].model
    weight = {q.id: q.weight_kg for q in problem.requests}
    able = [r for r in ready.candidates if weight[r] * 2 <= model.max_payload_kg]
    return ready, v, able[:2]


def _first_out(ready: SetUp, v: int, ids: list[str]) -> list[str]:
    stops: list[list[NodeInfo]] = [[] for _ in ready.prep.starts]
    stops[v] = _visits(ready, *ids)
    return list(within_battery(ready.prep, stops, ready.candidates)[1])


def test_a_trip_over_what_the_battery_has_left_loses_requests_until_it_fits() -> None:
    ready, v, (a, b) = _setting(0.3)  # barely above the reserve, and it leaves before a swap
    route = _visits(ready, a, b)
    stops: list[list[NodeInfo]] = [[] for _ in ready.prep.starts]
    stops[v] = route
    before = realise(ready.prep, v, route, ready.candidates).plan
    assert before is not None
    start = ready.prep.starts[v]
    budget = start.energy_wh - start.model.battery_wh * start.model.reserve_fraction
    assert before.trips[0].energy_wh > budget, "the setting must start over budget"
    kept, out = within_battery(ready.prep, stops, ready.candidates)
    assert out and set(out) <= {a, b}
    assert all("Wh" in why for why in out.values())
    after = realise(ready.prep, v, kept[v], ready.candidates).plan
    assert after is None or after.trips[0].energy_wh <= budget + 1e-6


def test_a_trip_within_the_battery_is_left_as_it_is() -> None:
    ready, v, (a, _) = _setting(1.0)
    stops: list[list[NodeInfo]] = [[] for _ in ready.prep.starts]
    stops[v] = _visits(ready, a)
    kept, out = within_battery(ready.prep, stops, ready.candidates)
    assert out == {} and kept == stops


def test_an_urgent_request_stays_while_a_normal_one_can_go() -> None:
    ready, v, pair = _setting(0.3)
    first = _first_out(ready, v, pair)[0]  # both normal: the one carrying more goes first
    other = next(r for r in pair if r != first)
    ready, v, pair2 = _setting(0.3, urgent=first)
    assert pair2 == pair
    assert _first_out(ready, v, pair)[0] == other, "the normal request goes before the urgent one"
