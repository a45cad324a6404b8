"""Engine-independent evaluation of routes on an Instance: cost, schedule and feasibility.

Every engine's answer goes through here, so the objective that compares engines (and the
portfolio's workers) is computed one way, and a test can verify a Solution without trusting the
engine that produced it.
"""

from __future__ import annotations

from itertools import pairwise

from routing.instance import FORBIDDEN, Instance, Solution


def unpaired_nodes(instance: Instance) -> set[int]:
    """Nodes visited on their own: VRPTW customers and forced deliveries that are not in a pair."""
    paired = {node for pair in instance.pairs for node in pair}
    return set(instance.node_penalty) | (set(instance.forced_vehicle) - paired)


def node_is_mandatory(instance: Instance, node: int) -> bool:
    """An unpaired node is mandatory unless ``node_penalty`` gives it a penalty."""
    return instance.node_penalty.get(node) is None


def route_distance(instance: Instance, vehicle: int, route: list[int]) -> int:
    """Distance of one vehicle's route, from its start to its end."""
    spec = instance.vehicles[vehicle]
    dist = instance.distance[spec.matrix_class]
    path = [spec.start, *route, spec.end]
    return int(sum(int(dist[a, b]) for a, b in pairwise(path)))


def earliest_arrivals(instance: Instance, vehicle: int, route: list[int]) -> list[int]:
    """When each visit of ``route`` starts at the earliest: leave the start at its start time, wait
    only for a window to open or a forbidden span to end (the schedule OR-Tools' cumul
    minimisation picks)."""
    spec = instance.vehicles[vehicle]
    tt = instance.travel_time[spec.matrix_class]
    windows = instance.time_windows
    t = max(spec.start_time, int(windows[spec.start, 0]))
    out = []
    prev = spec.start
    for node in route:
        t = max(t + int(tt[prev, node]), int(windows[node, 0]))
        for lo, hi in instance.forbidden.get(node, ()):  # sorted: a span may push into the next
            if lo <= t <= hi:
                t = hi + 1
        out.append(t)
        prev = node
    return out


def route_lateness(instance: Instance, vehicle: int, route: list[int]) -> int:
    """The route's share of ``instance.lateness_cost``, on its earliest schedule."""
    costs = instance.lateness_cost
    if not costs or not any(node in costs for node in route):
        return 0
    total = 0
    for node, t in zip(route, earliest_arrivals(instance, vehicle, route), strict=True):
        if node in costs:
            bound, coefficient = costs[node]
            total += coefficient * max(0, t - bound)
    return total


def objective(instance: Instance, routes: list[list[int]]) -> int:
    """The instance's objective: distance + lateness costs + fixed costs of used vehicles +
    penalties of left-out work."""
    visited = {node for route in routes for node in route}
    total = 0
    for v, route in enumerate(routes):
        if route:
            total += route_distance(instance, v, route) + instance.vehicles[v].fixed_cost
            total += route_lateness(instance, v, route)
    for (pickup, _), pen in zip(instance.pairs, instance.pair_penalty, strict=True):
        if pen is not None and pickup not in visited:
            total += pen
    for node, pen in instance.node_penalty.items():
        if pen is not None and node not in visited:
            total += pen
    return total


def has_mandatory_work(instance: Instance) -> bool:
    """True when some pair or unpaired node must be served."""
    return any(p is None for p in instance.pair_penalty) or any(
        node_is_mandatory(instance, node) for node in unpaired_nodes(instance)
    )


def serves_all_mandatory(instance: Instance, routes: list[list[int]]) -> bool:
    """True when ``routes`` serve every mandatory pair and node."""
    visited = {node for route in routes for node in route}
    pairs_ok = all(
        pen is not None or p in visited
        for (p, _), pen in zip(instance.pairs, instance.pair_penalty, strict=True)
    )
    return pairs_ok and all(
        node in visited or not node_is_mandatory(instance, node) for node in unpaired_nodes(instance)
    )


def make_solution(
    instance: Instance, routes: list[list[int]], arrivals: list[list[int]], engine: str, seconds: float
) -> Solution:
    """A Solution for ``routes``, its cost and left-out work computed here, not by the engine."""
    visited = {node for route in routes for node in route}
    return Solution(
        routes=routes,
        arrival=arrivals,
        objective=objective(instance, routes),
        distance=sum(route_distance(instance, v, r) for v, r in enumerate(routes) if r),
        dropped_pairs=[k for k, (p, _) in enumerate(instance.pairs) if p not in visited],
        dropped_nodes=sorted(node for node in unpaired_nodes(instance) if node not in visited),
        engine=engine,
        seconds=seconds,
    )


def nothing_served(instance: Instance, engine: str, seconds: float) -> Solution:
    """The honest answer when an engine found nothing and all the work is optional: all dropped."""
    empty: list[list[int]] = [[] for _ in instance.vehicles]
    return make_solution(instance, empty, [[] for _ in instance.vehicles], f"{engine}:nothing-found", seconds)


