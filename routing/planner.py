"""``plan``: the drone planner's one entry point (pure, synchronous; run it off the event loop).

Stages: keep the drones this round's requests need (:mod:`routing.round_fleet`: the size of a
round follows the work, not the fleet); index the problem and build conservative per-model
networks from the airspace
(:mod:`routing.prepared`, :mod:`routing.matrices`); pre-check every request alone and give the
infeasible ones their reason (:mod:`routing.feasibility`); map the candidates onto a generic
instance (:mod:`routing.mapping`) and solve it (``routing.engine.solve``); turn the routes into
timed trips (:mod:`routing.schedule`); give every trip a conflict-free operational intent
(:mod:`routing.deconflict`: another cruise layer or a ground delay, else its requests are left out
with reason ``deconfliction`` and the drone is re-timed without them); check the result with the
independent validator (:mod:`routing.validate`) and **repair** it if needed: the requests involved
in a violation are taken out of their trip (reason ``no_capacity``, the detail names the
violation) and the trip is re-timed, until the plan is valid. A plan that cannot be made valid
raises :class:`PlanningError`; an invalid plan is never returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from routing.deconflict import DeconflictionParams, Replay, deconflict
from routing.districts import Then, districts, plan_in_districts
from routing.engine import EngineError, solve
from routing.feasibility import Candidate, Reason, precheck
from routing.instance import Instance, Solution
from routing.intents import OperationalIntent
from routing.mapping import DROPOFF_NODE, RELOAD_NODE, Mapping, NodeInfo, build_instance
from routing.pad_busy import busy_pads
from routing.prepared import Prepared, ProblemError, prepare
from routing.problem import DROPOFF, PICKUP, DronePlan, Eta, Plan, PlanningProblem, Trip, Unserved
from routing.round_fleet import round_fleet
from routing.schedule import realise
from routing.second_pass import Draft, all_left_out, plan_in_chunks, plan_left_out
from routing.stages import stage
from routing.trip_battery import within_battery, without_fitting
from routing.trip_battery import without as _without
from routing.validate import Violation, validate_plan
from routing.wind_energy import drones_in_wind

__all__ = [
    "DeconflictionParams",
    "Draft",
    "PlanningError",
    "ProblemError",
    "draft",
    "drafts",
    "plan",
    "realise_and_repair",
]


class PlanningError(RuntimeError):
    """The planner could not produce a valid plan (the violations are attached)."""

    def __init__(self, message: str, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__(message + "".join(f"\n  {v}" for v in violations[:10]))


CHUNK_SIZE = 150  # open requests one search takes at most; larger rounds are planned in chunks
SECOND_PASS_SHARE = 0.15  # of the solver time, kept for the passes over the left-out requests
PASSES = 3  # passes over the left-out requests at most (each only while the one before served more)
PASS_S_PER_REQUEST = 0.02  # a pass searches this long per request it plans, at most its share
PASS_MIN_GAIN = 2  # another pass only after one that served at least this many more
# Deconfliction may leave out more of the search's best routes than of an earlier, less bunched
# solution of the same search; ALTERNATIVES of its other solutions (``solve(alternatives=True)``:
# its distance-only phase first) are deconflicted too, when their estimated cost (taken from the
# search's time) is at most ALTERNATIVES_SHARE of ``seconds``; the draft serving most is kept.
ALTERNATIVES = 2
ALTERNATIVES_SHARE = 0.15
DRAFT_S_PER_REQUEST = 0.01  # measured: about 1 s to time and deconflict 120 requests' routes


def _assemble(
    prep: Prepared,
    stops: list[list[NodeInfo]],
    candidates: dict[str, Candidate],
    unserved: list[Unserved],
    solver: str,
) -> Plan:
    drones = []
    etas: dict[str, Eta] = {}
    late: list[str] = []
    for v, route in enumerate(stops):
        done = realise(prep, v, route, candidates)
        if done.plan is not None:
            drones.append(done.plan)
        etas.update({e.request_id: e for e in done.etas})
        late += done.late
    order = {r.id: k for k, r in enumerate(prep.problem.requests)}
    return Plan(
        at=prep.t0,
        drones=tuple(drones),
        served=tuple(r for r in order if r in etas),
        unserved=tuple(sorted(unserved, key=lambda u: order[u.request_id])),
        etas=etas,
        late=tuple(late),
        solver=solver,
    )


def _culprits(prep: Prepared, plan: Plan, violations: list[Violation]) -> set[str]:
    """The requests to take out so that the violated trips become valid (never on-board ones)."""
    onboard = {r for s in prep.starts for r in s.onboard}
    out: set[str] = set()
    for v in violations:
        if v.request_id is not None:
            out.add(v.request_id)
        elif v.drone_id is not None:
            dp = plan.drone(v.drone_id)
            every = dp.trips if dp is not None else ()
            trips = every
            if v.trip is not None and 1 <= v.trip <= len(trips):
                trips = (trips[v.trip - 1],)
            # A trip without documents (repositioning) is there for its drone's other trips.
            out |= _served_by(trips) or _served_by(every)
    return out - onboard


def _served_by(trips: Sequence[Trip]) -> set[str]:
    """The requests picked up or delivered on ``trips``."""
    return {leg.to_id for trip in trips for leg in trip.legs if leg.to_kind in (PICKUP, DROPOFF)}


def plan(
    problem: PlanningProblem,
    *,
    seconds: float = 5.0,
    workers: int = 1,
    seed: int = 0,
    engine: str = "auto",
    reloads_per_port: int | None = None,
    active_intents: Sequence[OperationalIntent] = (),
    deconfliction: DeconflictionParams | None = DeconflictionParams(),  # noqa: B008 (frozen)
    second_pass: bool = False,
    chunk_size: int | None = CHUNK_SIZE,
) -> Plan:
    """Plan ``problem`` within about ``seconds`` of solver time; return a validated :class:`Plan`.

    ``active_intents``: operational intents of flights already flying (not re-planned here); no
    planned trip may conflict with them. ``deconfliction=None`` turns strategic deconfliction off
    (the plan then carries no intents and is not checked for separation: for comparisons only).

    ``second_pass``: plan the requests deconfliction left out once more, after the trips placed
    (:mod:`routing.second_pass`: up to ``PASSES`` passes, each while the one before served at
    least ``PASS_MIN_GAIN`` more,
    sharing ``SECOND_PASS_SHARE`` of ``seconds``, the first search having the rest):
    more requests served where airspace and pads are busy, for the second pass's preparation,
    deconfliction and check (``python -m bench deconfliction``). With the search's other
    solutions drafted too (``ALTERNATIVES``), every draft gets its passes and the plan serving
    most after them is kept (:func:`kept_after_passes`).

    ``chunk_size``: a round with more requests is planned in parts of at most this many (one
    search of hundreds of requests over a city's fleet finds no first solution in seconds): by
    district when the fleet is large enough to give each district drones of its own and there is
    no second pass (:mod:`routing.districts`: the districts' searches run in worker processes,
    each an equal share of ``seconds``, while this process prepares and deconflicts the others;
    ``workers`` is then not used), else in chunks by deadline
    (:func:`routing.second_pass.plan_in_chunks`); None: always one search.

    ``workers`` parallel searches (1: in this process). ``reloads_per_port``: port copies offered
    for extra trips (default: :func:`routing.mapping.default_reloads_per_port`). Every request
    ends up served (with ETAs) or unserved with a reason code (see :mod:`routing.feasibility`).
    Raises :class:`ProblemError` for an inconsistent problem and :class:`PlanningError` if no
    valid plan could be made.
    """
    common: dict[str, Any] = {
        "workers": workers,
        "seed": seed,
        "engine": engine,
        "reloads_per_port": reloads_per_port,
        "deconfliction": deconfliction,
    }
    separation = None if deconfliction is None else deconfliction.intents
    parts = None
    if chunk_size is not None and not second_pass and len(problem.requests) > chunk_size:
        with stage("round fleet"):  # districts, each with the drones its requests need
            parts = districts(problem, chunk_size)
    if parts is not None:

        def prepare(sub: PlanningProblem) -> tuple[Instance, Then]:
            ready = set_up(sub, reloads_per_port=reloads_per_port, deconfliction=deconfliction)

            def then(solution: Solution, active: Sequence[OperationalIntent]) -> Draft:
                return _part(
                    sub, lambda: drafted(ready, solution, active_intents=active, deconfliction=deconfliction)
                )

            return ready.mapping.instance, then

        return plan_in_districts(
            problem,
            parts,
            prepare,
            seconds=seconds,
            seed=seed,
            engine=engine,
            active_intents=active_intents,
            separation=separation,
        )
    if chunk_size is not None and len(problem.requests) > chunk_size:

        def part(sub: PlanningProblem, active: Sequence[OperationalIntent], share: float) -> Draft:
            if second_pass:  # each part with its own second pass: checked as it is planned
                return _part(
                    sub,
                    lambda: plan(
                        sub, seconds=share, active_intents=active, second_pass=True, chunk_size=None, **common
                    ),
                )
            return _part(sub, lambda: draft(sub, seconds=share, active_intents=active, **common))

        return plan_in_chunks(
            problem,
            part,
            size=chunk_size,
            seconds=seconds,
            active_intents=active_intents,
            separation=separation,
        )
    # With a second pass, the passes share ``seconds``: the first search gives up SECOND_PASS_SHARE.
    first_s = seconds * (1 - SECOND_PASS_SHARE) if second_pass and deconfliction is not None else seconds
    others_s = ALTERNATIVES * DRAFT_S_PER_REQUEST * len(problem.requests)
    affordable = deconfliction is not None and others_s <= ALTERNATIVES_SHARE * seconds
    alternatives = ALTERNATIVES if affordable else 0
    if alternatives:
        first_s -= others_s
    found = drafts(
        problem, seconds=first_s, active_intents=active_intents, alternatives=alternatives, **common
    )
    urgent = {r.id for r in problem.requests if r.urgent}
    if deconfliction is None or not second_pass:
        return serving_most(found, urgent).finish(None)

    steered = {**common, "deconfliction": replace(deconfliction, steer_pads=True)}

    def again(problem2: PlanningProblem, active: Sequence[OperationalIntent]) -> Plan:
        return plan(
            problem2,
            seconds=min(seconds * SECOND_PASS_SHARE / PASSES, PASS_S_PER_REQUEST * len(problem2.requests)),
            active_intents=active,
            second_pass=False,
            chunk_size=None,
            **steered,
        )

    # The passes over every draft: the one serving most after its passes is kept. Measured on the
    # dense scenario, the distance-only phase's routes leave the gaps the passes fill (after
    # them 117-119 served in 4 of 4 searches, against 113-119 from the draft serving most before).
    def passes(first: Draft) -> Plan:
        return plan_left_out(
            problem,
            first,
            again,
            active_intents=active_intents,
            separation=deconfliction.intents,
            passes=PASSES,
            min_gain=PASS_MIN_GAIN,
        )

    return kept_after_passes(found, passes, urgent)


def kept_after_passes(found: Sequence[Draft], passes: Callable[[Draft], Plan], urgent: set[str]) -> Plan:
    """Each draft in turn with ``passes`` over the requests it left out; the plan that then
    serves the most ``urgent`` requests, then the most requests (the first of equals)."""
    return max((passes(d) for d in found), key=lambda p: _served_key(p, urgent))


def _part(sub: PlanningProblem, make: Callable[[], Draft | Plan]) -> Draft:
    """One part of a large round: its draft, or all its requests unserved if it has no valid plan
    (the rest of the round still flies)."""

    def left(exc: PlanningError) -> Plan:
        return all_left_out(sub, f"its part of a large round found no valid plan: {exc}")

    try:
        made = make()
    except PlanningError as exc:
        return Draft.checked(left(exc))
    if isinstance(made, Plan):
        return Draft.checked(made)

    def finish(violations: list[Violation] | None) -> Plan:
        try:
            return made.finish(violations)
        except PlanningError as exc:
            return left(exc)

    return replace(made, finish=finish)


def draft(
    problem: PlanningProblem,
    *,
    seconds: float = 5.0,
    workers: int = 1,
    seed: int = 0,
    engine: str = "auto",
    reloads_per_port: int | None = None,
    active_intents: Sequence[OperationalIntent] = (),
    deconfliction: DeconflictionParams | None = DeconflictionParams(),  # noqa: B008 (frozen)
) -> Draft:
    """:func:`plan` in one search (no chunks, no second pass), up to the validator's check: the
    search's best routes timed and deconflicted, with the check and the repair still to do
    (:class:`Draft`: ``draft(...).finish(None)`` is the validated plan). :func:`drafts` also
    drafts the search's other solutions. Raises :class:`PlanningError` when the engine finds no
    plan."""
    (best,) = drafts(
        problem,
        seconds=seconds,
        workers=workers,
        seed=seed,
        engine=engine,
        reloads_per_port=reloads_per_port,
        active_intents=active_intents,
        deconfliction=deconfliction,
    )
    return best


def drafts(
    problem: PlanningProblem,
    *,
    seconds: float = 5.0,
    workers: int = 1,
    seed: int = 0,
    engine: str = "auto",
    reloads_per_port: int | None = None,
    active_intents: Sequence[OperationalIntent] = (),
    deconfliction: DeconflictionParams | None = DeconflictionParams(),  # noqa: B008 (frozen)
    alternatives: int = 0,
) -> list[Draft]:
    """The search's best solution drafted as :func:`draft` does, then up to ``alternatives`` of
    its other solutions (``Solution.alternatives``); :func:`serving_most` or
    :func:`kept_after_passes` keeps one. Each draft is finished (or dropped) on its own. Raises
    :class:`PlanningError` when the engine finds no plan."""
    ready = set_up(
        problem, reloads_per_port=reloads_per_port, active_intents=active_intents, deconfliction=deconfliction
    )
    try:
        with stage("solve"):
            solution = solve(
                ready.mapping.instance,
                time_limit_s=seconds,
                workers=workers,
                seed=seed,
                engine=engine,
                alternatives=alternatives > 0,
            )
    except EngineError as exc:  # e.g. documents on board that no route can deliver
        raise PlanningError(f"the engine found no plan: {exc}", []) from exc
    return [
        drafted(ready, found, active_intents=active_intents, deconfliction=deconfliction)
        for found in (solution, *solution.alternatives[:alternatives])
    ]


def serving_most(found: Sequence[Draft], urgent: set[str]) -> Draft:
    """The draft that serves the most ``urgent`` requests, then the most requests; the first of
    equals (the search's best is first)."""
    return max(found, key=lambda d: _served_key(d.plan, urgent))


def _served_key(result: Plan, urgent: set[str]) -> tuple[int, int]:
    """How a plan ranks among others of the same round: urgent requests served, then all served."""
    return (len(urgent.intersection(result.served)), len(result.served))


@dataclass(frozen=True)
class SetUp:
    """A problem ready for the engine (:func:`set_up`): its index and networks, the candidates
    the pre-checks kept, the requests they refused (with reasons) and the engine's instance."""

    prep: Prepared
    candidates: dict[str, Candidate]
    unserved: tuple[Unserved, ...]
    mapping: Mapping


def set_up(
    problem: PlanningProblem,
    *,
    reloads_per_port: int | None = None,
    active_intents: Sequence[OperationalIntent] = (),
    deconfliction: DeconflictionParams | None = DeconflictionParams(),  # noqa: B008 (frozen)
) -> SetUp:
    """:func:`draft`'s stages before the search: the round's drones, the networks, the pre-checks
    and the engine's instance (``.mapping.instance``, for ``routing.engine.solve``)."""
    with stage("round fleet"):
        problem = round_fleet(problem)  # the drones this round's requests need, not the whole fleet
    with stage("matrices"):
        prep = prepare(problem)
        if deconfliction is not None and deconfliction.steer_pads and active_intents:
            prep.busy = busy_pads(prep, active_intents, deconfliction.intents)
    onboard = {r for s in prep.starts for r in s.onboard}
    unserved: list[Unserved] = []
    candidates: dict[str, Candidate] = {}
    with stage("pre-checks"):
        for req in problem.requests:
            if req.id in onboard:
                continue
            verdict = precheck(prep, req)
            if verdict.candidate is not None:
                candidates[req.id] = verdict.candidate
            else:
                assert verdict.reason is not None
                unserved.append(Unserved(req.id, verdict.reason.value, verdict.detail))
    with stage("instance"):
        mapping = build_instance(prep, list(candidates.values()), reloads_per_port=reloads_per_port)
    return SetUp(prep, candidates, tuple(unserved), mapping)


def drafted(
    ready: SetUp,
    solution: Solution,
    *,
    active_intents: Sequence[OperationalIntent] = (),
    deconfliction: DeconflictionParams | None = DeconflictionParams(),  # noqa: B008 (frozen)
) -> Draft:
    """:func:`draft`'s stages after the search: ``solution`` (of ``ready``'s instance) timed and
    deconflicted against ``active_intents``, its check and repair left to the draft's ``finish``."""
    unserved = list(ready.unserved)
    for k in solution.dropped_pairs:
        rid = ready.mapping.pair_request[k]
        unserved.append(
            Unserved(
                rid, Reason.NO_CAPACITY.value, "feasible alone, not with the fleet and time available now"
            )
        )
    stops = [_without(ready.mapping.stops(route), set()) for route in solution.routes]
    with stage("timing"):  # the engine's energy bound is a lower one on a few trips: not flown
        stops, over = within_battery(ready.prep, stops, ready.candidates)
    unserved += [Unserved(rid, Reason.NO_CAPACITY.value, detail) for rid, detail in sorted(over.items())]
    return _drafted(
        ready.prep,
        stops,
        ready.candidates,
        unserved,
        solution.engine,
        active_intents=active_intents,
        deconfliction=deconfliction,
    )


def _deconflicted(
    prep: Prepared,
    stops: list[list[NodeInfo]],
    candidates: dict[str, Candidate],
    unserved: list[Unserved],
    solver: str,
    active: Sequence[OperationalIntent],
    params: DeconflictionParams | None,
    replay: Replay,
) -> tuple[Plan, list[list[NodeInfo]]]:
    """Timed routes, deconflicted: requests whose trip found no conflict-free placement go to
    ``unserved`` (reason ``deconfliction``) and their drones are re-timed without them in the same
    pass (:func:`routing.deconflict.deconflict`'s ``retime``), and with a port visit instead of a
    long wait on a pad where that lets a trip be placed; a re-timing that changes a drone's earlier
    trips makes another pass (each pass repeats the decisions of the previous one up to its first
    changed trip: ``replay``)."""
    vehicle = {s.drone.id: v for v, s in enumerate(prep.starts)}
    while True:
        with stage("timing"):
            result = _assemble(prep, stops, candidates, unserved, solver)
        if params is None:
            return result, stops

        def retime(
            drone_id: str, left_out: frozenset[str], breaks: frozenset[str], now: list[list[NodeInfo]] = stops
        ) -> DronePlan | None:
            v = vehicle[drone_id]
            route = _with_breaks(prep, v, without_fitting(prep, v, now[v], set(left_out), candidates), breaks)
            return realise(prep, v, route, candidates).plan

        with stage("deconfliction"):
            done = deconflict(prep, result, active, params, replay, retime=retime)
        if done.breaks:
            stops = [
                _with_breaks(prep, v, route, done.breaks.get(prep.starts[v].drone.id, frozenset()))
                for v, route in enumerate(stops)
            ]
        for rid, detail in sorted(done.dropped.items()):
            unserved.append(Unserved(rid, Reason.DECONFLICTION.value, detail))
        stops = [
            without_fitting(prep, v, route, set(done.dropped), candidates) for v, route in enumerate(stops)
        ]
        if done.unfinished:  # a drone could not be re-timed in the pass: place everything again
            continue
        if done.dropped or done.breaks:
            with stage("timing"):
                result = _assemble(prep, stops, candidates, unserved, solver)
        drones = tuple(d for d in done.drones if d.trips)
        if prep.problem.wind is not None:  # moved in time: the wind of the hours now flown
            drones = drones_in_wind(prep.problem.wind, prep.problem.fleet, drones)
        return replace(result, drones=drones, etas=done.etas, intents=done.intents), stops


def _with_breaks(prep: Prepared, v: int, route: list[NodeInfo], breaks: frozenset[str]) -> list[NodeInfo]:
    """``route`` with a visit to the nearest port after the drop-off of each request in ``breaks``
    (a drone that would wait long on that pad waits at the port instead)."""
    if not breaks:
        return route
    model = prep.starts[v].model.name
    out: list[NodeInfo] = []
    for k, s in enumerate(route):
        out.append(s)
        nxt = route[k + 1] if k + 1 < len(route) else None
        if s.kind == DROPOFF_NODE and s.ref in breaks and (nxt is None or nxt.kind != RELOAD_NODE):
            port, _ = prep.nearest_port(model, s.site)
            out.append(NodeInfo(RELOAD_NODE, prep.port_site[port], port))
    return out


def realise_and_repair(
    prep: Prepared,
    stops: list[list[NodeInfo]],
    candidates: dict[str, Candidate],
    unserved: list[Unserved],
    solver: str,
    *,
    active_intents: Sequence[OperationalIntent] = (),
    deconfliction: DeconflictionParams | None = DeconflictionParams(),  # noqa: B008 (frozen)
) -> Plan:
    """Time and deconflict the routes (per drone, its stops in order) and repair until the
    validator agrees.

    Each round takes out of their trips the requests named by a violation (or, for a violation of
    a whole trip, that trip's requests; documents on board are never taken out) and reports them
    ``no_capacity``. Raises :class:`PlanningError` when violations remain that no removal fixes.
    """
    return _drafted(
        prep, stops, candidates, unserved, solver, active_intents=active_intents, deconfliction=deconfliction
    ).finish(None)


def _drafted(
    prep: Prepared,
    stops: list[list[NodeInfo]],
    candidates: dict[str, Candidate],
    unserved: list[Unserved],
    solver: str,
    *,
    active_intents: Sequence[OperationalIntent],
    deconfliction: DeconflictionParams | None,
) -> Draft:
    """:func:`realise_and_repair` up to its first check, the rest left to the draft's ``finish``."""
    problem = prep.problem
    unserved = list(unserved)
    separation = None if deconfliction is None else deconfliction.intents
    replay = Replay()
    first, stops = _deconflicted(
        prep, stops, candidates, unserved, solver, active_intents, deconfliction, replay
    )

    def check(result: Plan) -> list[Violation]:
        with stage("validation"):
            return validate_plan(problem, result, active_intents=active_intents, separation=separation)

    def finish(violations: list[Violation] | None) -> Plan:
        result, now = first, stops
        for _ in range(len(candidates) + 2):
            if violations is None:
                violations = check(result)
            if not violations:
                return result
            removed = _culprits(prep, result, violations)
            if not removed:
                break
            by_request = {v.request_id: v for v in violations if v.request_id is not None}
            for rid in sorted(removed):
                why = by_request.get(rid) or violations[0]
                unserved.append(
                    Unserved(rid, Reason.NO_CAPACITY.value, f"repaired out: {why.kind}: {why.detail}")
                )
            now = [without_fitting(prep, v, route, removed, candidates) for v, route in enumerate(now)]
            result, now = _deconflicted(
                prep, now, candidates, unserved, solver, active_intents, deconfliction, replay
            )
            violations = None
        raise PlanningError("the planner could not produce a valid plan", check(result))

    return Draft(first, finish, problem, tuple(active_intents), separation)
