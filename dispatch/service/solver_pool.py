"""The planner and the intake pre-check, run in a worker process so the event loop never stalls.

The planner is CPU-heavy Python plus OR-Tools: in a thread it would hold the GIL for long
stretches and the dispatcher's event loop (acks, events, telemetry) would lag. One spawned worker
process per kind of job keeps the loop free; the problem and the plan cross as pickles.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import datetime

from airspace.zones import Zone
from dispatch.service.intake import Assessment, assess
from fleet.description import Fleet
from routing.planner import plan
from routing.problem import DroneState, Plan, PlanningProblem
from routing.requests import Request


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: leave as soon as the dispatcher is gone (even after SIGKILL)."""

    def _watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=_watch, name="parent-watch", daemon=True).start()


def _warm_up() -> int:
    import routing.ortools_engine  # noqa: F401  (imports OR-Tools once, before the first real job)

    return 0


def _plan_job(problem: PlanningProblem, seconds: float) -> Plan:
    return plan(problem, seconds=seconds, workers=1)


def _assess_job(
    zones: tuple[Zone, ...], fleet: Fleet, requests: tuple[Request, ...], now: datetime,
    states: tuple[DroneState, ...],
) -> list[Assessment]:  # fmt: skip
    return [assess(zones, fleet, r, now, states) for r in requests]


class SolverPool:
    """Two worker processes: one for planning rounds, one for intake (so intake never waits for a plan)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        me = os.getpid()
        self._planner: Executor = ProcessPoolExecutor(
            max_workers=1, mp_context=ctx, initializer=_exit_with_parent, initargs=(me,)
        )
        self._intake: Executor = ProcessPoolExecutor(
            max_workers=1, mp_context=ctx, initializer=_exit_with_parent, initargs=(me,)
        )

    async def warm_up(self) -> None:
        """Start both workers and import the heavy modules in them."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            loop.run_in_executor(self._planner, _warm_up), loop.run_in_executor(self._intake, _warm_up)
        )

    async def plan(self, problem: PlanningProblem, seconds: float) -> Plan:
        """Plan ``problem`` in the planning worker (see :func:`routing.planner.plan`)."""
        return await asyncio.get_running_loop().run_in_executor(self._planner, _plan_job, problem, seconds)

    async def assess(
        self,
        zones: Sequence[Zone],
        fleet: Fleet,
        requests: Sequence[Request],
        now: datetime,
        states: Sequence[DroneState] = (),
    ) -> list[Assessment]:
        """Intake verdicts of ``requests`` (:func:`dispatch.service.intake.assess`), in the intake worker."""
        return await asyncio.get_running_loop().run_in_executor(
            self._intake, _assess_job, tuple(zones), fleet, tuple(requests), now, tuple(states)
        )

    def close(self) -> None:
        """Stop the workers (running jobs are abandoned)."""
        self._planner.shutdown(wait=False, cancel_futures=True)
        self._intake.shutdown(wait=False, cancel_futures=True)
