"""Conformance monitoring end to end: a drone that really leaves its intent is nonconforming.

The whole system over the real broker (simulated fleet at 60x, signed events, the HTTP API for
``/metrics``). The deviation is a real one, made through the protocol as it happens in the
field: the drone's radio link is lost mid-flight, the drone holds on its lost-link policy, and
when the link is back the dispatcher tells it to go on. It then flies its route a minute and more
behind its intent's time windows: telemetry outside the intent in time.
"""

from __future__ import annotations

import pytest

from dispatch.harness import request, running_system
from dispatch.lifecycle import FlightState
from dispatch.service.conformance import CONTINGENT, NONCONFORMING
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp
from tests.api_fixtures import parse_prometheus, served
from tests.dispatcher_fixtures import states
from tests.fleet_helpers import wait_until

LOSS_S = 150.0  # link loss; the drone holds after 15 s of it, so it ends up ~2 minutes late


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_drone_late_after_a_lost_link_hold_is_nonconforming_until_it_lands(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with (
        running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system,
        served(store, system.dispatcher, system=system) as api,
    ):
        d, sim = system.dispatcher, system.sim
        # The monitor alone: a flight late to the end is not sent home here (the dispatcher's reaction
        # is tested in tests/test_dispatcher_nonconformance.py).
        d.nonconformance.return_after_s = 3600.0
        for agent in sim.agents.values():
            agent.lost_link_after_s = 15.0
        rid = (await d.submit(request("service-centre", "zhangde-road"))).id
        picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == rid, timeout_s=60)
        drone = picked.drone_id
        await wait_until(lambda: sim.drone(drone).state == "en_route", timeout_s=30, what="climbed out")
        (m,) = [m for m in d.missions.values() if m.drone_id == drone]
        assert m.state == FlightState.FLYING and m.spec.intent is not None
        assert d.conformance.total == 0  # flown as planned so far: conforming
        sim.inject_link_loss(drone, LOSS_S)
        seen: dict[str, float] = {}

        async def nonconforming_seen() -> bool:
            # Checked right after the audit entry is written: the flight is still nonconforming
            # (it flies late until it lands), and /metrics says so.
            if drone not in d.conformance.episodes:
                return False
            intents = d.picture.active_intents()
            contingent = [i for i in intents if i.drone_id == drone and i.state == CONTINGENT]
            assert m.spec.intent is not None and m.spec.intent.state == NONCONFORMING
            assert len(contingent) == 1, "planning keeps clear of where the drone really is"
            async with api.client() as anyone:
                seen.update(parse_prometheus((await anyone.get("/metrics")).text))
            return True

        await d.wait_until(nonconforming_seen, timeout_s=60)
        assert seen["dronedispatch_flights_nonconforming"] == 1
        assert seen["dronedispatch_nonconformance_total"] >= 1

        async def delivered() -> bool:
            return (await states(store, [rid]))[rid] == "delivered" and not await store.flights.list_active()

        await d.wait_until(delivered, timeout_s=60)
        history = await store.history("flight", m.mission_id)
        actions = [e.action if e.action != "transition" else e.payload["to"] for e in history]
        assert actions[-1] == "completed", actions
        first = history[actions.index("nonconforming")].payload
        # Late on its own path: out in time, by more than the tolerance, not early.
        assert first["dimension"] == "time" and first["early"] is False, first
        assert first["seconds"] > first["tolerance"]["time_s"], first
        assert first["drone_id"] == drone and {"lon", "lat", "alt_m", "at"} <= set(first)
        # Every episode is closed: back inside (a conforming entry) or ended by the landing.
        async with api.client() as anyone:
            after = parse_prometheus((await anyone.get("/metrics")).text)
        assert after["dronedispatch_flights_nonconforming"] == 0
        assert after["dronedispatch_nonconformance_total"] == d.conformance.total >= 1
        assert actions.count("conforming") <= actions.count("nonconforming")
        # The flight was not re-routed nor aborted for it: the monitor reports.
        assert "aborted" not in actions and d.drones[drone].usable
