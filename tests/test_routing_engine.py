"""The routing engines on small hand-built instances: each constraint of the Instance is honoured.

Every solve goes through the real solver (short time limits, one worker) and every answer is
verified by ``check_solution``, which recomputes loads, trip energy, windows and arcs on its own.
"""

from __future__ import annotations

import math
import random
from itertools import pairwise

import numpy as np
import pytest

from routing.engine import InvalidInstanceError, NoSolutionFound, choose_engine, solve
from routing.engine_evaluation import check_solution, objective
from routing.instance import FORBIDDEN, Instance, Solution, VehicleSpec
from routing.ortools_engine import MIN_SEARCH_S, arc_removals, search_floor_s

SECONDS = 1.0


def make_instance(
    points: list[tuple[float, float]],
    vehicles: list[VehicleSpec],
    *,
    pairs: list[tuple[int, int]] = (),
    penalties: list[int | None] | None = None,
    demand: dict[int, int] | None = None,
    windows: dict[int, tuple[int, int]] | None = None,
    horizon: int = 100_000,
    energy: bool = False,
    **extra: object,
) -> Instance:
    """Euclidean instance (rounded metres); travel time = distance; pairs move one unit."""
    n = len(points)
    xy = np.array(points, dtype=float)
    dist = np.rint(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    d = np.zeros(n, dtype=np.int64)
    for p, q in pairs:
        d[p], d[q] = 1, -1
    for node, value in (demand or {}).items():
        d[node] = value
    tw = np.array([[0, horizon]] * n, dtype=np.int64)
    for node, (lo, hi) in (windows or {}).items():
        tw[node] = (lo, hi)
    return Instance(
        distance=[dist],
        travel_time=[dist.copy()],
        time_windows=tw,
        demand=d,
        vehicles=vehicles,
        horizon=horizon,
        pairs=list(pairs),
        pair_penalty=list(penalties) if penalties is not None else [None] * len(pairs),
        pair_vehicles=[None] * len(pairs),
        energy=[dist.copy()] if energy else None,
        **extra,
    )


def feasible(instance: Instance, solution: Solution) -> Solution:
    problems = check_solution(instance, solution)
    assert problems == [], problems
    return solution


def trips(route: list[int], reloads: set[int]) -> list[list[int]]:
    """Split a route at its reload visits (reload nodes excluded)."""
    out: list[list[int]] = [[]]
    for node in route:
        if node in reloads:
            out.append([])
        else:
            out[-1].append(node)
    return [t for t in out if t]


def test_energy_budget_forces_a_second_trip_through_a_reload_node() -> None:
    # Two pairs on opposite sides of the port: each trip costs about 210 m, both together 420 m.
    points = [(0, 0), (0, 0), (0, 0), (100, 0), (100, 10), (-100, 0), (-100, 10)]
    vehicle = VehicleSpec(start=0, end=0, capacity=5, energy_capacity=250)
    inst = make_instance(points, [vehicle], pairs=[(3, 4), (5, 6)], energy=True, reload_nodes=[1, 2])
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1, engine="ortools"))
    assert sol.dropped_pairs == []
    route = sol.routes[0]
    assert len(trips(route, {1, 2})) == 2
    # Recompute each trip's energy independently: port -> visits -> port, within the budget.
    energy = inst.energy[0]
    path = [0, *route, 0]
    used, worst = 0, 0
    for a, b in pairwise(path):
        used += int(energy[a, b])
        worst = max(worst, used)
        if b in (1, 2):
            used = 0
    assert worst <= 250


def test_pair_beyond_the_energy_budget_is_dropped_not_flown() -> None:
    points = [(0, 0), (300, 0), (300, 10)]
    inst = make_instance(
        points,
        [VehicleSpec(start=0, end=0, capacity=5, energy_capacity=250)],
        pairs=[(1, 2)],
        penalties=[1000],
        energy=True,
    )
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1))
    assert sol.dropped_pairs == [0]
    assert sol.routes == [[]]
    assert sol.objective == 1000


