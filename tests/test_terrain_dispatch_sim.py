"""End to end over terrain: the dispatcher plans over the sample DEM and sends its missions in the
``terrain`` altitude frame, the simulator follows the ground and reports altitudes above sea level;
every request is delivered with no terrain violation, breach or loss of separation."""

from __future__ import annotations

import asyncio

import pytest

from airspace.zones import load_zones
from dispatch.harness import SIM_START, request, sample_fleet, seed
from dispatch.sample_area import SAMPLE_DIR
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import DispatcherSettings
from dispatch.store import Store
from dispatch.terrain_file import area_terrain
from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from fleet.link import FleetLink
from simulator.fleet_sim import SimulatedFleet
from tests.fault_checks import assert_no_separation_loss

ROUTES = [("tiexi", "service-centre"), ("yindu-district", "anyang-east"), ("longan-district", "tax-bureau")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_dispatcher_s_terrain_missions_are_flown_within_the_band(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    fleet = sample_fleet(4)
    area = area_terrain(fleet, SAMPLE_DIR / "fleet.json", SAMPLE_DIR.parent / "terrain" / "taihang.tif")
    assert area is not None
    await seed(store, fleet)
    speed = 200.0
    clock = SharedClock.starting_now(speed, SIM_START)
    sim = SimulatedFleet(
        fleet,
        broker,
        clock=clock,
        prefix=prefix,
        zones=load_zones(SAMPLE_DIR / "zones.geojson"),
        telemetry_period_s=2.0,
        terrain=area,
    )
    link = FleetLink(broker, client_id=f"disp-{prefix.split('/')[0]}", prefix=prefix, clock=clock)
    frames: set[str] = set()
    link.add_telemetry_listener(lambda t, _at, _shared: frames.add(t.altitude_frame))
    settings = DispatcherSettings(plan_seconds=0.3, silent_after_s=5.0 * speed)
    async with sim, link:
        dispatcher = Dispatcher(store, link, clock, settings, pool=solver_pool, terrain=area)
        async with dispatcher:
            ids = [
                (await dispatcher.submit(request(a, b, deadline_min=240, now=clock.now()))).id
                for a, b in ROUTES
            ]

            uploaded: set[str] = set()  # the frames of the missions the drones hold

            async def settled() -> None:
                while True:
                    uploaded.update(
                        a.sim.mission.altitude_frame for a in sim.agents.values() if a.sim.mission
                    )
                    states = [(await store.requests.get(r)).state for r in ids]
                    if all(s in ("delivered", "rejected", "unserved", "failed", "returned") for s in states):
                        return
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(settled(), 120)
            states = [(await store.requests.get(r)).state for r in ids]
    assert states == ["delivered"] * len(ROUTES)
    assert sim.terrain_violations == [] and sim.breaches == []
    assert_no_separation_loss(sim)
    assert uploaded == {"terrain"} and frames == {"amsl"}
    missions = [e for e in sim.events if e.mission_id is not None]
    assert missions and all(e.altitude_frame == "amsl" for e in missions)
