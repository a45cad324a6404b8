"""The dispatcher end to end on a few requests: intake, plan, commit before command, delivery."""

from __future__ import annotations

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import GeofenceBreach
from tests.dispatcher_fixtures import states


async def test_requests_are_planned_commanded_and_delivered(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d = system.dispatcher
        ids = []
        for src, dst in [
            ("service-centre", "zhangde-road"),
            ("yindu-district", "anyang-station"),
            ("tax-bureau", "jiefang-road"),
        ]:
            view = await d.submit(request(src, dst))
            assert view.state == "accepted", view.intake
            assert view.intake is not None and view.intake["details"]["eta"]
            ids.append(view.id)

        async def all_delivered() -> bool:
            if set((await states(store, ids)).values()) != {"delivered"}:
                return False
            return not await store.flights.list_active()

        await d.wait_until(all_delivered, timeout_s=60)
        assert not [e for e in system.sim.events if isinstance(e, GeofenceBreach)]
        for rid in ids:
            timeline = await store.requests.timeline(rid)
            path = [e.payload.get("to") for e in timeline.entries if e.action == "transition"]
            assert path == ["accepted", "planned", "dispatched", "picked_up", "delivered"]
            flights = await store.flights.carrying(rid)
            assert len(flights) == 1
            flight = flights[0]
            assert flight.state == "completed"
            # Write before you act: planned and commanded are recorded before the drone's ack moves
            # the flight on, and every command was stored before it was sent.
            history = await store.history("flight", flight.mission_id)
            steps = [e.action if e.action != "transition" else e.payload["to"] for e in history]
            # A start that could not go out in time (a loaded machine at this speed) is moved to a
            # later slot (before it is sent, or after the drone refused it as too late):
            # ``retimed`` comes between ``acked`` and ``flying``.
            main_steps = [x for x in steps if x != "retimed"]
            assert main_steps[:4] == ["planned", "commanded", "acked", "flying"], steps
            assert all(
                steps.index("acked") < i < steps.index("flying")
                for i, x in enumerate(steps)
                if x == "retimed"
            ), steps
            assert steps[-1] == "completed"
            kinds = [c.kind for c in flight.commands]
            # On a loaded machine a start may reach the drone after its take-off window: refused,
            # then replaced by a new start for a later slot (tests/test_dispatcher_late_start.py).
            assert kinds[:2] == ["UploadMission", "Start"] and set(kinds[2:]) <= {"Start"}, kinds
            for c in flight.commands:
                refused = c.kind == "Start" and c is not flight.commands[-1]
                if refused:
                    assert c.result == "nack" and "take_off_window_passed" in (c.result_detail or "")
                else:
                    assert c.result == "ack"
                assert c.sent_at is not None and c.acked_at is not None
                assert c.created_at <= c.sent_at <= c.acked_at
        report = await store.verify_audit()
        assert report.ok, report
