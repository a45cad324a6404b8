"""Rounds over a city's districts: large rounds whose searches run beside their preparation.

A round with more open requests than one search takes, over a fleet large enough, is split by
place rather than by deadline (:func:`districts`): the requests into compact districts of at most
that many (halved across the wider side of their pickups until each fits), each district with
drones of its own, those :func:`routing.round_fleet.round_fleet` picks for its requests among the
drones no district before it took (a drone in the air or carrying documents goes with the district
of its documents, or the nearest one). Drones of the other side of a border stay on offer to a
district near it: only drones a district before it took are not.

The districts' searches need nothing from each other, so they run in worker processes (one per
core: two at a time on two cores, each for its share of the time) while this process prepares
the next district (networks, pre-checks, the engine's instance) and then times and deconflicts
each district's routes against the intents in force and those of the districts before it,
urgent districts first (:func:`plan_in_districts`). The whole plan is validated once: its
intents in a worker, every other rule here meanwhile. If it is refused (it is deconflicted by
construction, so this is the rare path), the districts its violations name are repaired with
them and the whole checked again; if still refused, each district is checked and repaired on its
own, in order (those after a changed one drafted again against it), and the longest valid prefix
of districts is kept, the rest left out (``no_capacity``).

With too few drones for districts of their own (``round_fleet`` would keep them all), a large
round is planned in chunks by deadline instead (:func:`routing.second_pass.plan_in_chunks`).
Pure: no I/O, no event loop.
"""

from __future__ import annotations

import math
import os
import pickle
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from functools import partial

from routing.check_process import CheckProcess, split_check
from routing.engine import EngineError, solve
from routing.feasibility import Reason
from routing.instance import Instance, Solution
from routing.intents import IntentParams, OperationalIntent
from routing.problem import Plan, PlanningProblem, Unserved
from routing.processes import spawn_pool
from routing.requests import Request
from routing.round_fleet import round_fleet
from routing.second_pass import Draft, all_left_out, merged_onto, refused
from routing.stages import stage
from routing.validate import Violation

Point = tuple[float, float]
# What a district's draft needs once its search is done: the solution, the intents placed so far.
Then = Callable[[Solution, Sequence[OperationalIntent]], Draft]
Prepare = Callable[[PlanningProblem], tuple[Instance, Then]]
Redraft = Callable[[Sequence[OperationalIntent]], Draft]  # a district's ``Then`` with its solution


def districts(problem: PlanningProblem, size: int) -> list[PlanningProblem] | None:
    """``problem`` split into districts of at most ``size`` requests, each with drones of its own
    (see the module docstring), urgent districts and early deadlines first; None when it needs no
    split or the fleet is too small to give every district drones of its own."""
    fleet = problem.fleet
    known = {d.id for d in fleet.drones}
    if len(problem.requests) <= size or any(s.drone_id not in known for s in problem.drone_states):
        return None  # one search, or a problem the planner refuses whole (an unknown drone)
    ports = {p.id for p in fleet.ports}
    carrier = {rid: s for s in problem.drone_states for rid in s.onboard}

    def where(r: Request) -> Point:
        s = carrier.get(r.id)
        return (s.lon, s.lat) if s is not None else r.pickup

    places = [(where(r), r) for r in problem.requests]
    scale = math.cos(math.radians(sum(p[1] for p, _ in places) / len(places)))
    groups = sorted(
        _halves(places, size, scale),
        key=lambda g: (
            not any(r.urgent or r.id in carrier for _, r in g),
            min(r.deadline for _, r in g),
            min(r.id for _, r in g),
        ),
    )
    centres = [(sum(p[0] for p, _ in g) / len(g), sum(p[1] for p, _ in g) / len(g)) for g in groups]
    group_of = {r.id: k for k, g in enumerate(groups) for _, r in g}
    forced: dict[int, set[str]] = defaultdict(set)
    for s in problem.drone_states:
        if s.port is None or s.onboard or s.port not in ports:  # as round_fleet: always in a round
            held = [group_of[rid] for rid in s.onboard if rid in group_of]
            forced[held[0] if held else _nearest(centres, (s.lon, s.lat), scale)].add(s.drone_id)
    unavailable = set().union(*forced.values())
    parts = []
    for k, g in enumerate(groups):
        keep = {d.id for d in fleet.drones if d.id not in unavailable} | forced[k]
        sub = replace(
            problem,
            requests=tuple(r for _, r in g),
            fleet=replace(fleet, drones=tuple(d for d in fleet.drones if d.id in keep)),
            drone_states=tuple(s for s in problem.drone_states if s.drone_id in keep),
            previous_plan=None,
        )
        chosen = round_fleet(sub)
        if chosen is sub:  # it would keep every drone left: no drones of its own
            return None
        unavailable |= {d.id for d in chosen.fleet.drones}
        parts.append(chosen)
    return parts


