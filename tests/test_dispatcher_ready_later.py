"""Work filed now but ready only later does not hold back work that is ready: an urgent document is
flown at once even when a document filed with it, ready seven minutes later, waits at its drop-off
pad 6 km out. The solver chains the two on one trip, and a trip that waits for work beyond the
commit window is not committed: the urgent one used to wait with it, round after round."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from tests.dispatcher_fixtures import states


async def test_an_urgent_request_is_not_held_back_by_one_ready_later(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, drones=1, speed=60.0, pool=solver_pool) as system:
        d = system.dispatcher
        now = system.clock.now()
        later = now + timedelta(seconds=d.settings.commit_window_s + 300)
        urgent = dataclasses.replace(
            request("service-centre", "anyang-east", deadline_min=15), priority="urgent"
        )
        back = request("anyang-east", "service-centre", now=later)
        u, b = await asyncio.gather(d.submit(urgent), d.submit(back))  # filed together

        async def urgent_planned() -> bool:
            return (await states(store, [u.id]))[u.id] != "accepted"

        await d.wait_until(urgent_planned, timeout_s=60)
        assert system.clock.now() < later - timedelta(seconds=d.settings.commit_window_s)
        flights = [m.spec.request_ids for m in d.missions.values()]
        assert flights == [(u.id,)], flights  # flown alone, at once
        assert (await states(store, [b.id]))[b.id] == "accepted"  # its round comes later