@pytest.mark.parametrize("engine", ["ortools", "pyvrp"])
def test_capacity_makes_the_vehicle_deliver_before_the_next_pickup(engine: str) -> None:
    # Without the capacity limit the cheapest order is p1 p2 d1 d2.
    points = [(0, 0), (0, 10), (0, 11), (100, 10), (100, 11)]
    inst = make_instance(points, [VehicleSpec(start=0, end=0, capacity=1)], pairs=[(1, 3), (2, 4)])
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1, engine=engine))
    load = np.cumsum([inst.demand[node] for node in sol.routes[0]])
    assert load.max() == 1
    assert len(sol.routes[0]) == 4


@pytest.mark.parametrize("engine", ["ortools", "pyvrp"])
def test_urgent_pair_is_kept_over_a_cheaper_normal_one_when_only_one_fits(engine: str) -> None:
    points = [(0, 0), (10, 0), (20, 0), (0, 40), (0, 60)]
    # The shift allows one pair only (each round trip takes about 40 or 120 s).
    vehicle = VehicleSpec(start=0, end=0, capacity=5, end_time=130)
    inst = make_instance(points, [vehicle], pairs=[(1, 2), (3, 4)], penalties=[1_000, 1_000_000])
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1, engine=engine))
    assert sol.dropped_pairs == [0]
    assert sol.routes[0] == [3, 4]


def test_documents_on_board_are_delivered_by_their_vehicle_before_it_picks_up_more() -> None:
    # Node 3 is a delivery whose document is already on vehicle 1 (start_load); vehicle 0 is closer.
    points = [(0, 0), (50, 0), (0, 5), (5, 0), (6, 0)]
    vehicles = [
        VehicleSpec(start=0, end=0, capacity=1),
        VehicleSpec(start=1, end=1, capacity=1, start_load=1),
    ]
    inst = make_instance(
        points, vehicles, pairs=[(2, 4)], demand={3: -1}, forced_vehicle={3: 1}, node_penalty={}
    )
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1))
    assert 3 in sol.routes[1]
    if 2 in sol.routes[1]:
        assert sol.routes[1].index(3) < sol.routes[1].index(2)


def test_time_windows_impose_an_order_against_the_geometry() -> None:
    points = [(0, 0), (10, 0), (20, 0), (30, 0)]
    windows = {1: (200, 300), 2: (100, 150), 3: (0, 40)}
    inst = make_instance(
        points, [VehicleSpec(0, 0, 10)], windows=windows, node_penalty=dict.fromkeys([1, 2, 3])
    )
    for engine in ("ortools", "pyvrp"):
        sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1, engine=engine))
        assert sol.routes[0] == [3, 2, 1]
        for node, at in zip(sol.routes[0], sol.arrival[0], strict=True):
            assert windows[node][0] <= at <= windows[node][1]


def test_forbidden_arcs_are_never_used() -> None:
    points = [(0, 0), (10, 0), (20, 0), (30, 0), (40, 0)]
    inst = make_instance(points, [VehicleSpec(0, 0, 10)], node_penalty=dict.fromkeys([1, 2, 3, 4]))
    forbidden = [(0, 1), (1, 2), (2, 3), (3, 4)]  # the natural sweep outwards
    for a, b in forbidden:
        inst.distance[0][a, b] = FORBIDDEN
        inst.travel_time[0][a, b] = FORBIDDEN + 5
    for engine in ("ortools", "pyvrp"):
        sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1, engine=engine))
        path = [0, *sol.routes[0], 0]
        assert not set(pairwise(path)) & set(forbidden)
        assert sol.distance < FORBIDDEN


def test_warm_start_is_used_and_invalid_visits_are_skipped() -> None:
    points = [(0, 0), (10, 0), (10, 10), (0, 10), (20, 20), (30, 0)]
    inst = make_instance(points, [VehicleSpec(0, 0, 10), VehicleSpec(0, 0, 10)], pairs=[(1, 2), (3, 4)])
    # Node 5 has no role and node 99 does not exist: both must be skipped, the rest kept.
    inst.initial_routes = [[1, 2, 99], [5, 3, 4]]
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1, engine="ortools"))
    assert "warm" in sol.engine
    assert sol.objective <= objective(inst, [[1, 2], [3, 4]])


