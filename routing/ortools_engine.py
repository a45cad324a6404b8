"""The OR-Tools engine. Every OR-Tools import of the project lives in this module.

OR-Tools' routing API is moving between modules across releases; keeping it behind this one
module means a move costs one edit. Matrices go in with ``RegisterTransitMatrix`` (measured: a
Python callback costs up to 2x in gap) and the first solution comes from
PARALLEL_CHEAPEST_INSERTION (PATH_CHEAPEST_ARC found nothing on R101/RC101 in 30 s).

Model, in OR-Tools terms:
- ``time`` dimension: travel_time per matrix class, waiting allowed (slack), node windows, vehicle
  start/end times, pickup before its delivery; ``lateness_cost`` as soft upper bounds of the cumul.
- ``load`` dimension: demand, capacity, ``start_load`` at the start, cumul fixed to 0 on arrival
  at a reload node (it must arrive empty).
- ``energy`` dimension (when the instance has an energy matrix and a budget): cumul = energy used
  on the current trip, padded by slack so that it is an upper bound of the true use. On arrival at
  a reload node the cumul is fixed to the common budget ``B``; the transit out of a reload node is
  ``energy - b_v`` (negative), so the next trip starts from ``B - b_v`` + its first leg: the
  "cvrp_reload" reset, exact in both directions (slack can only over-estimate).
- Forbidden arcs (``>= FORBIDDEN``): removed from ``NextVar`` when forbidden for every vehicle and
  given an infeasible travel time (horizon + 1) in the classes that forbid them, so no big number
  ever reaches a cumul.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routing.engine_errors import EngineError, NoSolutionFound
from routing.engine_evaluation import (
    has_mandatory_work,
    make_solution,
    nothing_served,
    objective,
    route_distance,
    serves_all_mandatory,
    unpaired_nodes,
)
from routing.instance import FORBIDDEN, Instance, Solution
from routing.stages import stage

_FIRST = routing_enums_pb2.FirstSolutionStrategy
_META = routing_enums_pb2.LocalSearchMetaheuristic
_STATUS = routing_enums_pb2.RoutingSearchStatus
# Share of the time spent placing the work on distance alone before lateness costs count: on a
# large instance placing everything is the hard part (100 city requests: 92 served at 5 s with
# 0.75, 86-88 with 0.4); on a small one it is quick, and the choice of drone is what matters
# (idle-fleet latency: p95 0.44 s with 0.4, 1.7 s with 0.75).
LATENESS_FIRST_SHARE = {"small": 0.4, "large": 0.75}
LATENESS_LARGE_PAIRS = 30


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """One OR-Tools search configuration of the portfolio."""

    name: str
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    # Vehicles first: after a first phase, repeatedly empty the smallest route, cap the active
    # vehicles one lower and let the search reinsert its visits (they become heavily penalised
    # optional work meanwhile); keep the fleet reduction when every visit finds a place again.
    reduce_vehicles: bool = False
    first_phase_share: float = 0.3


MIN_SEARCH_S = 0.1  # a search whose model took its whole time still looks for a first solution
# ... scaled down for small instances: a round of a few requests finds its first solution in
# milliseconds, and the floor paid twice (the lateness search's two runs) was most of such a round.
MIN_SEARCH_S_PER_VISIT = 0.005  # per request (pair) or customer to place


@dataclass(slots=True)
class _Model:
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time: pywrapcp.RoutingDimension


def _forbidden_mask(instance: Instance, c: int) -> np.ndarray:
    mask = (instance.distance[c] >= FORBIDDEN) | (instance.travel_time[c] >= FORBIDDEN)
    if instance.energy is not None:
        mask |= instance.energy[c] >= FORBIDDEN
    np.fill_diagonal(mask, False)
    return mask


def _cost(instance: Instance, c: int, masks: dict[int, np.ndarray]) -> np.ndarray:
    dist = instance.distance[c]
    cap = int(dist[~masks[c]].max(initial=0))
    return np.where(masks[c], cap, dist)


def _time(instance: Instance, c: int, masks: dict[int, np.ndarray]) -> np.ndarray:
    tt = np.minimum(instance.travel_time[c], instance.horizon + 1)
    return np.where(masks[c], instance.horizon + 1, tt)


class _Tables:
    """What every model of one instance's matrices shares: the forbidden-arc masks, the matrices
    as the Python lists OR-Tools copies, the arcs to remove. A solve builds several models of one
    instance (distance first, then lateness; vehicle reduction), and converting ~10^6-entry
    matrices to lists cost more than the rest of a build."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._masks: dict[int, np.ndarray] = {}
        self._lists: dict[tuple[object, ...], list[list[int]]] = {}
        self._removals: dict[int, list[int]] | None = None

    def same(self, instance: Instance) -> bool:
        """Whether ``instance`` has this one's matrices and vehicles (e.g. a ``replace`` of it)."""
        a, b = self.instance, instance
        return (
            a.distance is b.distance
            and a.travel_time is b.travel_time
            and a.energy is b.energy
            and a.vehicles is b.vehicles
            and a.horizon == b.horizon
            and a.n_nodes == b.n_nodes
        )

    def masks(self, classes: list[int]) -> dict[int, np.ndarray]:
        """The forbidden-arc mask of each matrix class."""
        for c in classes:
            if c not in self._masks:
                self._masks[c] = _forbidden_mask(self.instance, c)
        return {c: self._masks[c] for c in classes}

    def lists(self, key: tuple[object, ...], matrix: Callable[[], np.ndarray]) -> list[list[int]]:
        """``matrix()`` as lists, converted once per key."""
        if key not in self._lists:
            self._lists[key] = matrix().tolist()
        return self._lists[key]

    def removals(self, compute: Callable[[], dict[int, list[int]]]) -> dict[int, list[int]]:
        """The forbidden arcs to remove, per routing index, computed once."""
        if self._removals is None:
            self._removals = compute()
        return self._removals


