"""The planner and the intake pre-check, run in a worker process so the event loop never stalls.

The planner is CPU-heavy Python plus OR-Tools: in a thread it would hold the GIL for long
stretches and the dispatcher's event loop (acks, events, telemetry) would lag. One spawned worker
process per kind of job keeps the loop free; the problem and the plan cross as pickles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta

from airspace.terrain import AreaTerrain
from airspace.zones import Zone
from dispatch.service.intake import Assessment, assess, assess_many
from fleet.description import Fleet, parse_fleet
from routing.intents import OperationalIntent
from routing.planner import DeconflictionParams, plan
from routing.prepared import prepare
from routing.problem import DroneState, Plan, PlanningProblem
from routing.processes import spawn_pool
from routing.requests import Request


def _warm_up() -> int:
    """Run one tiny plan and one intake check, so the first real job pays no first-call costs
    (module imports, the projection database, OR-Tools' solver start-up)."""
    fleet = parse_fleet(
        {
            "models": {
                "warm-up": {
                    "cruise_speed_mps": 10,
                    "cruise_altitude_m": 100,
                    "max_payload_kg": 1,
                    "battery_wh": 100,
                    "reserve_fraction": 0.2,
                    "wh_per_km": 10,
                    "wh_per_km_per_kg": 1,
                    "service_s": 30,
                    "turnaround_s": 60,
                }
            },
            "ports": [{"id": "P", "lon": 127.0, "lat": 37.0, "drones": [{"id": "D", "model": "warm-up"}]}],
        },
        source="warm-up",
    )
    at = datetime(2000, 1, 1, tzinfo=UTC)
    request = Request(
        "warm-up", (127.001, 37.001), (127.002, 37.0), 0.1, "normal", at, at + timedelta(hours=1)
    )
    assess((), fleet, request, at)
    plan(PlanningProblem((), fleet, (request,), at), seconds=0.05, workers=1)
    return 0


def _plan_job(
    problem: PlanningProblem,
    seconds: float,
    active: tuple[OperationalIntent, ...],
    params: DeconflictionParams,
) -> Plan:
    return plan(problem, seconds=seconds, workers=1, active_intents=active, deconfliction=params)


def _assess_job(
    zones: tuple[Zone, ...],
    fleet: Fleet,
    requests: tuple[Request, ...],
    now: datetime,
    states: tuple[DroneState, ...],
    terrain: AreaTerrain | None = None,
) -> list[Assessment]:
    return assess_many(zones, fleet, requests, now, states, terrain)


def _warm_area(
    zones: tuple[Zone, ...],
    fleet: Fleet,
    pads: tuple[tuple[float, float], ...],
    terrain: AreaTerrain | None,
    at: datetime,
    planner: bool,
) -> None:
    """Plan (``planner``) or assess a problem whose requests visit every pad of the area, so that
    what a first round there computes stays in this worker's caches: the paths and terrain profiles
    between the pads (:mod:`routing.terrain_legs`), the metric frames of its legs and intents, the
    deconfliction's first use. Cold, a first round of six requests over the sample area took 0.25 s
    longer than the next one: at 60x, fifteen simulated seconds before the ten-minute licence left."""
    if not pads:
        return
    requests = tuple(
        Request(f"warm-{k}", pads[k], pads[(k + 1) % len(pads)], 0.1, "normal", at, at + timedelta(hours=2))
        for k in range(len(pads))
    )
    problem = PlanningProblem(zones, fleet, requests, at, terrain=terrain)
    if planner:
        plan(problem, seconds=0.05, workers=1, deconfliction=DeconflictionParams())
    else:
        prepare(problem)
        assess_many(zones, fleet, requests[:1], at, (), terrain)


class SolverPool:
    """Two worker processes: one for planning rounds, one for intake (so intake never waits for a plan)."""

    def __init__(self) -> None:
        self._planner: Executor = spawn_pool(1)  # its worker dies with this process, even on SIGKILL
        self._intake: Executor = spawn_pool(1)

    async def warm_up(self) -> None:
        """Start both workers and run a tiny job in each (see :func:`_warm_up`)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            loop.run_in_executor(self._planner, _warm_up), loop.run_in_executor(self._intake, _warm_up)
        )

    async def warm_area(
        self,
        zones: Sequence[Zone],
        fleet: Fleet,
        pads: Sequence[tuple[float, float]],
        terrain: AreaTerrain | None,
        at: datetime,
    ) -> None:
        """Plan and assess trips between the area's pads in the workers, so that the first intake
        decisions and planning rounds find their paths, profiles and frames computed (see
        :func:`_warm_area`)."""
        loop = asyncio.get_running_loop()
        args = (tuple(zones), fleet, tuple(pads), terrain, at)
        await asyncio.gather(
            loop.run_in_executor(self._planner, _warm_area, *args, True),
            loop.run_in_executor(self._intake, _warm_area, *args, False),
        )

    async def plan(
        self,
        problem: PlanningProblem,
        seconds: float,
        active: Sequence[OperationalIntent] = (),
        params: DeconflictionParams | None = None,
    ) -> Plan:
        """Plan ``problem`` in the planning worker (see :func:`routing.planner.plan`), every trip
        deconflicted from the ``active`` intents and from each other."""
        return await asyncio.get_running_loop().run_in_executor(
            self._planner, _plan_job, problem, seconds, tuple(active), params or DeconflictionParams()
        )

    async def assess(
        self,
        zones: Sequence[Zone],
        fleet: Fleet,
        requests: Sequence[Request],
        now: datetime,
        states: Sequence[DroneState] = (),
        terrain: AreaTerrain | None = None,
    ) -> list[Assessment]:
        """Intake verdicts of ``requests`` (:func:`dispatch.service.intake.assess`), in the intake worker."""
        return await asyncio.get_running_loop().run_in_executor(
            self._intake, _assess_job, tuple(zones), fleet, tuple(requests), now, tuple(states), terrain
        )

    def close(self) -> None:
        """Stop the workers (running jobs are abandoned)."""
        self._planner.shutdown(wait=False, cancel_futures=True)
        self._intake.shutdown(wait=False, cancel_futures=True)
