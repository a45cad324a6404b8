"""A drone sent home is told to hold first: its way home, and the intent that declares it, start
where it hovers, not where it was when the return was decided (end to end: real broker and
simulator). The drone flies straight from where it is to its return's first waypoint, so a return
planned from an old position would send it along a line nothing checked, past any zone."""

from __future__ import annotations

import math

import pytest

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp
from routing.conformance import Tolerance, contains
from routing.intents import intent_frame
from tests.fleet_helpers import wait_until

AWAY_M = 600.0  # how far the drone has flown from the position the return is decided on


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_return_decided_on_an_old_position_starts_where_the_drone_holds(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system:
        d, sim = system.dispatcher, system.sim
        assert d.picture.fleet is not None
        frame = intent_frame(d.picture.fleet)
        rid = (await d.submit(request("service-centre", "zhangde-road"))).id
        picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == rid, timeout_s=60)
        a = picked.drone_id
        old = d.picture.position(a)
        assert old is not None
        ox, oy = frame.to_xy(*old)

        def away() -> float:
            here = d.picture.position(a)
            return 0.0 if here is None else math.dist((ox, oy), frame.to_xy(*here))

        await wait_until(lambda: away() > AWAY_M, timeout_s=30, what="the drone well on its way")
        (m,) = [m for m in d.missions.values() if m.drone_id == a]
        await d.steering.send_home(m, old, "a test sends it home")
        await wait_until(lambda: sim.drone(a).state == "returning", timeout_s=30, what="the drone returning")

        async def declared() -> bool:  # once its return is acknowledged
            return a in d.picture.own_intents

        await d.wait_until(declared, timeout_s=30)

        intent = d.picture.own_intents[a]
        first = min(intent.volumes, key=lambda v: v.t0)
        # Its return starts where it held (hundreds of metres from the old position) ...
        assert math.dist((first.ax, first.ay), (ox, oy)) > AWAY_M - 50.0
        # ... and holds the drone as it flies it.
        for _ in range(3):
            tele = await d.flights.telemetry_after(a, system.clock.now())
            x, y = frame.to_xy(tele.lon, tele.lat)
            assert contains(intent, tele.ts.timestamp(), x, y, tele.alt_m, Tolerance()), tele
