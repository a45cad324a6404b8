"""Chain of custody: the mission carries the codes, a wrong code is refused and recorded, and
``dronedispatch audit verify`` passes on the resulting chain."""

from __future__ import annotations

import subprocess
import sys

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import Delivered, PickedUp
from tests.dispatcher_fixtures import states


async def test_codes_right_and_wrong(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, db_url: str
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d, sim = system.dispatcher, system.sim
        good = await d.submit(request("service-centre", "zhangde-road"))
        bad_recipient = await d.submit(request("tax-bureau", "market-bureau"))
        bad_sender = await d.submit(request("yindu-district", "anyang-station"))
        for drone_id in sim.agents:
            sim.present_code(drone_id, bad_recipient.id, "wrong-1", at="handover")
            sim.present_code(drone_id, bad_sender.id, "wrong-2", at="pickup")
        ids = [good.id, bad_recipient.id, bad_sender.id]

        async def settled() -> bool:
            s = await states(store, ids)
            return s == {good.id: "delivered", bad_recipient.id: "returned", bad_sender.id: "cancelled"} and (
                not d.missions
            )

        await d.wait_until(settled, timeout_s=60)

        # The drone checked the codes the dispatcher put in the mission.
        codes = await store.requests.codes_for_mission(good.id)
        upload = next(
            c for f in await store.flights.carrying(good.id) for c in f.commands if c.kind == "UploadMission"
        )
        stops = {(s["action"], s["request_id"]): s for s in upload.payload["stops"]}
        assert stops[("pickup", good.id)]["pickup_code"] == codes.pickup_code
        assert stops[("handover", good.id)]["recipient_code"] == codes.recipient_code
        ok = [e for e in sim.events if isinstance(e, Delivered) and e.request_id == good.id]
        assert [e.code_ok for e in ok] == [True]

        # A refused hand-over: recorded, the documents stay on board and come back to a port.
        refused = [e for e in sim.events if isinstance(e, Delivered) and e.request_id == bad_recipient.id]
        assert [e.code_ok for e in refused] == [False]
        timeline = await store.requests.timeline(bad_recipient.id)
        actions = [e.action if e.action != "transition" else e.payload["to"] for e in timeline.entries]
        assert actions[-4:] == ["picked_up", "recipient_code_refused", "failed", "returned"], actions
        assert timeline.entries[-1].payload["details"]["location"].startswith("port-")

        # A refused pickup: recorded, nothing taken on board, the request is cancelled.
        refused_pickup = [e for e in sim.events if isinstance(e, PickedUp) and e.request_id == bad_sender.id]
        assert [e.code_ok for e in refused_pickup] == [False]
        timeline = await store.requests.timeline(bad_sender.id)
        actions = [e.action if e.action != "transition" else e.payload["to"] for e in timeline.entries]
        assert actions[-2:] == ["pickup_code_refused", "cancelled"], actions
        assert not sim.breaches

    result = subprocess.run(
        [sys.executable, "-m", "dispatch.cli", "audit", "verify", "--db", db_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
