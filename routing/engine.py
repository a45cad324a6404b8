"""``solve``: the one entry point of the routing engines.

``engine="auto"`` picks PyVRP when it can model the instance (customers and pickup-and-delivery
pairs with windows, capacity, penalties, fleet costs: the benchmark shapes and a fleet whose
documents all wait at ports) and OR-Tools otherwise (energy budgets, reloads, forced vehicles,
per-pair vehicle restrictions, payload on board, warm starts; see
``routing.pyvrp_engine.pyvrp_unsupported``). With ``workers >= 2`` it runs a portfolio in
parallel, the first member in this process and the others in spawned processes, and keeps the
best by the instance's own objective (``routing.engine_evaluation.objective``): PyVRP with
different seeds; OR-Tools with PCI + guided local search plus, when vehicles carry fixed costs,
a member that empties routes to cut the fleet (else one with tabu search).
"""

from __future__ import annotations

import time
from concurrent.futures import Future

import numpy as np

from routing.engine_errors import EngineError, InvalidInstanceError, NoSolutionFound
from routing.engine_evaluation import unpaired_nodes
from routing.instance import Instance, Solution, spans_cover
from routing.ortools_engine import SearchConfig, solve_ortools
from routing.processes import spawn_pool
from routing.pyvrp_engine import pyvrp_unsupported, solve_pyvrp

__all__ = ["ENGINES", "EngineError", "InvalidInstanceError", "NoSolutionFound", "choose_engine", "solve"]

ENGINES = ("auto", "ortools", "pyvrp")

# The OR-Tools portfolio members (see _portfolio for who runs what).
_PLAIN = SearchConfig("pci+gls")
_REDUCE = SearchConfig("pci+gls+reduce-vehicles", reduce_vehicles=True)
_ALTERNATIVE = SearchConfig("pci+tabu", metaheuristic="TABU_SEARCH")


def choose_engine(instance: Instance) -> str:
    """The engine ``engine="auto"`` uses for ``instance``: "pyvrp" or "ortools"."""
    return "ortools" if pyvrp_unsupported(instance) else "pyvrp"


def _task(
    engine: str,
    instance: Instance,
    config: SearchConfig | None,
    seed: int,
    deadline: float,
    alternatives: bool = False,
) -> Solution:
    """One portfolio member; top level so that spawned processes can run it."""
    if engine == "pyvrp":
        return solve_pyvrp(instance, deadline, seed)
    assert config is not None
    return solve_ortools(instance, config, deadline, alternatives=alternatives)


def _portfolio(engine: str, instance: Instance, workers: int) -> list[SearchConfig | None]:
    if engine == "pyvrp":
        return [None] * workers
    # With fleet costs the fleet-reducing member goes first: it runs in this process, without the
    # spawn delay, and measured it is the one that reaches the best-known vehicle counts.
    if any(v.fixed_cost > 0 for v in instance.vehicles):
        configs = [_REDUCE, _PLAIN]
    else:
        configs = [_PLAIN, _ALTERNATIVE]
    return [configs[k % len(configs)] for k in range(workers)]


def solve(
    instance: Instance,
    *,
    time_limit_s: float,
    workers: int = 2,
    seed: int = 0,
    engine: str = "auto",
    alternatives: bool = False,
) -> Solution:
    """Solve ``instance`` within about ``time_limit_s`` seconds of wall time.

    ``workers`` searches run in parallel (1: in this process only). ``seed`` seeds PyVRP (worker
    ``k`` uses ``seed + k``). ``alternatives``: also return, in ``Solution.alternatives``, the other
    workers' solutions and the earlier solutions of OR-Tools' search with lateness costs (its
    distance-only phase, and the best at the middle of its second phase).

    Raises :class:`InvalidInstanceError` for an inconsistent instance and
    :class:`NoSolutionFound` when mandatory work cannot be placed; when all work is optional the
    answer is always a solution, possibly with everything dropped.

    Extra workers are spawned processes, so the caller's ``__main__`` must be import-safe
    (guarded by ``if __name__ == "__main__"``), as with any spawn-based multiprocessing.
    """
    if engine not in ENGINES:
        raise InvalidInstanceError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if time_limit_s <= 0 or workers < 1:
        raise InvalidInstanceError(
            f"time_limit_s must be > 0 and workers >= 1 (got {time_limit_s}, {workers})"
        )
    validate_instance(instance)
    chosen = choose_engine(instance) if engine == "auto" else engine
    if chosen == "pyvrp" and (reasons := pyvrp_unsupported(instance)):
        raise InvalidInstanceError(f"engine 'pyvrp' cannot model this instance: {', '.join(reasons)}")
    started = time.monotonic()
    deadline = time.time() + time_limit_s
    configs = _portfolio(chosen, instance, workers)
    results: list[Solution] = []
    errors: list[Exception] = []
    futures: list[Future[Solution]] = []
    pool = None
    if workers > 1:
        pool = spawn_pool(workers - 1)
        futures = [
            pool.submit(_task, chosen, instance, config, seed + k, deadline, alternatives)
            for k, config in enumerate(configs[1:], start=1)
        ]
    try:
        try:
            results.append(_task(chosen, instance, configs[0], seed, deadline, alternatives))
        except NoSolutionFound as exc:
            errors.append(exc)
        for future in futures:
            try:
                results.append(future.result())
            except NoSolutionFound as exc:
                errors.append(exc)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if not results:
        raise errors[0]
    best = min(results, key=lambda s: s.objective)
    best.seconds = time.monotonic() - started
    if alternatives:  # its own first, then the other workers' best, then their own
        others = [s for s in results if s is not best]
        best.alternatives += [*others, *(a for s in others for a in s.alternatives)]
    return best


