"""Conformance monitoring end to end: a drone that really leaves its intent is nonconforming.

The whole system over the real broker (simulated fleet at 60x, signed events, the HTTP API for
``/metrics``). The deviation is a real one, made through the protocol as it happens in the
field: the drone's radio link is lost mid-flight, the drone holds on its lost-link policy, and
when the link is back the dispatcher tells it to go on. It then flies its route a minute and more
behind its intent's time windows: telemetry outside the intent in time. Only late on its own
route, it is re-timed (the rest of its route from where it is, clear of the others) and conforms
again; the reaction to a drone that stays outside is in tests/test_dispatcher_nonconformance.py.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from dispatch.harness import request, running_system
from dispatch.lifecycle import FlightState
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp
from tests.api_fixtures import parse_prometheus, served
from tests.dispatcher_fixtures import states
from tests.fleet_helpers import wait_until

LOSS_S = 150.0  # link loss; the drone holds after 15 s of it, so it ends up ~2 minutes late


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_drone_late_after_a_lost_link_hold_is_nonconforming_until_retimed_from_where_it_is(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with (
        running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system,
        served(store, system.dispatcher, system=system) as api,
    ):
        d, sim = system.dispatcher, system.sim
        for agent in sim.agents.values():
            agent.lost_link_after_s = 15.0
        rid = (await d.submit(request("service-centre", "zhangde-road"))).id
        picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == rid, timeout_s=60)
        drone = picked.drone_id
        await wait_until(lambda: sim.drone(drone).state == "en_route", timeout_s=30, what="climbed out")
        (m,) = [m for m in d.missions.values() if m.drone_id == drone]
        assert m.state == FlightState.FLYING and m.spec.intent is not None
        planned = m.spec.intent
        assert d.conformance.total == 0  # flown as planned so far: conforming
        sim.inject_link_loss(drone, LOSS_S)
        seen: list[tuple[float, float]] = []

        async def retimed() -> bool:
            if d.nonconformance.retimed == 0:
                return False
            # Its intent is the rest of its route from where it was seen late: it ends that much later.
            assert m.spec.intent is not None and m.spec.intent is not planned
            seen.append((m.spec.intent.end, m.spec.intent.start))
            async with api.client("operator") as op:
                r = await op.get(f"/api/v1/flights/{m.mission_id}/intent")
            assert r.status_code == 200, r.text
            shown = r.json()
            shown_end = datetime.fromisoformat(shown["time_end"]).timestamp()
            assert shown["state"] == "Activated" and abs(shown_end - m.spec.intent.end) < 0.01, shown
            return True

        await d.wait_until(retimed, timeout_s=60)
        ((end, start),) = seen
        assert end - planned.end > 60.0 and start > planned.start  # about two minutes late

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
        again = history[actions.index("retimed_in_air")].payload
        assert again["drone_id"] == drone and again["seconds"] == first["seconds"], again
        # Back inside its new intent with the next sample: every episode closed by a conforming entry.
        order = [actions.index(x) for x in ("nonconforming", "retimed_in_air", "conforming")]
        assert order == sorted(order), actions
        assert actions.count("conforming") == actions.count("nonconforming"), actions
        async with api.client() as anyone:
            after = parse_prometheus((await anyone.get("/metrics")).text)
        assert after["dronedispatch_flights_nonconforming"] == 0
        assert after["dronedispatch_nonconformance_total"] == d.conformance.total >= 1
        # The flight was not held, re-routed nor aborted for it; no one else was held.
        assert "aborted" not in actions and "held_to_retime" not in actions and d.drones[drone].usable
        assert d.nonconformance.holds == 0 and sim.separation_losses == []
