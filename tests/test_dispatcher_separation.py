"""A drone's ``separation_loss`` report reaches the dispatcher: counted, logged and audited."""

from __future__ import annotations

from datetime import timedelta

from dispatch.harness import running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import LossOfSeparation


async def test_a_reported_loss_of_separation_is_counted_and_audited_on_the_drone(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        now = system.clock.now()
        drone = system.sim.drone("D01")
        lon, lat = drone.lonlat()
        # What the simulator's separation monitor queues when a loss ends: the drone signs and
        # sends it on its next tick, over the broker, like any event.
        drone.outbox.append(
            LossOfSeparation(
                drone_id="D01",
                ts=now,
                lon=lon,
                lat=lat,
                alt_m=120.0,
                other_drone_id="D02",
                started_at=now - timedelta(seconds=4),
                closest_m=3.5,
                horizontal_m=3.0,
                vertical_m=1.8,
            )
        )

        async def noted() -> bool:
            return any(e.action == "separation_loss" for e in await store.history("drone", "D01"))

        await system.dispatcher.wait_until(noted, timeout_s=30)
        entry = next(e for e in await store.history("drone", "D01") if e.action == "separation_loss")
        assert entry.payload["other_drone_id"] == "D02" and entry.payload["closest_m"] == 3.5
        assert entry.payload["started_at"] == (now - timedelta(seconds=4)).isoformat()
        assert system.dispatcher.stats.separation_losses == 1
        assert (await store.verify_audit()).ok
