"""A drone faults: work it has not picked up flies on another drone; what it carries is failed."""

from __future__ import annotations

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp, TookOff
from tests.dispatcher_fixtures import states


async def test_fault_before_and_after_pickup(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d, sim = system.dispatcher, system.sim
        # 1. A fault right after take-off, before the pickup: the request is re-planned elsewhere.
        first = await d.submit(request("yindu-district", "zhangde-road"))
        took = await sim.wait_for(lambda e: isinstance(e, TookOff), timeout_s=30)
        broken = took.drone_id
        sim.inject_motor_fault(broken)

        async def delivered() -> bool:
            return (await states(store, [first.id]))[first.id] == "delivered"

        await d.wait_until(delivered, timeout_s=60)
        flights = await store.flights.carrying(first.id)
        assert flights[0].state == "aborted" and flights[1].state in ("flying", "completed")
        assert flights[0].drone_id == broken and flights[1].drone_id != broken
        timeline = await store.requests.timeline(first.id)
        path = [e.payload["to"] for e in timeline.entries if e.action == "transition"]
        assert path == [
            "accepted",
            "planned",
            "dispatched",
            "accepted",
            "planned",
            "dispatched",
            "picked_up",
            "delivered",
        ]

        # 2. A fault with the documents on board: failed, with the custody record; the drone is told to land.
        second = await d.submit(request("service-centre", "longan-district"))
        picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == second.id, 30)
        carrier = picked.drone_id
        sim.inject_motor_fault(carrier)

        async def failed() -> bool:
            return (await states(store, [second.id]))[second.id] == "failed"

        await d.wait_until(failed, timeout_s=30)
        timeline = await store.requests.timeline(second.id)
        failure = next(e.payload for e in timeline.entries if e.payload.get("to") == "failed")
        assert failure["details"]["drone_id"] == carrier and failure["details"]["custody"] == "on board"
        assert "fault" in failure["details"]["reason"]

        # The emergency landing is in the open, not at a port: the documents are not "returned";
        # the request stays failed and the chain records where they came down.
        async def landing_recorded() -> bool:
            entries = (await store.requests.timeline(second.id)).entries
            return any(e.action == "documents_landed_away_from_port" for e in entries)

        # Its mission is given up once the drone has acknowledged the abort (or landed).
        async def aborted() -> bool:
            return (await store.flights.carrying(second.id))[0].state == "aborted"

        await d.wait_until(landing_recorded, timeout_s=30)
        await d.wait_until(aborted, timeout_s=30)
        assert (await states(store, [second.id]))[second.id] == "failed"
        assert not d.drones[carrier].usable and not d.drones[broken].usable
        assert not sim.breaches
        report = await store.verify_audit()
        assert report.ok