def check_solution(instance: Instance, solution: Solution) -> list[str]:
    """Every way ``solution`` violates ``instance`` (empty when feasible)."""
    problems: list[str] = []
    n = instance.n_nodes
    reloads = set(instance.reload_nodes)
    pair_of: dict[int, int] = {}
    for k, (p, d) in enumerate(instance.pairs):
        pair_of[p] = k
        pair_of[d] = k
    if len(solution.routes) != len(instance.vehicles):
        return [f"{len(solution.routes)} routes for {len(instance.vehicles)} vehicles"]
    seen: dict[int, int] = {}
    for v, route in enumerate(solution.routes):
        for node in route:
            if not 0 <= node < n:
                problems.append(f"vehicle {v}: node {node} out of range")
            elif node in seen:
                problems.append(f"node {node} visited twice (vehicles {seen[node]} and {v})")
            else:
                seen[node] = v
    if problems:
        return problems

    for k, (p, d) in enumerate(instance.pairs):
        served = p in seen and d in seen
        if (p in seen) != (d in seen):
            problems.append(f"pair {k} ({p}, {d}) half served")
        elif served and seen[p] != seen[d]:
            problems.append(f"pair {k} ({p}, {d}) split between vehicles {seen[p]} and {seen[d]}")
        elif served and solution.routes[seen[p]].index(p) > solution.routes[seen[p]].index(d):
            problems.append(f"pair {k}: delivery {d} before pickup {p}")
        elif not served and instance.pair_penalty[k] is None:
            problems.append(f"mandatory pair {k} ({p}, {d}) dropped")
        allowed = instance.pair_vehicles[k] if k < len(instance.pair_vehicles) else None
        if served and allowed is not None and seen[p] not in allowed:
            problems.append(f"pair {k} on vehicle {seen[p]}, allowed only {allowed}")
        if (k in solution.dropped_pairs) == served:
            problems.append(f"pair {k} dropped list disagrees with the routes")
    for node in unpaired_nodes(instance):
        if node not in seen and node_is_mandatory(instance, node):
            problems.append(f"mandatory node {node} not visited")
        if (node in solution.dropped_nodes) == (node in seen):
            problems.append(f"node {node}: dropped list disagrees with the routes")
    for node, v in instance.forced_vehicle.items():
        if node in seen and seen[node] != v:
            problems.append(f"node {node} forced on vehicle {v} but visited by {seen[node]}")
    roles = set(pair_of) | unpaired_nodes(instance) | reloads
    for node, v in seen.items():
        if node not in roles:
            problems.append(f"vehicle {v} visits node {node}, which has no role (depot or unused)")

    for v, route in enumerate(solution.routes):
        problems += _check_route(instance, v, route, solution.arrival[v], reloads)
    return problems


def _check_route(
    instance: Instance, v: int, route: list[int], arrival: list[int], reloads: set[int]
) -> list[str]:
    problems: list[str] = []
    spec = instance.vehicles[v]
    c = spec.matrix_class
    tt, dist = instance.travel_time[c], instance.distance[c]
    energy = instance.energy[c] if instance.energy is not None else None
    windows = instance.time_windows
    if len(arrival) != len(route):
        return [f"vehicle {v}: {len(arrival)} arrival times for {len(route)} visits"]
    path = [spec.start, *route, spec.end]
    load = spec.start_load
    used = spec.start_energy_used
    time = spec.start_time
    end_time = instance.horizon if spec.end_time is None else spec.end_time
    for pos, (a, b) in enumerate(pairwise(path)):
        if max(int(tt[a, b]), int(dist[a, b])) >= FORBIDDEN or (
            energy is not None and energy[a, b] >= FORBIDDEN
        ):
            problems.append(f"vehicle {v}: forbidden arc {a}->{b}")
            continue
        at_end = pos == len(route)
        earliest = time + int(tt[a, b])
        time = earliest if at_end else arrival[pos]
        if time < earliest:
            problems.append(f"vehicle {v}: arrives at {b} at {time}, earlier than possible ({earliest})")
        lo, hi = int(windows[b, 0]), int(windows[b, 1])
        if at_end:
            hi = min(hi, end_time)
            time = max(time, lo)
        if not lo <= time <= hi:
            problems.append(f"vehicle {v}: arrival {time} at {b} outside [{lo}, {hi}]")
        if any(a <= time <= z for a, z in instance.forbidden.get(b, ())):
            problems.append(f"vehicle {v}: visit of {b} starts at {time}, a forbidden time")
        if energy is not None and spec.energy_capacity is not None:
            used += int(energy[a, b])
            if used > spec.energy_capacity:
                problems.append(f"vehicle {v}: trip energy {used} over budget {spec.energy_capacity} at {b}")
        if b in reloads:
            if load != 0:
                problems.append(f"vehicle {v}: arrives at reload node {b} with payload {load}")
            used = 0
        elif not at_end:
            load += int(instance.demand[b])
            if not 0 <= load <= spec.capacity:
                problems.append(f"vehicle {v}: payload {load} outside [0, {spec.capacity}] after {b}")
    return problems
