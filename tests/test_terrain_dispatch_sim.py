"""End to end over terrain: the dispatcher plans over the sample DEM and sends its missions in the
``terrain`` altitude frame, the simulator follows the ground and reports altitudes above sea level;
every request is delivered with no terrain violation, breach, loss of separation or
nonconformance (telemetry above sea level is judged as true heights against the intents)."""

from __future__ import annotations

import pytest

from dispatch.harness import request, running_system
from dispatch.sample_area import SAMPLE_DIR
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from dispatch.terrain_file import area_terrain
from fleet.connection import BrokerAddress
from fleet.description import load_fleet
from tests.fault_checks import assert_no_separation_loss

ROUTES = [("tiexi", "service-centre"), ("yindu-district", "anyang-east"), ("longan-district", "tax-bureau")]
FINAL = ("delivered", "rejected", "unserved", "failed", "returned")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_dispatcher_s_terrain_missions_are_flown_within_the_band(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    area = area_terrain(
        load_fleet(SAMPLE_DIR / "fleet.json"),
        SAMPLE_DIR / "fleet.json",
        SAMPLE_DIR.parent / "terrain" / "taihang.tif",
    )
    assert area is not None
    frames: set[str] = set()
    async with running_system(
        store, broker, prefix, drones=4, speed=200.0, pool=solver_pool, terrain=area
    ) as system:
        system.link.add_telemetry_listener(lambda t, _at, _shared: frames.add(t.altitude_frame))
        d, clock, sim = system.dispatcher, system.clock, system.sim
        ids = [(await d.submit(request(a, b, deadline_min=240, now=clock.now()))).id for a, b in ROUTES]
        uploaded: set[str] = set()  # the frames of the missions the drones hold

        async def settled() -> bool:
            uploaded.update(a.sim.mission.altitude_frame for a in sim.agents.values() if a.sim.mission)
            states = [(await store.requests.get(r)).state for r in ids]
            return all(s in FINAL for s in states)

        await d.wait_until(settled, 120)
        states = [(await store.requests.get(r)).state for r in ids]
        nonconforming = d.conformance.total
    assert states == ["delivered"] * len(ROUTES)
    assert sim.terrain_violations == [] and sim.breaches == []
    assert_no_separation_loss(sim)
    assert nonconforming == 0
    assert uploaded == {"terrain"} and frames == {"amsl"}
    assert d.stats.terrain_violations == 0
    missions = [e for e in sim.events if e.mission_id is not None]
    assert missions and all(e.altitude_frame == "amsl" for e in missions)
    # the drones flew above sea level over the plain (about 70 m): altitudes well above the cruise
    assert max(p[2] for a in sim.agents.values() for p in a.sim.flown) > 150.0