def _halves(
    places: list[tuple[Point, Request]], size: int, scale: float
) -> list[list[tuple[Point, Request]]]:
    """``places`` halved across the wider side of their extent until each part has at most ``size``."""
    if len(places) <= size:
        return [places]
    xs = [p[0] * scale for p, _ in places]
    ys = [p[1] for p, _ in places]
    axis = 0 if max(xs) - min(xs) >= max(ys) - min(ys) else 1
    ordered = sorted(places, key=lambda e: (e[0][axis], e[1].id))
    mid = len(ordered) // 2
    return _halves(ordered[:mid], size, scale) + _halves(ordered[mid:], size, scale)


def _nearest(centres: list[Point], at: Point, scale: float) -> int:
    """The index of the centre nearest to ``at``."""
    return min(
        range(len(centres)),
        key=lambda k: ((centres[k][0] - at[0]) * scale) ** 2 + (centres[k][1] - at[1]) ** 2,
    )


def _search(payload: bytes) -> Solution:
    """The worker's task: ``routing.engine.solve`` on a pickled ``(instance, seconds, seed, engine)``."""
    instance, seconds, seed, engine = pickle.loads(payload)
    return solve(instance, time_limit_s=seconds, workers=1, seed=seed, engine=engine)


def pool_size(parts: int) -> int:
    """Search processes for ``parts`` districts: one per core, at most one per district.
    Measured on the 500-request round on two cores (5 seeds, against one process beside the
    planning one): 7.1-7.8 s against 8.5-9.6 s, 322 served on average against 325."""
    return max(1, min(parts, os.cpu_count() or 1))


def plan_in_districts(
    problem: PlanningProblem,
    parts: list[PlanningProblem],
    prepare: Prepare,
    *,
    seconds: float,
    seed: int = 0,
    engine: str = "auto",
    active_intents: Sequence[OperationalIntent] = (),
    separation: IntentParams | None = None,
) -> Plan:
    """Plan ``problem`` as its districts ``parts`` (:func:`districts`), each searched for an equal
    share of ``seconds`` in a worker process while this one prepares and drafts the others
    (``prepare(part)``: the engine's instance, and what turns its solution into a draft against
    the intents placed so far). If the workers fail, the searches are made here instead. See the
    module docstring for the check and its fallbacks."""
    share = seconds / len(parts)
    pool = spawn_pool(pool_size(len(parts)))
    checker = CheckProcess(pool)  # the workers' first task: the imports, while this one prepares
    try:
        queued: list[tuple[Instance, Then, Future[Solution] | None]] = []
        for part in parts:
            instance, then = prepare(part)
            queued.append((instance, then, _submit(pool, checker, instance, share, seed, engine)))
        drafts: list[Draft] = []
        again: list[Redraft | None] = []  # each district's draft made again, against other intents
        placed = list(active_intents)
        for part, (instance, then, future) in zip(parts, queued, strict=True):
            try:
                with stage("solve"):
                    solution = _result(future, checker)
                    if solution is None:  # no worker: searched here
                        solution = solve(instance, time_limit_s=share, workers=1, seed=seed, engine=engine)
            except EngineError as exc:  # e.g. documents on board that no route can deliver
                drafts.append(Draft.checked(all_left_out(part, f"the engine found no plan: {exc}")))
                again.append(None)
                continue
            made = then(solution, tuple(placed))
            placed += made.plan.intents
            drafts.append(made)
            again.append(partial(then, solution))
        return _checked(problem, parts, drafts, again, checker, active_intents, separation)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _submit(
    pool: ProcessPoolExecutor,
    checker: CheckProcess,
    instance: Instance,
    seconds: float,
    seed: int,
    engine: str,
) -> Future[Solution] | None:
    """Queue a district's search in the workers; None if they are broken."""
    if checker.broken:
        return None
    # Pickled here, not by the pool's feeder thread (see routing.check_process).
    with stage("solve"):
        payload = pickle.dumps((instance, seconds, seed, engine), pickle.HIGHEST_PROTOCOL)
    try:
        return pool.submit(_search, payload)
    except RuntimeError:  # the pool broke
        checker.broken = True
        return None