def test_plain_instances_go_to_pyvrp_which_drops_an_unprofitable_optional_node() -> None:
    points = [(0, 0), (10, 0), (0, 10), (5000, 5000)]
    inst = make_instance(
        points, [VehicleSpec(0, 0, 10), VehicleSpec(0, 0, 10)], node_penalty={1: None, 2: None, 3: 50}
    )
    assert choose_engine(inst) == "pyvrp"
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1))
    assert sol.engine.startswith("pyvrp")
    assert sol.dropped_nodes == [3]
    assert sol.distance == round(2 * 10 + math.hypot(10, 10))


def test_reloads_send_pairless_instances_to_ortools() -> None:
    inst = make_instance(
        [(0, 0), (0, 0), (10, 0)], [VehicleSpec(0, 0, 10)], node_penalty={2: None}, reload_nodes=[1]
    )
    assert choose_engine(inst) == "ortools"


# PyVRP warns that its penalties hit their bound: expected, the instance has no solution.
@pytest.mark.filterwarnings("ignore::pyvrp.exceptions.PenaltyBoundWarning")
@pytest.mark.parametrize("engine", ["ortools", "pyvrp"])
def test_mandatory_work_that_cannot_be_placed_raises(engine: str) -> None:
    points = [(0, 0), (1000, 0), (1000, 10)]
    inst = make_instance(points, [VehicleSpec(0, 0, 5)], pairs=[(1, 2)], windows={1: (0, 10)})
    with pytest.raises(NoSolutionFound):
        solve(inst, time_limit_s=SECONDS, workers=1, engine=engine)


def test_inconsistent_instances_are_refused_with_the_field_named() -> None:
    inst = make_instance([(0, 0), (10, 0)], [VehicleSpec(0, 0, 5)], node_penalty={7: None})
    with pytest.raises(InvalidInstanceError, match="node 7 out of range"):
        solve(inst, time_limit_s=SECONDS, workers=1)
    inst = make_instance([(0, 0), (10, 0), (20, 0)], [VehicleSpec(0, 0, 5)], pairs=[(1, 2)], penalties=[])
    with pytest.raises(InvalidInstanceError, match="pair_penalty"):
        solve(inst, time_limit_s=SECONDS, workers=1)


def test_two_workers_run_a_portfolio_and_return_a_feasible_best() -> None:
    points = [(0, 0), (10, 0), (10, 10), (0, 10), (20, 20)]
    vehicles = [VehicleSpec(0, 0, 10, fixed_cost=1000) for _ in range(3)]
    inst = make_instance(points, vehicles, pairs=[(1, 2), (3, 4)])
    sol = feasible(inst, solve(inst, time_limit_s=2.0, workers=2, engine="ortools"))
    assert sol.vehicles_used == 1
    assert sol.dropped_pairs == []


def test_pair_vehicles_restrict_who_may_carry_a_pair() -> None:
    points = [(0, 0), (100, 0), (5, 0), (6, 0)]
    vehicles = [VehicleSpec(start=0, end=0, capacity=1), VehicleSpec(start=1, end=1, capacity=1)]
    inst = make_instance(points, vehicles, pairs=[(2, 3)])
    inst.pair_vehicles = [[1]]
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1))
    assert sol.routes == [[], [2, 3]]


def test_energy_already_spent_sends_the_drone_to_a_port_before_its_first_trip() -> None:
    # Vehicle 0 has spent 200 of its 250 budget: it must reload (node 1) before the 210 m trip.
    # Vehicle 1 has no budget at all but is kept out by pair_vehicles.
    points = [(0, 0), (0, 0), (100, 0), (100, 10), (0, 0)]
    vehicles = [
        VehicleSpec(start=0, end=0, capacity=5, energy_capacity=250, start_energy_used=200),
        VehicleSpec(start=4, end=4, capacity=5),
    ]
    inst = make_instance(points, vehicles, pairs=[(2, 3)], energy=True, reload_nodes=[1])
    inst.pair_vehicles = [[0]]
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1))
    assert sol.routes[0] == [1, 2, 3]
    assert sol.routes[1] == []