_last_tables: list[_Tables] = []  # the tables of the instance solved last (one process, one solve)


def _tables_of(instance: Instance) -> _Tables:
    if _last_tables and _last_tables[0].same(instance):
        return _last_tables[0]
    _last_tables[:] = [_Tables(instance)]
    return _last_tables[0]


def _energy_budgets(instance: Instance) -> tuple[list[int], int] | None:
    """Per-vehicle trip budgets and their common maximum ``B``; None when energy is not limited."""
    if instance.energy is None or all(v.energy_capacity is None for v in instance.vehicles):
        return None
    finite = [np.where(e >= FORBIDDEN, 0, e) for e in instance.energy]
    # A vehicle without a budget gets one no route can reach: every node's largest leg, summed.
    unlimited = max(int(f.max(axis=1).sum()) for f in finite) + 1
    budgets = [unlimited if v.energy_capacity is None else v.energy_capacity for v in instance.vehicles]
    return budgets, max(budgets)


def _build(
    instance: Instance,
    *,
    max_active: int | None = None,
    soft_penalty: int | None = None,
) -> _Model:
    """The OR-Tools model of ``instance``; ``soft_penalty`` makes mandatory work optional at that cost."""
    n = instance.n_nodes
    vehicles = instance.vehicles
    starts = [v.start for v in vehicles]
    ends = [v.end for v in vehicles]
    manager = pywrapcp.RoutingIndexManager(n, len(vehicles), starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()
    horizon = instance.horizon
    classes = sorted({v.matrix_class for v in vehicles})
    tables = _tables_of(instance)
    masks = tables.masks(classes)

    # Arc costs and travel times, per matrix class.
    cost_eval: dict[int, int] = {}
    time_eval: dict[int, int] = {}
    for c in classes:
        cost_eval[c] = routing.RegisterTransitMatrix(
            tables.lists(("cost", c), functools.partial(_cost, instance, c, masks))
        )
        time_eval[c] = routing.RegisterTransitMatrix(
            tables.lists(("time", c), functools.partial(_time, instance, c, masks))
        )
    for v, spec in enumerate(vehicles):
        routing.SetArcCostEvaluatorOfVehicle(cost_eval[spec.matrix_class], v)
        routing.SetFixedCostOfVehicle(int(spec.fixed_cost), v)

    routing.AddDimensionWithVehicleTransits(
        [time_eval[v.matrix_class] for v in vehicles], horizon, horizon, False, "time"
    )
    time_dim = routing.GetDimensionOrDie("time")
    depot_nodes = set(starts) | set(ends)
    for node in range(n):
        if node not in depot_nodes:
            time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(
                int(instance.time_windows[node, 0]), int(instance.time_windows[node, 1])
            )
    for v, spec in enumerate(vehicles):
        start_lo = max(spec.start_time, int(instance.time_windows[spec.start, 0]))
        end_hi = min(
            horizon if spec.end_time is None else spec.end_time, int(instance.time_windows[spec.end, 1])
        )
        time_dim.CumulVar(routing.Start(v)).SetRange(
            start_lo, max(start_lo, int(instance.time_windows[spec.start, 1]))
        )
        time_dim.CumulVar(routing.End(v)).SetRange(int(instance.time_windows[spec.end, 0]), end_hi)
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(v)))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
    for node, (bound, coefficient) in instance.lateness_cost.items():
        time_dim.SetCumulVarSoftUpperBound(manager.NodeToIndex(node), int(bound), int(coefficient))
    for node, spans in instance.forbidden.items():
        for lo, hi in spans:
            time_dim.CumulVar(manager.NodeToIndex(node)).RemoveInterval(int(lo), int(hi))

    demand_eval = routing.RegisterUnaryTransitVector([int(d) for d in instance.demand])
    routing.AddDimensionWithVehicleCapacity(
        demand_eval, 0, [int(v.capacity) for v in vehicles], False, "load"
    )
    load_dim = routing.GetDimensionOrDie("load")
    for v, spec in enumerate(vehicles):
        load_dim.CumulVar(routing.Start(v)).SetValue(int(spec.start_load))
    for node in instance.reload_nodes:
        load_dim.CumulVar(manager.NodeToIndex(node)).SetValue(0)

    budgets = _energy_budgets(instance)
    if budgets is not None:
        _add_energy(instance, manager, routing, tables, masks, *budgets)

    # Arcs forbidden for every vehicle leave the search space altogether.
    common = np.logical_and.reduce([masks[c] for c in classes])
    if common.any():
        from_indices: dict[int, list[int]] = {}
        to_indices: dict[int, list[int]] = {}
        for v in range(len(vehicles)):
            from_indices.setdefault(starts[v], []).append(routing.Start(v))
            to_indices.setdefault(ends[v], []).append(routing.End(v))
        for node in range(n):
            if node not in depot_nodes:
                from_indices[node] = to_indices[node] = [manager.NodeToIndex(node)]

        # One RemoveValues call per index (a large fleet forbids hundreds of thousands of arcs).
        def removed() -> dict[int, list[int]]:
            return arc_removals(common, from_indices, to_indices)

        for i, js in tables.removals(removed).items():
            routing.NextVar(i).RemoveValues(js)

    # Work: pairs, unpaired visits, reloads; nodes without a role are never visited.
    roles: set[int] = set()
    for k, (p, d) in enumerate(instance.pairs):
        pi, di = manager.NodeToIndex(p), manager.NodeToIndex(d)
        routing.AddPickupAndDelivery(pi, di)
        solver.Add(routing.VehicleVar(pi) == routing.VehicleVar(di))
        solver.Add(time_dim.CumulVar(pi) <= time_dim.CumulVar(di))
        penalty = instance.pair_penalty[k] if instance.pair_penalty[k] is not None else soft_penalty
        if penalty is not None:
            routing.AddDisjunction([pi], int(penalty))
            routing.AddDisjunction([di], 0)
        allowed = instance.pair_vehicles[k] if k < len(instance.pair_vehicles) else None
        if allowed is not None:
            _allow_vehicles(routing, pi, allowed)
            _allow_vehicles(routing, di, allowed)
        roles |= {p, d}
    for node in unpaired_nodes(instance):
        index = manager.NodeToIndex(node)
        pen = instance.node_penalty.get(node)
        penalty = pen if pen is not None else soft_penalty
        if penalty is not None:
            routing.AddDisjunction([index], int(penalty))
        if node in instance.forced_vehicle:
            _allow_vehicles(routing, index, [instance.forced_vehicle[node]])
        roles.add(node)
    for node in instance.reload_nodes:
        routing.AddDisjunction([manager.NodeToIndex(node)], 0)
        roles.add(node)
    for node in set(range(n)) - roles - depot_nodes:
        index = manager.NodeToIndex(node)
        routing.AddDisjunction([index], 0)
        routing.ActiveVar(index).SetValue(0)

    if max_active is not None:
        routing.SetMaximumNumberOfActiveVehicles(max_active)
    return _Model(manager, routing, time_dim)


