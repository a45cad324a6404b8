"""The broker stops mid-flight and comes back on the same port (sessions persisted on disk).

The dispatcher, its link and the simulated fleet all run against a private Mosquitto with
persistence. While drones are flying (one with its document on board) the broker is stopped,
kept down a few seconds of real time (many simulated minutes: every drone's lost-link policy
applies) and started again. The link and the drones reconnect by themselves; the dispatcher must
catch up: no acknowledged command lost, every flight continues, every request delivered exactly
once, nothing re-planned, the audit chain intact.
"""

from __future__ import annotations

import asyncio

import pytest

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.link import LinkStatus
from fleet.messages import PickedUp, TookOff
from tests.dispatcher_fixtures import states
from tests.fault_checks import assert_delivered_once
from tests.mqtt_fixtures import Mosquitto

PAIRS = [
    ("service-centre", "zhangde-road"),
    ("yindu-district", "anyang-station"),
    ("tax-bureau", "jiefang-road"),
]


async def _next_link(updates, status: str, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    async def _find() -> None:
        async for u in updates:
            if isinstance(u, LinkStatus) and u.status == status:
                return

    await asyncio.wait_for(_find(), timeout_s)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_broker_restart_mid_flight(
    store: Store, mosquitto: Mosquitto, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, mosquitto.address, prefix, pool=solver_pool, speed=60.0) as system:
        d, sim, link = system.dispatcher, system.sim, system.link
        ids = [(await d.submit(request(src, dst))).id for src, dst in PAIRS]
        await sim.wait_for(lambda e: isinstance(e, PickedUp), timeout_s=60)
        flying = {e.drone_id for e in sim.events if isinstance(e, TookOff)}
        assert flying
        with link.subscribe() as updates:
            mosquitto.stop()
            await _next_link(updates, "down")
            # Down long enough for every flying drone's lost-link policy (30 simulated s) to apply.
            before = system.clock.now()
            await asyncio.wait_for(_simulated(system, before, 120.0), 30)
            held = {x for x in flying if sim.drone(x).state == "holding"}
            mosquitto.start()
            await _next_link(updates, "up")
        await sim.wait_connected(30)

        async def all_done() -> bool:
            return (
                set((await states(store, ids)).values()) == {"delivered"}
                and not await store.flights.list_active()
            )

        await d.wait_until(all_done, timeout_s=90)
        await assert_delivered_once(store, sim, ids)
        assert link.stats.connects >= 2
        assert held, "no drone was holding on its lost-link policy: the outage tested nothing"
        assert all(d.drones[x].usable for x in flying)  # nobody was written off for the outage
        # The dispatcher told each drone that held on its own to go on, once it was back.
        resumed = {
            c.drone_id
            for rid in ids
            for f in await store.flights.carrying(rid)
            for c in f.commands
            if c.kind == "Resume" and c.result == "ack"
        }
        assert held <= resumed, (held, resumed)


async def _simulated(system, start, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``seconds`` of simulated time have passed since ``start``."""
    while (system.clock.now() - start).total_seconds() < seconds:
        await system.clock.sleep(seconds / 10)