def test_a_vehicle_without_budget_flies_what_a_budgeted_one_cannot() -> None:
    points = [(0, 0), (400, 0), (400, 10), (0, 0)]
    vehicles = [
        VehicleSpec(start=0, end=0, capacity=5, energy_capacity=250),
        VehicleSpec(start=3, end=3, capacity=5, fixed_cost=10_000),
    ]
    inst = make_instance(points, vehicles, pairs=[(1, 2)], energy=True)
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1))
    assert sol.routes == [[], [1, 2]]


def test_the_arcs_removed_from_the_model_are_every_forbidden_pair_of_indices() -> None:
    # The vectorised listing equals its definition, shared start/end nodes (several indices) included.
    rng = random.Random(3)
    for _ in range(100):
        n = rng.randint(1, 25)
        forbidden = np.array([[rng.random() < 0.3 for _ in range(n)] for _ in range(n)])
        from_indices: dict[int, list[int]] = {}
        to_indices: dict[int, list[int]] = {}
        for node in range(n):
            if rng.random() < 0.8:
                from_indices[node] = [10 * node + k for k in range(rng.randint(1, 3))]
            if rng.random() < 0.8:
                to_indices[node] = [10 * node + 5 + k for k in range(rng.randint(1, 3))]
        expected: dict[int, list[int]] = {}
        for a, b in np.argwhere(forbidden).tolist():
            for i in from_indices.get(a, []):
                expected.setdefault(i, []).extend(to_indices.get(b, []))
        got = arc_removals(forbidden, from_indices, to_indices)
        assert {i: sorted(js) for i, js in got.items()} == {i: sorted(js) for i, js in expected.items() if js}


def test_the_search_floor_shrinks_with_the_work_of_a_small_instance() -> None:
    # A search whose model build ate its time still gets a floor; on a round of a few requests the
    # full floor, paid by each of the lateness search's two runs, was most of the round.
    def floor(n_pairs: int) -> float:
        points = [(float(k), 0.0) for k in range(1 + 2 * n_pairs)]
        pairs = [(1 + 2 * k, 2 + 2 * k) for k in range(n_pairs)]
        return search_floor_s(make_instance(points, [VehicleSpec(start=0, end=0, capacity=5)], pairs=pairs))

    assert floor(1) < floor(6) < MIN_SEARCH_S
    assert floor(6) <= MIN_SEARCH_S / 2
    assert floor(40) == MIN_SEARCH_S  # a city's round keeps the whole floor


def test_a_visit_never_starts_in_a_forbidden_span_and_the_check_catches_one() -> None:
    # Straight out along a line: node 1 would be visited at 10, node 2 at 20; node 1 is forbidden
    # from 5 to 50 (a pad held by another flight), so its visit starts before 5 or after 50.
    points = [(0, 0), (10, 0), (20, 0)]
    inst = make_instance(
        points, [VehicleSpec(0, 0, 10)], pairs=[(1, 2)], windows={1: (8, 200)}, forbidden={1: [(5, 50)]}
    )
    assert choose_engine(inst) == "ortools"
    sol = feasible(inst, solve(inst, time_limit_s=SECONDS, workers=1))
    at = dict(zip(sol.routes[0], sol.arrival[0], strict=True))
    assert not 5 <= at[1] <= 50 and at[2] >= at[1] + 10
    moved = Solution(sol.routes, [[10, 20]], sol.objective, sol.distance, [], [], sol.engine, 0.0)
    assert any("forbidden time" in p for p in check_solution(inst, moved))
    reversed_span = make_instance(points, [VehicleSpec(0, 0, 10)], pairs=[(1, 2)], forbidden={1: [(9, 5)]})
    with pytest.raises(InvalidInstanceError, match="forbidden"):
        solve(reversed_span, time_limit_s=SECONDS, workers=1)
    held = make_instance(
        points,
        [VehicleSpec(0, 0, 10)],
        pairs=[(1, 2)],
        windows={1: (8, 200)},
        forbidden={1: [(0, 99), (100, 300)]},
    )
    with pytest.raises(InvalidInstanceError, match="whole time window"):
        solve(held, time_limit_s=SECONDS, workers=1)
