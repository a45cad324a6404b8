"""A request accepted earlier that can no longer be flown (its deadline slipped out of reach while
it waited) ends ``unserved`` with the planner's reason code: the dispatcher does not cancel it,
cancelling is an office's decision."""

from __future__ import annotations

from datetime import timedelta

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Intake, Store
from fleet.connection import BrokerAddress
from tests.dispatcher_fixtures import states


async def test_deadline_out_of_reach_after_acceptance_is_unserved(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d = system.dispatcher
        now = system.clock.now()
        # Accepted when it was filed; 3 simulated minutes later no drone can fly 8 km in time.
        late = request("tiexi", "industrial-park", deadline_min=3, now=now)
        filed = await store.requests.create(
            late,
            actor="tiexi",
            intake=Intake(True, details={"eta": (now + timedelta(minutes=2)).isoformat()}),
        )
        # A request that can be flown, filed the same way, goes on as usual.
        fine = await store.requests.create(
            request("service-centre", "beiguan-district", deadline_min=90, now=now),
            actor="service-centre",
            intake=Intake(True),
        )
        assert filed.request.state == fine.request.state == "accepted"
        d.wake()

        async def decided() -> bool:
            got = await states(store, [filed.request.id, fine.request.id])
            return got[filed.request.id] != "accepted" and got[fine.request.id] == "delivered"

        await d.wait_until(decided, timeout_s=60)
        view = await store.requests.get(filed.request.id)
        assert view.state == "unserved"
        assert view.state_reason == "deadline_infeasible"
        entries = (await store.requests.timeline(filed.request.id)).entries
        last = entries[-1].payload
        assert (last["from"], last["to"]) == ("accepted", "unserved")
        assert last["details"]["reason"] == "deadline_infeasible" and last["details"]["detail"]
        assert entries[-1].actor == d.actor
        assert await store.flights.carrying(filed.request.id) == []
        assert (await store.verify_audit()).ok
