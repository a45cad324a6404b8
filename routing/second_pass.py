"""Planning in passes: passes over the requests a plan left out, and rounds too large for one
search planned in chunks.

The solver does not see the operational intents: where airspace and pads are busy, deconfliction
then leaves requests out of trips it cannot place before their deadlines (reason
``deconfliction``). Many of them fit once the placed trips are known: on a drone in an idle window
between its planned trips or after them, or on one the first routes did not use, in the gaps the
placed intents leave. So the left-out requests (and those the search left out for capacity) are
planned again, up to a few times while a pass serves more, as a problem of their own: every drone
in its windows and after its last trip (:mod:`routing.drone_windows`), against the intents already
in force and the ones just placed. The plans are folded together and the result checked by the
validator once; if it breaks any rule, the plan of the pass before is checked, and so on.

A round with more open requests than one search handles in its time (hundreds, with a city's
fleet: the search finds no first solution) is planned the same way in chunks
(:func:`plan_in_chunks`): urgent and earliest deadlines first, each chunk from where the drones
of the chunks before leave off and against their intents. Pure: no I/O, no event loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from routing.check_process import CheckProcess
from routing.drone_windows import folded, windows_after
from routing.feasibility import Reason
from routing.intents import IntentParams, OperationalIntent
from routing.problem import DroneState, Plan, PlanningProblem, Unserved
from routing.requests import Request
from routing.stages import stage
from routing.validate import Violation, validate_plan

Solve = Callable[[PlanningProblem, Sequence[OperationalIntent]], Plan]


AGAIN = (Reason.DECONFLICTION.value, Reason.NO_CAPACITY.value)


def left_out(result: Plan) -> set[str]:
    """The requests the plan left out for deconfliction or for capacity (the search found no
    room for them, or a repair took them out): each might fit in a window of the plan."""
    return {u.request_id for u in result.unserved if u.reason in AGAIN}


def states_after(problem: PlanningProblem, result: Plan) -> tuple[DroneState, ...]:
    """Every drone as the next chunk starts it: where and when its planned trips end (at that
    port, battery swapped), or as the problem had it if it flies none (no idle windows:
    :func:`routing.drone_windows.windows_after` without them)."""
    return windows_after(problem, result, min_window_s=math.inf).problem.drone_states


def merged(first: Plan, second: Plan) -> Plan:
    """``first`` with ``second``'s trips after each drone's own, its ETAs and its intents (trips
    numbered on from the first plan's): :func:`routing.drone_windows.folded`."""
    return folded(first, second)


def refused(
    problem: PlanningProblem,
    plan: Plan,
    active_intents: Sequence[OperationalIntent],
    separation: IntentParams | None,
) -> bool:
    """Whether the validator refuses ``plan``, checked against the requests it accounts for."""
    so_far = _so_far(problem, plan)
    return bool(validate_plan(so_far, plan, active_intents=active_intents, separation=separation))


def _so_far(problem: PlanningProblem, plan: Plan) -> PlanningProblem:
    """``problem`` with only the requests ``plan`` accounts for (served or not)."""
    ids = {*plan.served, *(u.request_id for u in plan.unserved)}
    return replace(problem, requests=tuple(r for r in problem.requests if r.id in ids))


def plan_left_out(
    problem: PlanningProblem,
    first: Draft,
    solve: Solve,
    *,
    active_intents: Sequence[OperationalIntent] = (),
    separation: IntentParams | None = None,
    passes: int = 1,
    min_gain: int = 1,
) -> Plan:
    """``first`` (a plan drafted, not yet checked) with the requests it left out for deconfliction
    planned again by ``solve`` (see the module docstring), up to ``passes`` times, another pass
    only while the one before served at least ``min_gain`` more. Each pass plans on top of the
    plan so far: every drone in its idle windows and after its last trip
    (:func:`routing.drone_windows.windows_after`), against the intents in force and the plan's.
    Only the plan after the last pass is checked as a whole (and with it the first plan's trips);
    if the validator refuses it, the plan after the pass before, and so on; with no pass to show,
    ``first`` checked and repaired on its own (``first.finish``). If that repair changed ``first``
    (the passes were refused for a fault of the first plan, not of their own), the passes run
    again on top of the repaired plan, once."""
    steps = [first.plan]
    for k in range(passes):
        ids = left_out(steps[-1])
        if not ids or (k and len(steps[-1].served) - len(steps[-2].served) < min_gain):
            break
        windows = windows_after(problem, steps[-1])
        sub = replace(windows.problem, requests=tuple(r for r in problem.requests if r.id in ids))
        with stage("second pass"):
            part = solve(sub, (*active_intents, *steps[-1].intents))
        if not part.served:
            break  # nothing more: the plans so far stand
        steps.append(folded(steps[-1], part, windows.owner))
    for both in reversed(steps[1:]):
        with stage("validation"):
            if not refused(problem, both, active_intents, separation):
                return both
    repaired = first.finish(None)
    if len(steps) == 1 or repaired is first.plan:
        return repaired  # no pass ran, or the first plan was valid: the passes' own fault
    return plan_left_out(
        problem,
        Draft.checked(repaired),
        solve,
        active_intents=active_intents,
        separation=separation,
        passes=passes,
        min_gain=min_gain,
    )


@dataclass(frozen=True)
class Draft:
    """A plan timed and deconflicted, before the validator's check (:func:`routing.planner.draft`):
    :meth:`check` runs the check (``validate_plan(problem, plan, active_intents=active,
    separation=separation)``); ``finish(violations)`` repairs the plan given its check's
    violations (None: it checks first) and returns the valid plan. ``finish`` is called once.
    ``problem`` None: the plan is already checked."""

    plan: Plan
    finish: Callable[[list[Violation] | None], Plan]
    problem: PlanningProblem | None = None
    active: tuple[OperationalIntent, ...] = ()
    separation: IntentParams | None = None

    @classmethod
    def checked(cls, plan: Plan) -> Draft:
        """A plan already checked: nothing left to do."""
        return cls(plan, lambda _violations: plan)

    def check(self) -> list[Violation]:
        """The validator's violations of the plan (none for a plan already checked)."""
        if self.problem is None:
            return []
        with stage("validation"):
            return validate_plan(
                self.problem, self.plan, active_intents=self.active, separation=self.separation
            )


ChunkDraft = Callable[[PlanningProblem, Sequence[OperationalIntent], float], Draft]


def plan_in_chunks(
    problem: PlanningProblem,
    draft: ChunkDraft,
    *,
    size: int,
    seconds: float,
    active_intents: Sequence[OperationalIntent] = (),
    separation: IntentParams | None = None,
) -> Plan:
    """Plan ``problem``'s requests ``size`` at a time with ``draft(sub, active, seconds)``, the
    time shared evenly: documents on board and urgent requests first, then by deadline. Each
    chunk starts every drone where the plan so far leaves it, against the intents in force and the
    ones placed.

    Each chunk's draft is checked in another process while the next chunk is planned on top of it
    (:mod:`routing.check_process`); when the check fails, the draft is repaired and the next chunk
    planned again on top of the repaired one. The whole is validated once more at the end (its
    separation rules there while the last chunk is checked here, the other rules here after it);
    if refused, the longest valid prefix of chunks is kept and the chunks after it are left
    unserved (``no_capacity``)."""
    onboard = {r for st in problem.drone_states for r in st.onboard}
    ordered = sorted(problem.requests, key=lambda r: (r.id not in onboard, not r.urgent, r.deadline, r.id))
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    share = seconds / max(1, len(chunks))

    def on_top(base: Plan | None, chunk: list[Request]) -> Draft:
        if base is None:
            return draft(replace(problem, requests=tuple(chunk), previous_plan=None), active_intents, share)
        sub = replace(
            problem, requests=tuple(chunk), drone_states=states_after(problem, base), previous_plan=None
        )
        return draft(sub, (*active_intents, *base.intents), share)

    checker = CheckProcess() if len(chunks) > 1 else None
    try:
        return _in_chunks(problem, chunks, on_top, checker, active_intents, separation)
    finally:
        if checker is not None:
            checker.close()


def _in_chunks(
    problem: PlanningProblem,
    chunks: list[list[Request]],
    on_top: Callable[[Plan | None, list[Request]], Draft],
    checker: CheckProcess | None,
    active_intents: Sequence[OperationalIntent],
    separation: IntentParams | None,
) -> Plan:
    """:func:`plan_in_chunks` once its chunks are made."""
    steps: list[Plan] = []  # the plan after each chunk, checked
    pending = on_top(None, chunks[0])
    for chunk in chunks[1:]:
        base = steps[-1] if steps else None
        aside = None
        if checker is not None and pending.problem is not None:
            aside = checker.submit(pending.problem, pending.plan, pending.active, pending.separation)
        top = merged_onto(base, pending.plan)
        following = on_top(top, chunk)
        violations = checker.result(aside) if checker is not None else None
        if violations is None:
            violations = pending.check()
        if violations:  # planned on top of a draft the check refused: again on top of its repair
            steps.append(merged_onto(base, pending.finish(violations)))
            following = on_top(steps[-1], chunk)
        else:
            pending.finish([])
            steps.append(top)  # the very plan the next chunk was planned on (its intents indexed)
        pending = following
    # The whole, as drafted, is validated at once (the last chunk's own check is part of it): its
    # intents in the other process (most of the time), every other rule here meanwhile. It almost
    # always passes; if not, the last chunk is checked and repaired on its own, and the whole
    # checked again here.
    base = steps[-1] if steps else None
    top = merged_onto(base, pending.plan)
    whole = _so_far(problem, top)
    aside = None
    if checker is not None and pending.problem is not None:
        aside = checker.submit(whole, top, active_intents, separation, part="intents")
    if checker is not None and aside is not None:
        with stage("validation"):
            others = validate_plan(
                whole, top, active_intents=active_intents, separation=separation, part="others"
            )
        apart = checker.result(aside)
        if apart is not None and not apart and not others:
            pending.finish([])
            return top
    finished = pending.finish(None)
    result = top if finished is pending.plan else merged_onto(base, finished)
    steps.append(result)
    with stage("validation"):
        bad = refused(problem, result, active_intents, separation)
    if not bad:
        return result
    # The longest valid prefix; the chunks after it are left out (each was planned on top of it).
    good = next(
        (
            k
            for k in range(len(steps) - 1, -1, -1)
            if not refused(problem, steps[k], active_intents, separation)
        ),
        None,
    )
    why = "its part of a large round did not fit"
    kept = steps[good] if good is not None else Plan(at=problem.at, drones=(), served=(), unserved=())
    rest = chunks[good + 1 :] if good is not None else chunks
    left = tuple(Unserved(r.id, Reason.NO_CAPACITY.value, why) for chunk in rest for r in chunk)
    return replace(kept, unserved=kept.unserved + left)


def all_left_out(problem: PlanningProblem, why: str) -> Plan:
    """A plan serving none of ``problem``'s requests, each left out ``no_capacity`` with ``why``."""
    out = tuple(Unserved(r.id, Reason.NO_CAPACITY.value, why) for r in problem.requests)
    return Plan(at=problem.at, drones=(), served=(), unserved=out)


def merged_onto(base: Plan | None, part: Plan) -> Plan:
    """``part`` after ``base`` (:func:`merged`), or ``part`` alone."""
    return part if base is None else merged(base, part)
