"""A temporary zone added mid-flight: the dispatcher re-routes the flight it blocks, no breach."""

from __future__ import annotations

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp
from tests.dispatcher_fixtures import blocking_zone, parse_zone, states


async def test_zone_added_mid_flight_reroutes_without_breach(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d = system.dispatcher
        view = await d.submit(request("yindu-district", "zhangde-road"))
        assert view.state == "accepted"
        picked = await system.sim.wait_for(
            lambda e: isinstance(e, PickedUp) and e.request_id == view.id, timeout_s=30
        )
        assert picked.mission_id is not None
        feature = blocking_zone(system, picked.mission_id, "pop-up")
        system.watch_zone(parse_zone(feature))
        hit = await d.add_zone(feature, actor="operator-test")
        assert hit == [picked.mission_id]

        async def done() -> bool:
            return (await states(store, [view.id]))[view.id] == "delivered" and not d.missions

        await d.wait_until(done, timeout_s=60)
        assert not system.sim.breaches
        flight = await store.flights.get(picked.mission_id)
        reroutes = [c for c in flight.commands if c.kind == "Reroute" and c.result == "ack"]
        assert len(reroutes) == 1
        assert [c.kind for c in flight.commands if c.result == "ack"][-3:] == ["Hold", "Reroute", "Resume"]
        history = await store.history("flight", picked.mission_id)
        assert "rerouted" in [e.action for e in history]
        print(
            "reroute reaction wall s",
            d.stats.reroute_reaction_wall_s,
            "sim s",
            d.stats.reroute_reaction_sim_s,
        )
        report = await store.verify_audit()
        assert report.ok
