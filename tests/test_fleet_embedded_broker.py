"""The embedded broker (zero set-up demo): the link and a simulated drone work over it."""

from __future__ import annotations

import asyncio

from fleet.clock import ScaledClock
from fleet.connection import client_id_from
from fleet.description import load_fleet
from fleet.embedded_broker import EmbeddedBroker
from fleet.link import FleetLink
from fleet.messages import Delivered, Landed
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.fleet_helpers import start, upload, wait_until


async def test_link_and_drone_over_the_embedded_broker() -> None:
    clock = ScaledClock(300)
    fleet = load_fleet(EXAMPLES / "fleet.json")
    with EmbeddedBroker() as address:
        link = FleetLink(address, client_id=client_id_from("disp", "embedded"), clock=clock)
        sim = SimulatedFleet(fleet, address, clock=clock, drone_ids=["D01"])
        async with link, sim:
            await wait_until(lambda: link.registry.is_online("D01", clock.now()), what="D01 online")
            # A command sent while the drone is away waits in its persistent session.
            await sim.stop()
            sending = asyncio.create_task(link.send(upload(clock), ack_timeout_s=10, attempts=1))
            await wait_until(lambda: link.stats.sent == 1, what="command published")
            await sim.start()
            assert (await sending).accepted
            assert (await link.send(start(clock))).accepted
            delivered = await sim.wait_event("D01", Delivered, timeout_s=20)
            assert delivered.code_ok
            await sim.wait_event("D01", Landed, timeout_s=20)
            assert link.registry.drones["D01"].telemetry_count > 10
            assert link.stats.dropped_total == 0
    # Stopped: the port is free again.
    with EmbeddedBroker(port=address.port) as again:
        assert again.port == address.port