def arc_removals(
    forbidden: np.ndarray, from_indices: dict[int, list[int]], to_indices: dict[int, list[int]]
) -> dict[int, list[int]]:
    """Per routing index ``i`` of a node ``a``, the indices ``j`` of every node ``b`` with
    ``forbidden[a, b]`` (a node has several indices where vehicles share it as start or end)."""

    def pairs(indices: dict[int, list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nodes = np.array([a for a, idx in indices.items() for _ in idx], dtype=np.int64)
        values = np.array([i for idx in indices.values() for i in idx], dtype=np.int64)
        order = np.argsort(nodes, kind="stable")
        count = np.bincount(nodes, minlength=len(forbidden)) if len(nodes) else np.zeros(len(forbidden), int)
        return values[order], count, np.cumsum(count) - count

    def expand(
        keys: np.ndarray, table: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        values, count, first = table
        k = count[keys]
        rows = np.repeat(np.arange(len(keys)), k)
        offset = np.arange(len(rows)) - np.repeat(np.cumsum(k) - k, k)
        return rows, values[np.repeat(first[keys], k) + offset]

    a, b = np.nonzero(forbidden)
    rows, i = expand(a, pairs(from_indices))
    rows2, j = expand(b[rows], pairs(to_indices))
    i = i[rows2]
    if not len(i):
        return {}
    order = np.argsort(i, kind="stable")
    i, j = i[order], j[order]
    keys, starts = np.unique(i, return_index=True)
    return {int(key): part.tolist() for key, part in zip(keys, np.split(j, starts[1:]), strict=True)}


def _allow_vehicles(routing: pywrapcp.RoutingModel, index: int, vehicles: list[int]) -> None:
    # SetAllowedVehiclesForIndex's binding rejects every Python sequence in OR-Tools 9.15
    # ("argument 2 of type absl::Span<int const>"); restricting VehicleVar is equivalent
    # (-1 stays allowed: it means "not visited", which the disjunctions govern).
    routing.VehicleVar(index).SetValues([-1, *vehicles])


def _add_energy(
    instance: Instance,
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    tables: _Tables,
    masks: dict[int, np.ndarray],
    budgets: list[int],
    ceiling: int,
) -> None:
    assert instance.energy is not None
    reload_rows = np.zeros(instance.n_nodes, dtype=bool)
    reload_rows[instance.reload_nodes] = True
    evaluators: dict[tuple[int, int], int] = {}
    for spec, budget in zip(instance.vehicles, budgets, strict=True):
        key = (spec.matrix_class, budget)
        if key in evaluators:
            continue

        def matrix(c: int = spec.matrix_class, budget: int = budget) -> np.ndarray:
            e = np.minimum(instance.energy[c], ceiling + 1)  # type: ignore[index]  # checked above
            e = np.where(reload_rows[:, None], e - budget, e)
            return np.where(masks[c], ceiling + 1, e)

        evaluators[key] = routing.RegisterTransitMatrix(tables.lists(("energy", *key, ceiling), matrix))
    routing.AddDimensionWithVehicleTransits(
        [evaluators[(v.matrix_class, b)] for v, b in zip(instance.vehicles, budgets, strict=True)],
        ceiling,
        ceiling,
        False,
        "energy",
    )
    energy = routing.GetDimensionOrDie("energy")
    for v, (spec, budget) in enumerate(zip(instance.vehicles, budgets, strict=True)):
        energy.CumulVar(routing.Start(v)).SetValue(ceiling - budget + int(spec.start_energy_used))
    for node in instance.reload_nodes:
        energy.CumulVar(manager.NodeToIndex(node)).SetValue(ceiling)


def _parameters(config: SearchConfig, seconds: float, first: bool) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    if first:
        params.first_solution_strategy = getattr(_FIRST, config.first_solution)
    params.local_search_metaheuristic = getattr(_META, config.metaheuristic)
    params.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    return params


def _initial_assignment(
    model: _Model, instance: Instance, routes: list[list[int]]
) -> pywrapcp.Assignment | None:
    """The assignment of ``routes`` after removing what became invalid; None if OR-Tools rejects it."""
    cleaned = clean_routes(instance, routes)
    if not any(cleaned):
        return None
    manager = model.manager
    indices = [[manager.NodeToIndex(node) for node in route] for route in cleaned]
    return model.routing.ReadAssignmentFromRoutes(indices, True)


def clean_routes(instance: Instance, routes: list[list[int]]) -> list[list[int]]:
    """Warm-start routes stripped of visits the instance no longer allows.

    Dropped: unknown or repeated nodes, depots, nodes on a vehicle they are not allowed on, and
    pairs not kept whole on one route in pickup-then-delivery order.
    """
    n = instance.n_nodes
    vehicles = instance.vehicles
    routes = [list(r) for r in routes[: len(vehicles)]] + [[] for _ in range(len(vehicles) - len(routes))]
    depots = {v.start for v in vehicles} | {v.end for v in vehicles}
    allowed: dict[int, set[int]] = {}
    pair_of: dict[int, tuple[int, int]] = {}
    for k, (p, d) in enumerate(instance.pairs):
        pair_of[p] = pair_of[d] = (p, d)
        restriction = instance.pair_vehicles[k] if k < len(instance.pair_vehicles) else None
        if restriction is not None:
            allowed[p] = allowed[d] = set(restriction)
    for node, v in instance.forced_vehicle.items():
        allowed[node] = {v}
    valid = set(pair_of) | unpaired_nodes(instance) | set(instance.reload_nodes)
    seen: set[int] = set()
    cleaned: list[list[int]] = []
    for v, route in enumerate(routes):
        kept = []
        for node in route:
            if not (0 <= node < n) or node in seen or node in depots or node not in valid:
                continue
            if node in allowed and v not in allowed[node]:
                continue
            seen.add(node)
            kept.append(node)
        position = {node: i for i, node in enumerate(kept)}
        broken = {
            node
            for node in kept
            if node in pair_of
            and (
                pair_of[node][0] not in position
                or pair_of[node][1] not in position
                or position[pair_of[node][0]] > position[pair_of[node][1]]
            )
        }
        cleaned.append([node for node in kept if node not in broken])
    return cleaned


def _extract(
    model: _Model, instance: Instance, assignment: pywrapcp.Assignment
) -> tuple[list[list[int]], list[list[int]]]:
    routing, manager = model.routing, model.manager
    reloads = set(instance.reload_nodes)
    routes, arrivals = [], []
    for v in range(len(instance.vehicles)):
        route, arrival = [], []
        index = assignment.Value(routing.NextVar(routing.Start(v)))
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            arrival.append(assignment.Min(model.time.CumulVar(index)))
            index = assignment.Value(routing.NextVar(index))
        if all(node in reloads for node in route):
            route, arrival = [], []
        routes.append(route)
        arrivals.append(arrival)
    return routes, arrivals


def search_floor_s(instance: Instance) -> float:
    """The least search time of one run: :data:`MIN_SEARCH_S`, less on a small instance (10 ms and
    :data:`MIN_SEARCH_S_PER_VISIT` per request or customer to place)."""
    visits = len(instance.pairs) + len(instance.node_penalty)
    return min(MIN_SEARCH_S, 0.01 + MIN_SEARCH_S_PER_VISIT * visits)


def _run(
    instance: Instance,
    config: SearchConfig,
    until: float,
    initial: list[list[int]] | None,
    *,
    max_active: int | None = None,
    soft_penalty: int | None = None,
) -> tuple[list[list[int]], list[list[int]], bool] | None:
    """Routes, arrivals and whether the warm start was used; None when nothing was found. The
    search ends at ``until`` (``time.time()``): the model's build counts against the limit (it
    takes seconds on a city's round), though the search gets at least :func:`search_floor_s`."""
    with stage("model build"):
        model = _build(instance, max_active=max_active, soft_penalty=soft_penalty)
    start = _initial_assignment(model, instance, initial) if initial else None
    params = _parameters(config, max(search_floor_s(instance), until - time.time()), first=start is None)
    with stage("search"):
        if start is not None:
            result = model.routing.SolveFromAssignmentWithParameters(start, params)
        else:
            result = model.routing.SolveWithParameters(params)
    if result is None:
        if model.routing.status() == _STATUS.ROUTING_INVALID:
            raise EngineError(f"OR-Tools rejected the model or the search parameters of {config.name!r}")
        return None
    return (*_extract(model, instance, result), start is not None)


def solve_ortools(
    instance: Instance, config: SearchConfig, deadline: float, *, alternatives: bool = False
) -> Solution:
    """Solve ``instance`` with one OR-Tools configuration until ``deadline`` (``time.time()``).

    Raises :class:`NoSolutionFound` when mandatory work could not be placed; when all the work is
    optional and nothing was found, returns the honest answer: everything dropped.
    """
    try:
        found = _solve(instance, config, deadline, alternatives)
        if instance.forbidden and found.engine.endswith(":nothing-found"):
            # Measured: with some holes in its visits' time domains OR-Tools finds no solution at
            # all, not even the empty one, where the same instance without them serves all but a
            # few. The spans only steer (deconfliction places the trips exactly): without them.
            floor = time.time() + search_floor_s(instance)
            found = _solve(
                dataclasses.replace(instance, forbidden={}), config, max(deadline, floor), alternatives
            )
            found.engine += "+unsteered"
        return found
    finally:
        _last_tables.clear()  # the matrices as lists: ~100 MB for a city round


def _solve(instance: Instance, config: SearchConfig, deadline: float, alternatives: bool = False) -> Solution:
    started = time.monotonic()
    remaining = deadline - time.time()
    initial = instance.initial_routes
    name = f"ortools:{config.name}"
    if instance.lateness_cost and not config.reduce_vehicles:
        return _solve_lateness(instance, config, deadline, started, alternatives)
    first_phase = remaining * (config.first_phase_share if config.reduce_vehicles else 1.0)
    found = _run(instance, config, time.time() + first_phase, initial)
    if found is None and (initial or first_phase < remaining):
        # The warm start no longer fits (e.g. a window closed), or the first phase was too short
        # for a first solution: search from scratch for all the time left.
        found = _run(instance, config, deadline, None)
    if found is None:
        if has_mandatory_work(instance):
            raise NoSolutionFound(
                f"OR-Tools ({config.name}) found no solution placing all mandatory work in {remaining:.1f} s"
            )
        return nothing_served(instance, name, time.monotonic() - started)
    routes, arrivals, warm = found
    if warm:
        name += "+warm"
    if config.reduce_vehicles and any(v.fixed_cost > 0 for v in instance.vehicles):
        routes, arrivals = _reduce_vehicles(instance, config, deadline, routes, arrivals)
    return make_solution(instance, routes, arrivals, name, time.monotonic() - started)


def _solve_lateness(
    instance: Instance, config: SearchConfig, deadline: float, started: float, alternatives: bool
) -> Solution:
    """Costs on the time dimension make OR-Tools schedule every move it evaluates (measured on the
    city instance: 48 of 100 requests left out after 5 s, against 14 without them), so the work
    is placed first on distance alone, for a share of the time (``LATENESS_FIRST_SHARE``); the search then
    goes on from those routes with the whole objective. The better of the two by the instance's
    objective is returned. With ``alternatives`` the second phase runs in two halves, the second
    going on from the first's routes, and the solutions not returned are kept as its
    alternatives (distance-only first: the one whose trips are least bunched in time)."""
    name = f"ortools:{config.name}"
    distance_only = dataclasses.replace(instance, lateness_cost={})
    initial = instance.initial_routes
    share = LATENESS_FIRST_SHARE["large" if len(instance.pairs) > LATENESS_LARGE_PAIRS else "small"]
    first = _run(distance_only, config, time.time() + (deadline - time.time()) * share, initial)
    if first is None and initial:
        first = _run(distance_only, config, time.time() + (deadline - time.time()) * share, None)
    middle = None
    if alternatives:
        middle = _run(instance, config, (time.time() + deadline) / 2, first[0] if first is not None else None)
    start = middle if middle is not None else first
    second = _run(instance, config, deadline, start[0] if start is not None else None)
    found = [f[:2] for f in (first, middle, second) if f is not None]
    if not found:
        if has_mandatory_work(instance):
            raise NoSolutionFound(f"OR-Tools ({config.name}) found no solution placing all mandatory work")
        return nothing_served(instance, name, time.monotonic() - started)
    if first is not None and first[2]:
        name += "+warm"  # the caller's warm start was used
    seconds = time.monotonic() - started
    solutions = [make_solution(instance, routes, arrivals, name, seconds) for routes, arrivals in found]
    best = min(solutions, key=lambda s: s.objective)  # the first of equals: the least searched
    if alternatives:
        best.alternatives = [s for s in solutions if s is not best]
    return best


def _reduce_vehicles(
    instance: Instance,
    config: SearchConfig,
    deadline: float,
    routes: list[list[int]],
    arrivals: list[list[int]],
) -> tuple[list[list[int]], list[list[int]]]:
    # Reinserting a visit must always beat leaving it out, whatever the distance or fleet costs.
    soft = 2 * (sum(v.fixed_cost for v in instance.vehicles) + int(objective(instance, routes))) + 1
    while True:
        remaining = deadline - time.time()
        used = [v for v, r in enumerate(routes) if r]
        if remaining < 1.0 or len(used) <= 1:
            break
        smallest = min(used, key=lambda v: (len(routes[v]), route_distance(instance, v, routes[v])))
        trial = [[] if v == smallest else r for v, r in enumerate(routes)]
        # Half the remaining time per attempt: a failed attempt still leaves time to polish.
        found = _run(
            instance, config, time.time() + remaining / 2, trial, max_active=len(used) - 1, soft_penalty=soft
        )
        if found is None or not serves_all_mandatory(instance, found[0]):
            break
        routes, arrivals, _ = found
    remaining = deadline - time.time()
    if remaining >= 0.5:
        polished = _run(instance, config, deadline, routes)
        if polished is not None and objective(instance, polished[0]) <= objective(instance, routes):
            routes, arrivals, _ = polished
    return routes, arrivals
