"""The dispatcher end to end on a few requests: intake, plan, commit before command, delivery."""

from __future__ import annotations

from fleet.connection import BrokerAddress
from fleet.messages import GeofenceBreach
from dispatch.store import Store
from tests.db_fixtures import db_url_fixture, store_fixture  # noqa: F401
from tests.dispatcher_fixtures import request, running_system, states
from tests.mqtt_fixtures import broker_fixture, prefix_fixture  # noqa: F401


async def test_requests_are_planned_commanded_and_delivered(
    store: Store, broker: BrokerAddress, prefix: str
) -> None:
    async with running_system(store, broker, prefix) as system:
        d = system.dispatcher
        ids = []
        for src, dst in [("city-hall", "indeokwon"), ("manan-gu-office", "anyang-station"), ("tax-office", "beomgye")]:
            view = await d.submit(request(src, dst))
            assert view.state == "accepted", view.intake
            assert view.intake is not None and view.intake["details"]["eta"]
            ids.append(view.id)

        async def all_delivered() -> bool:
            return set((await states(store, ids)).values()) == {"delivered"}

        await d.wait_until(all_delivered, timeout_s=60)
        assert not [e for e in system.sim.events if isinstance(e, GeofenceBreach)]
        for rid in ids:
            timeline = await store.requests.timeline(rid)
            path = [e.payload.get("to") for e in timeline.entries if e.action == "transition"]
            assert path == ["accepted", "planned", "dispatched", "picked_up", "delivered"]
            flights = await store.flights.carrying(rid)
            assert len(flights) == 1
        report = await store.verify_audit()
        assert report.ok, report