def validate_instance(instance: Instance) -> None:
    """Raise :class:`InvalidInstanceError` naming the first inconsistency of ``instance``."""
    n = instance.n_nodes

    def fail(message: str) -> None:
        raise InvalidInstanceError(f"Instance: {message}")

    if instance.time_windows.shape != (n, 2):
        fail(f"time_windows has shape {instance.time_windows.shape}, expected ({n}, 2)")
    if instance.demand.shape != (n,):
        fail(f"demand has shape {instance.demand.shape}, expected ({n},)")
    if not instance.vehicles:
        fail("no vehicles")
    matrices = {"distance": instance.distance, "travel_time": instance.travel_time}
    if instance.energy is not None:
        matrices["energy"] = instance.energy
    for name, per_class in matrices.items():
        if len(per_class) != len(instance.distance):
            fail(f"{name} has {len(per_class)} matrix classes, distance has {len(instance.distance)}")
        for c, m in enumerate(per_class):
            if m.shape != (n, n):
                fail(f"{name}[{c}] has shape {m.shape}, expected ({n}, {n})")
            if (m < 0).any():
                i, j = np.argwhere(m < 0)[0]
                fail(f"{name}[{c}][{i}, {j}] is negative ({m[i, j]})")
    bad = np.argwhere(instance.time_windows[:, 0] > instance.time_windows[:, 1])
    if bad.size:
        fail(f"time_windows[{bad[0][0]}] is empty {instance.time_windows[bad[0][0]].tolist()}")
    depots: set[int] = set()
    for v, spec in enumerate(instance.vehicles):
        for field in ("start", "end"):
            node = getattr(spec, field)
            if not 0 <= node < n:
                fail(f"vehicles[{v}].{field} = {node} is not a node")
            depots.add(node)
        if spec.matrix_class not in range(len(instance.distance)):
            fail(f"vehicles[{v}].matrix_class = {spec.matrix_class} has no matrices")
        if spec.capacity < 0 or not 0 <= spec.start_load <= spec.capacity:
            fail(f"vehicles[{v}]: start_load {spec.start_load} outside capacity [0, {spec.capacity}]")
        if spec.energy_capacity is not None and not 0 <= spec.start_energy_used <= spec.energy_capacity:
            fail(f"vehicles[{v}]: start_energy_used {spec.start_energy_used} over {spec.energy_capacity}")
    k = len(instance.pairs)
    if len(instance.pair_penalty) != k or len(instance.pair_vehicles) not in (0, k):
        fail(
            f"{k} pairs but {len(instance.pair_penalty)} pair_penalty entries and "
            f"{len(instance.pair_vehicles)} pair_vehicles entries"
        )
    role: dict[int, str] = {}

    def claim(node: int, what: str) -> None:
        if not 0 <= node < n:
            fail(f"{what}: node {node} out of range 0..{n - 1}")
        if node in depots:
            fail(f"{what}: node {node} is a vehicle start/end")
        if node in role:
            fail(f"{what}: node {node} is already {role[node]}")
        role[node] = what

    for idx, (p, d) in enumerate(instance.pairs):
        claim(p, f"pairs[{idx}] pickup")
        claim(d, f"pairs[{idx}] delivery")
    for node in unpaired_nodes(instance):
        claim(node, f"unpaired node {node}")
    for node in instance.reload_nodes:
        claim(node, f"reload_nodes entry {node}")
        if instance.demand[node] != 0:
            fail(f"reload node {node} has demand {instance.demand[node]}, expected 0")
    for node, v in instance.forced_vehicle.items():
        if not 0 <= v < len(instance.vehicles):
            fail(f"forced_vehicle[{node}] = {v} is not a vehicle")
    for idx, allowed in enumerate(instance.pair_vehicles):
        if allowed is not None and any(not 0 <= v < len(instance.vehicles) for v in allowed):
            fail(f"pair_vehicles[{idx}] = {allowed} names a vehicle that does not exist")
    limit = 10**15
    for idx, pen in enumerate(instance.pair_penalty):
        if pen is not None and not 0 <= pen <= limit:
            fail(f"pair_penalty[{idx}] = {pen} outside [0, 1e15]")
    for node, pen in instance.node_penalty.items():
        if pen is not None and not 0 <= pen <= limit:
            fail(f"node_penalty[{node}] = {pen} outside [0, 1e15]")
    for node, spans in instance.forbidden.items():
        if not 0 <= node < n or node in depots:
            fail(f"forbidden: node {node} is not a visit node")
        if any(lo > hi for lo, hi in spans) or list(spans) != sorted(spans):
            fail(f"forbidden[{node}]: spans must be [lo, hi] with lo <= hi, in order")
        window = int(instance.time_windows[node, 0]), int(instance.time_windows[node, 1])
        if spans_cover(list(spans), *window):  # no instant left: every plan would be infeasible
            fail(f"forbidden[{node}]: the spans cover its whole time window")
    for node, (_, coefficient) in instance.lateness_cost.items():
        if not 0 <= node < n or node in depots:
            fail(f"lateness_cost: node {node} is not a visit node")
        if coefficient < 0 or coefficient * max(instance.horizon, 1) > limit:
            fail(f"lateness_cost[{node}] coefficient {coefficient} outside [0, 1e15 / horizon]")
