"""Trips the battery can fly (``routing.trip_battery``): a route whose trip needs more energy than
its drone may use loses requests, normal before urgent, until it fits; the validator agrees. A
request taken out later (deconfliction, repair) leaves the port visits the battery can fly."""

from __future__ import annotations

from dataclasses import replace

from bench.bench_city import city_problem
from routing.mapping import DROPOFF_NODE, PICKUP_NODE, RELOAD_NODE, NodeInfo
from routing.planner import SetUp, set_up
from routing.problem import DroneState, PlanningProblem
from routing.schedule import realise
from routing.trip_battery import over_budget, within_battery, without, without_fitting


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


def _port(ready: SetUp, port_id: str) -> NodeInfo:
    return NodeInfo(RELOAD_NODE, ready.prep.port_site[port_id], port_id)


def test_two_port_visits_left_in_a_row_keep_the_one_the_battery_reaches() -> None:
    """Taking a request out of the trip between two port visits leaves them in a row; keeping the
    later one moves the end of the trip before it. Where that end is past the battery, the
    earlier port stays (the trip before as the engine had it)."""
    problem = city_problem(4, n_requests=12, n_drones=4, n_ports=2)
    ready = set_up(problem)
    prep, v = ready.prep, 0
    model = prep.starts[v].model
    near_far = None
    for a in ready.candidates:
        energy = {
            port.id: realise(prep, v, [*_visits(ready, a), _port(ready, port.id)], ready.candidates)
            .plan.trips[0]  # type: ignore[union-attr]
            .energy_wh
            for port in problem.fleet.ports
        }
        (near, e_near), (far, e_far) = sorted(energy.items(), key=lambda kv: kv[1])
        if e_far - e_near > 20.0:
            near_far = (a, near, far, (e_near + e_far) / 2)
            break
    assert near_far is not None, "the setting needs a drop-off much nearer one port than the other"
    a, near, far, budget = near_far
    # The drone leaves before a battery swap with ``budget`` above the reserve: only the near port fits.
    share = (budget + model.battery_wh * model.reserve_fraction) / model.battery_wh
    problem = _low_battery(problem, 0, share)
    ready = set_up(problem)
    prep = ready.prep
    v = next(k for k, s in enumerate(prep.starts) if s.drone.id == problem.fleet.drones[0].id)
    x, c = [r for r in ready.candidates if r != a][:2]
    route = [
        *_visits(ready, a),
        _port(ready, near),
        *_visits(ready, x),
        _port(ready, far),
        *_visits(ready, c),
    ]
    later = without(route, {x})
    assert later == [*_visits(ready, a), _port(ready, far), *_visits(ready, c)]
    assert over_budget(prep, v, realise(prep, v, later, ready.candidates).plan) is not None, (
        "the setting must take the first trip past the battery with the later port"
    )
    kept = without_fitting(prep, v, route, {x}, ready.candidates)
    assert kept == [*_visits(ready, a), _port(ready, near), *_visits(ready, c)]
    assert over_budget(prep, v, realise(prep, v, kept, ready.candidates).plan) is None


def test_keeping_both_port_visits_flies_from_one_port_to_the_other() -> None:
    ready, _v, (a, b) = _setting(1.0)
    p, q = (_port(ready, port.id) for port in ready.prep.problem.fleet.ports[:2])
    route = [*_visits(ready, a), p, *_visits(ready, b), q]
    assert without(route, {b}, "both") == [*_visits(ready, a), p, q]
    assert without(route, {b}, "earlier") == [*_visits(ready, a), p]
    assert without(route, {b}) == [*_visits(ready, a), q]
    assert without(route, {a, b}) == [], "port visits alone are no route"
