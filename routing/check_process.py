"""A process that checks a large round's chunks while this one plans the next.

A round planned in chunks (:func:`routing.second_pass.plan_in_chunks`) checks each chunk with the
validator before the next chunk starts from where it leaves the drones. The next chunk is instead
planned on top of the chunk's draft at once, and the check runs meanwhile in this other process,
on the machine's other core: OR-Tools holds the interpreter lock while it searches, so a thread
could not run beside it. A check that fails (rare: the draft is deconflicted by construction) has
the chunk repaired and the next one planned again.

The process is spawned (like the engine's extra workers: the caller's ``__main__`` must be
import-safe) when a round in chunks starts, its imports done while the first chunk is planned,
and closed when the round ends (one kept for later rounds held up the exit of the dispatcher's
planning worker); it dies with this process (:mod:`routing.processes`). If it cannot run, every
check is made here instead, as without it: the same plan, later. Pure: no I/O, no event loop.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from routing.intents import IntentParams, OperationalIntent
from routing.problem import Plan, PlanningProblem
from routing.processes import spawn_pool
from routing.stages import stage
from routing.validate import Part, Violation, validate_plan


def _check(payload: bytes) -> list[Violation]:
    """The worker's task: the validator on a pickled ``(problem, plan, active, separation, part)``."""
    problem, plan, active, separation, part = pickle.loads(payload)
    return validate_plan(problem, plan, active_intents=active, separation=separation, part=part)


def _ready() -> bool:
    """Nothing: a first task, so that the worker imports the validator before it is needed."""
    return True


class CheckProcess:
    """One worker process running :func:`routing.validate.validate_plan`."""

    def __init__(self, pool: ProcessPoolExecutor | None = None) -> None:
        """A process of its own, or (``pool``) one of a pool the caller owns and closes."""
        self._owned = pool is None
        self._pool = spawn_pool(1) if pool is None else pool
        self.broken = False  # set once it failed: the checks are then made here
        try:
            self._pool.submit(_ready)
        except RuntimeError:  # a pool already shut down or broken
            self.broken = True

    def submit(
        self,
        problem: PlanningProblem,
        plan: Plan,
        active: Sequence[OperationalIntent],
        separation: IntentParams | None,
        part: Part = "all",
    ) -> Future[list[Violation]] | None:
        """Start the check of ``plan`` (``part`` of the rules: :func:`routing.validate.validate_plan`);
        None if the process is broken: check it here."""
        if self.broken:
            return None
        # Pickled here, not by the pool's feeder thread: that thread would hold the interpreter
        # lock in turns with this one's planning, and every short native call of the planner
        # (numpy, shapely) would then wait for it (measured: the next chunk's matrices +50 %).
        with stage("validation"):
            payload = pickle.dumps((problem, plan, tuple(active), separation, part), pickle.HIGHEST_PROTOCOL)
        try:
            return self._pool.submit(_check, payload)
        except RuntimeError:  # the pool broke (a BrokenProcessPool is one)
            self.broken = True
            return None

    def result(self, future: Future[list[Violation]] | None) -> list[Violation] | None:
        """The check's violations, waiting for them (a "validation" stage: the time this process
        waited); None if the process failed to make it."""
        if future is None:
            return None
        with stage("validation"):
            try:
                return future.result()
            except Exception:
                self.broken = True
                return None

    def close(self) -> None:
        """Stop the worker (a check still running is abandoned); a pool the caller owns is left."""
        if self._owned:
            self._pool.shutdown(wait=False, cancel_futures=True)


def split_check(
    checker: CheckProcess | None,
    problem: PlanningProblem,
    plan: Plan,
    active: Sequence[OperationalIntent],
    separation: IntentParams | None,
) -> list[Violation]:
    """The validator's violations of ``plan``: its intents checked in ``checker``'s process (most of
    the check), every other rule here meanwhile (:func:`routing.validate.validate_plan`'s parts);
    all of it here without a working checker."""
    aside = checker.submit(problem, plan, active, separation, part="intents") if checker is not None else None
    with stage("validation"):
        others = validate_plan(problem, plan, active_intents=active, separation=separation, part="others")
    apart = checker.result(aside) if checker is not None else None
    if apart is None:
        with stage("validation"):
            apart = validate_plan(problem, plan, active_intents=active, separation=separation, part="intents")
    return [*apart, *others]
