"""Lost link: the mission's policy (``continue``, ``hold``, ``return``) after the mission's own
timeout, and the dispatcher riding out a 30-second link loss without re-planning anything.

The policy and its timeout travel with the mission (``UploadMission.lost_link`` and
``lost_link_after_s``); the simulated drone applies them when it has been cut off from the broker
that long (if it is over a pad then, once it climbs back). The dispatcher writes a drone off only
after its own silence timeout, and tells a drone that came back still holding to go on.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import Fleet, load_fleet
from fleet.link import FleetLink
from fleet.messages import Delivered, Landed, PickedUp, Resume
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.dispatcher_fixtures import states
from tests.fault_checks import assert_delivered_once
from tests.fleet_helpers import start, upload, wait_until

SPEED = 100.0


@pytest.fixture
def fleet() -> Fleet:
    return load_fleet(EXAMPLES / "fleet.json")


@pytest.mark.parametrize("policy", ["continue", "hold", "return"])
async def test_the_missions_policy_applies_after_the_missions_timeout(
    fleet: Fleet, broker: BrokerAddress, prefix: str, policy: str
) -> None:
    clock = ScaledClock(SPEED)
    link = FleetLink(
        broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock, session_expiry_s=120
    )
    # The drone's own default (10 minutes) never fires here: only the mission's 10 s can.
    sim = SimulatedFleet(
        fleet,
        broker,
        clock=clock,
        prefix=prefix,
        drone_ids=["D01"],
        session_expiry_s=120,
        lost_link_after_s=600,
    )
    mission = msgspec.structs.replace(upload(clock, lost_link=policy), lost_link_after_s=10.0)
    async with link, sim:
        with link.subscribe() as updates:
            assert (await link.send(mission)).accepted
            assert (await link.send(start(clock))).accepted
            await sim.wait_event("D01", PickedUp, timeout_s=20)  # the document is on board
            sim.inject_link_loss("D01", 90.0)
            drone = sim.drone("D01")
            if policy == "continue":
                # It flies on, blind, and hands the document over; the link hears of it once back.
                await sim.wait_event("D01", Delivered, timeout_s=30, code_ok=True)
                got = await _next(updates, Delivered)
                assert got.request_id == "R001"
            elif policy == "hold":
                await wait_until(lambda: drone.state == "holding", timeout_s=20, what="hold")
                assert not sim.agents["D01"].connected.is_set()
                await sim.wait_connected(20)
                assert drone.state == "holding"  # back online it still waits for the dispatcher
                resume = Resume(drone_id="D01", cmd_id="go-on", expires_at=mission.expires_at)
                assert (await link.send(resume)).accepted
                await sim.wait_event("D01", Delivered, timeout_s=30, code_ok=True)
            else:
                await wait_until(lambda: drone.state == "returning", timeout_s=20, what="return")
                landed = await sim.wait_event("D01", Landed, timeout_s=30)
                assert landed.port_id == "port-service-centre"  # where it took off, document on board
                assert drone.payload == {"R001": pytest.approx(0.3)}
                assert not [e for e in sim.events if isinstance(e, Delivered)]
    assert not sim.breaches


async def _next(updates, kind: type) -> object:  # type: ignore[no-untyped-def]
    async def _find() -> object:
        async for u in updates:
            if isinstance(u, kind):
                return u
        raise AssertionError("unreachable")

    return await asyncio.wait_for(_find(), 30)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_30_second_link_loss_mid_mission_needs_no_replan(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system:
        d, sim = system.dispatcher, system.sim
        for agent in sim.agents.values():
            agent.lost_link_after_s = 15.0  # the drones' policy timeout: well inside the 30 s loss
        rid = (await d.submit(request("service-centre", "zhangde-road"))).id
        picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == rid, timeout_s=60)
        drone = picked.drone_id
        await wait_until(lambda: sim.drone(drone).state == "en_route", timeout_s=30, what="climbed out")
        sim.inject_link_loss(drone, 30.0)
        await wait_until(lambda: not sim.agents[drone].connected.is_set(), what="link down")
        await sim.wait_connected(30)

        async def delivered() -> bool:
            return (await states(store, [rid]))[rid] == "delivered" and not await store.flights.list_active()

        await d.wait_until(delivered, timeout_s=60)
        await assert_delivered_once(store, sim, [rid])  # one flight, never re-planned
        (flight,) = await store.flights.carrying(rid)
        assert flight.state == "completed" and flight.drone_id == drone
        # It held on its policy (a Resume is only accepted by a holding drone) and was told to go on.
        assert [c.result for c in flight.commands if c.kind == "Resume"] == ["ack"]
        assert d.drones[drone].usable
