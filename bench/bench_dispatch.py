"""Dispatcher benchmark: request-to-first-command latency and event-loop lag, printed as a table.

    .venv/bin/python -m bench.bench_dispatch [--broker mqtt://127.0.0.1:1883] [--rate 10] [--seconds 5]

Runs the real system: a SQLite store in a temporary directory, the simulated fleet (12 drones) on
the broker at 200x simulated time, the fleet link and the dispatcher with its solver processes.

- *idle*: one request at a time with idle drones; latency from ``submit`` to the mission upload
  going out (intake, planning round, flight recorded, commands recorded);
- *sustained*: requests filed at ``--rate`` per second for ``--seconds``; same latency for every
  request that got a drone during the run (the others wait for a drone to come back);
- *event-loop lag*: the largest delay of a 10 ms timer on the dispatcher's loop while a 120-request
  plan is solved (3 s solver limit) in the worker process, and, for comparison, in a thread;
- *zone reaction*: wall time from an operator adding a zone on a flight's path to the re-route
  being acknowledged by the drone.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dispatch.harness import System, pads, point_ahead, request, running_system
from dispatch.service.intake import to_routing_request
from dispatch.service.solver_pool import SolverPool
from dispatch.store import open_store
from fleet.connection import BrokerAddress
from routing.planner import plan
from routing.problem import PlanningProblem

PADS = sorted(set(pads()) - {"crane-site", "sports-centre"})


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values (nearest rank)."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


async def max_lag(work: Callable[[], Awaitable[Any]], period_s: float = 0.01) -> float:
    """Run ``work`` while a timer measures how late the event loop wakes it; the worst delay."""
    worst = 0.0
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal worst
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(period_s)
            worst = max(worst, time.perf_counter() - t - period_s)

    task = asyncio.create_task(probe())
    try:
        await work()
    finally:
        done.set()
        await task
    return worst


async def first_command_latency(system: System, rid: str, t0: float, timeout_s: float) -> float | None:
    """Wall seconds from ``t0`` to the first command of request ``rid`` (None if none in time)."""
    stats = system.dispatcher.stats

    async def seen() -> bool:
        return rid in stats.first_command_wall

    try:
        await system.dispatcher.wait_until(seen, timeout_s)
    except TimeoutError:
        return None
    return stats.first_command_wall[rid] - t0


async def bench(broker: BrokerAddress, rate: float, seconds: float) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    rng = random.Random(1)
    pool = SolverPool()
    await pool.warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        prefix = f"bench-{uuid.uuid4().hex[:8]}/dd/v1"
        try:
            async with running_system(store, broker, prefix, drones=12, speed=200.0, pool=pool) as system:
                d = system.dispatcher
                # Idle fleet: one request at a time.
                idle = []
                for _ in range(8):
                    await asyncio.wait_for(d.idle.wait(), 30)
                    a, b = rng.sample(PADS, 2)
                    t0 = time.time()
                    view = await d.submit(request(a, b, deadline_min=240, now=system.clock.now()))
                    lat = await first_command_latency(system, view.id, t0, 30)
                    if lat is not None:
                        idle.append(lat)
                rows.append(
                    (
                        "first command, idle fleet, p50 / p95 (s)",
                        f"{pct(idle, 0.5):.3f} / {pct(idle, 0.95):.3f}  (n={len(idle)})",
                    )
                )

                # Sustained load.
                submitted: dict[str, float] = {}

                async def file_one() -> None:
                    a, b = rng.sample(PADS, 2)
                    t0 = time.time()
                    view = await d.submit(request(a, b, deadline_min=240, now=system.clock.now()))
                    submitted[view.id] = t0

                tasks = []
                start = time.perf_counter()
                n = int(rate * seconds)
                for i in range(n):
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(file_one()))
                await asyncio.gather(*tasks)
                filing_s = time.perf_counter() - start
                await asyncio.wait_for(d.idle.wait(), 30)
                lats = [
                    d.stats.first_command_wall[r] - t
                    for r, t in submitted.items()
                    if r in d.stats.first_command_wall
                ]
                rows.append((f"sustained {rate:g} req/s for {seconds:g} s: filed in (s)", f"{filing_s:.2f}"))
                rows.append(
                    (
                        "first command, sustained, p50 / p95 (s)",
                        f"{pct(lats, 0.5):.3f} / {pct(lats, 0.95):.3f}  "
                        f"(commanded {len(lats)}/{len(submitted)} during the run)",
                    )
                )
                walls = d.stats.plan_wall_s
                rows.append(
                    (
                        "planning round wall time, p50 / max (s)",
                        f"{statistics.median(walls):.3f} / {max(walls):.3f}",
                    )
                )

                # Zone reaction: a disc 2 km ahead on the rest of some flight's path, clear of pads,
                # ports and other zones (as in the end-to-end test).
                target, point = None, None
                for m in list(d.missions.values()):
                    if m.state == "flying" and m.picked and not m.rerouting:
                        point = point_ahead(system, m.mission_id, 2000.0, keep_clear_m=300.0)
                        if point is not None:
                            target = m
                            break
                if target is not None and point is not None:
                    feature = {
                        "type": "Feature",
                        "properties": {"id": "bench-zone", "kind": "no_fly", "radius_m": 120.0},
                        "geometry": {"type": "Point", "coordinates": list(point)},
                    }
                    t0 = time.perf_counter()
                    hit = await d.add_zone(feature, actor="bench")
                    add_s = time.perf_counter() - t0

                    async def reacted() -> bool:
                        m = d.missions.get(target.mission_id)
                        return bool(d.stats.reroute_reaction_wall_s) or m is None or not m.rerouting

                    await d.wait_until(reacted, 30)
                    if d.stats.reroute_reaction_wall_s:
                        rows.append(
                            (
                                "zone added -> re-route acked, wall (s)",
                                f"{d.stats.reroute_reaction_wall_s[0]:.3f} (store+scan {add_s:.3f}; "
                                f"{len(hit)} flight(s) hit)",
                            )
                        )
                    else:  # e.g. the detour needs more battery than is left: the drone went home
                        notes = [e.action for e in await store.history("flight", target.mission_id)]
                        outcome = f"not re-routed: {notes[-2:]}"
                        rows.append(("zone added -> re-route acked, wall (s)", outcome))
                else:
                    rows.append(
                        ("zone added -> re-route acked, wall (s)", "no flight with a long leg to block")
                    )

                # Event-loop lag while a large plan is solved.
                assert system.fleet is not None
                now = system.clock.now()
                big = []
                for _ in range(120):
                    a, b = rng.sample(PADS, 2)
                    created = await store.requests.create(request(a, b, deadline_min=300, now=now), actor=a)
                    big.append(to_routing_request(created.request, now))
                problem = PlanningProblem(tuple(d.zones), system.fleet, tuple(big), now)
                lag_proc = await max_lag(lambda: pool.plan(problem, 3.0))
                loop = asyncio.get_running_loop()
                lag_thread = await max_lag(
                    lambda: loop.run_in_executor(None, lambda: plan(problem, seconds=3.0))
                )
                rows.append(
                    ("event-loop lag, 120-request plan in worker process (max ms)", f"{lag_proc * 1000:.1f}")
                )
                rows.append(
                    ("event-loop lag, same plan in a thread (max ms, comparison)", f"{lag_thread * 1000:.1f}")
                )
                rows.append(("geofence breaches", str(len(system.sim.breaches))))
        finally:
            await store.close()
            pool.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="bench_dispatch", description="dispatcher latency and loop lag")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second (sustained part)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the sustained part")
    args = parser.parse_args(argv)
    rows = asyncio.run(bench(BrokerAddress.parse(args.broker), args.rate, args.seconds))
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