def _result(future: Future[Solution] | None, checker: CheckProcess) -> Solution | None:
    """The worker's solution (an :class:`EngineError` of the search is raised here); None if the
    worker failed or there was none: the caller searches here."""
    if future is None:
        return None
    try:
        return future.result()
    except EngineError:
        raise
    except Exception:  # the worker died (a BrokenProcessPool is one)
        checker.broken = True
        return None


def _merged(problem: PlanningProblem, plans: Sequence[Plan]) -> Plan:
    """The districts' plans as one (their drones are disjoint)."""
    whole: Plan | None = None
    for p in plans:
        whole = merged_onto(whole, p)
    return whole if whole is not None else Plan(at=problem.at, drones=(), served=(), unserved=())


def _checked(
    problem: PlanningProblem,
    parts: list[PlanningProblem],
    drafts: list[Draft],
    again: list[Redraft | None],
    checker: CheckProcess,
    active_intents: Sequence[OperationalIntent],
    separation: IntentParams | None,
) -> Plan:
    """The drafts merged and validated (see the module docstring)."""
    whole = _merged(problem, [d.plan for d in drafts])
    found = split_check(checker, problem, whole, active_intents, separation)
    if not found:
        return whole
    faulty = _faulty(parts, found)
    if faulty:  # those districts repaired given the violations found, then the whole again
        plans = [
            drafts[k].finish([v for v in found if faulty[v] == k]) if k in faulty.values() else d.plan
            for k, d in enumerate(drafts)
        ]
        whole = _merged(problem, plans)
        if not split_check(checker, problem, whole, active_intents, separation):
            return whole
    plans = _one_by_one(drafts, again, active_intents, set(faulty.values()) if faulty else set())
    k = len(plans)
    while k > 0:  # the longest valid prefix of districts
        with stage("validation"):
            if not refused(problem, _merged(problem, plans[:k]), active_intents, separation):
                break
        k -= 1
    kept = _merged(problem, plans[:k])
    why = "its district of a large round did not fit"
    left = tuple(Unserved(r.id, Reason.NO_CAPACITY.value, why) for part in parts[k:] for r in part.requests)
    return replace(kept, unserved=kept.unserved + left)


def _faulty(parts: list[PlanningProblem], violations: list[Violation]) -> dict[Violation, int] | None:
    """The district of each violation (by its drone, else its request); None if one has neither."""
    district = {d.id: k for k, p in enumerate(parts) for d in p.fleet.drones}
    district.update({r.id: k for k, p in enumerate(parts) for r in p.requests})
    out = {}
    for v in violations:
        k = district.get(v.drone_id or "", district.get(v.request_id or ""))
        if k is None:
            return None
        out[v] = k
    return out


def _one_by_one(
    drafts: list[Draft],
    again: list[Redraft | None],
    active_intents: Sequence[OperationalIntent],
    finished: set[int],
) -> list[Plan]:
    """Each district checked and repaired on its own, in order; once a repair has changed a
    district's plan, the districts after it are drafted again against the plans as repaired
    (their drafts were deconflicted against the drafts before the repair). The drafts of
    ``finished`` (their ``finish`` already called) are drafted again too."""
    plans: list[Plan] = []
    placed = list(active_intents)
    changed = False
    for k, (made, redraft) in enumerate(zip(drafts, again, strict=True)):
        if (changed or k in finished) and redraft is not None:
            made = redraft(tuple(placed))
        plans.append(made.finish(None))
        changed = changed or plans[-1] is not made.plan
        placed += plans[-1].intents
    return plans
