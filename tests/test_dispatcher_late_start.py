"""A start that reaches its drone after the take-off window of its intent: refused, then replaced.

The drone never flies a route outside the time its operational intent holds the airspace: a
start that arrives too late (here a congested uplink holds it back) is refused with
``take_off_window_passed``, and the dispatcher gives the mission a later slot clear of the others
with a new start (``.go1``), stored with the flight's new plan before it is sent.
"""

from __future__ import annotations

from datetime import datetime

from dispatch.harness import request, running_system
from dispatch.service.commander import start_id
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import TookOff
from tests.dispatcher_fixtures import states


async def test_a_start_that_arrives_after_its_window_is_refused_and_a_later_slot_flown(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d, sim = system.dispatcher, system.sim
        late_s = d.planning.start_lead_s + d.commander.take_off_window_s + 20.0
        for drone_id in sim.agents:  # whichever drone takes it: its start arrives too late
            sim.inject_start_delay(drone_id, late_s)
        view = await d.submit(request("service-centre", "zhangde-road"))
        assert view.state == "accepted", view.intake

        async def delivered() -> bool:
            done = (await states(store, [view.id]))[view.id] == "delivered"
            return done and not await store.flights.list_active()

        await d.wait_until(delivered, timeout_s=90)
        (flight,) = await store.flights.carrying(view.id)
        mid = flight.mission_id
        starts = {c.cmd_id: c for c in flight.commands if c.kind == "Start"}
        # The held-back start, then one new start or more (on a busy machine a replacement can be
        # late too): every one but the last refused as too late, the last flown.
        ids = list(starts)
        assert ids == [start_id(mid, n) for n in range(len(ids))] and len(ids) >= 2, ids
        refused, flown = starts[start_id(mid)], starts[ids[-1]]
        for c in [starts[i] for i in ids[:-1]]:
            assert c.result == "nack" and (c.result_detail or "").startswith("take_off_window_passed"), c
        assert flown.result == "ack"
        # Each new slot is stored with the flight before its start goes out, and audited.
        history = await store.history("flight", mid)
        replaced = [e for e in history if e.action == "retimed" and "refused_cmd_id" in e.payload]
        assert replaced[0].payload["refused_cmd_id"] == refused.cmd_id
        assert replaced[-1].payload["cmd_id"] == flown.cmd_id
        assert (
            flight.plan is not None
            and [e for e in history if e.action == "retimed"][-1].payload["depart"] == flight.plan["depart"]
        )
        # It took off once, inside the new start's window, and flew inside its intent.
        took = [e for e in sim.events if isinstance(e, TookOff) and e.mission_id == mid]
        assert len(took) == 1
        window = [datetime.fromisoformat(flown.payload[k]) for k in ("take_off_at", "take_off_by")]
        assert window[0] <= took[0].ts <= window[1], (took[0].ts, window)
        assert not [e for e in history if e.action == "nonconforming"]
        assert (await store.verify_audit()).ok
