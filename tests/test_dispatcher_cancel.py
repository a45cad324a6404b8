"""An office cancels a request already on a drone's mission: the drone is re-routed without its
stops (held first in the air), the rest of the mission goes on, and the request is ``cancelled``
only once the drone has confirmed, never with its document on board. A dispatcher that stops
mid-cancel finishes it when it starts again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dispatch.harness import System, request, running_system
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.operations import CancelPending, NotCancellable, cancel_request
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import DispatcherSettings
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp, TookOff
from tests.dispatcher_fixtures import states

SPEED = 60.0  # the pickup 4.7 km from the port is seconds of wall time away: time to cancel


def about(system: System, rid: str) -> list[object]:
    """What the simulated drones reported about one request (pickups, hand-overs)."""
    return [e for e in system.sim.events if getattr(e, "request_id", None) == rid]


async def flying_to_pickup(system: System, *pairs: tuple[str, str]) -> tuple[list[str], str]:
    """File requests, wait until the drone carrying the first is in the air: (ids, mission id)."""
    d = system.dispatcher
    # Ready a little later than the dispatcher commits missions ahead: filed one after the other,
    # they are planned together, not the first alone before the second arrives.
    ready = system.clock.now() + timedelta(seconds=d.settings.commit_window_s + 60)
    filed = await asyncio.gather(*(d.submit(request(src, dst, now=ready)) for src, dst in pairs))
    ids = [v.id for v in filed]
    took = await system.sim.wait_for(
        lambda e: (
            isinstance(e, TookOff)
            and any(ids[0] in m.spec.request_ids for m in d.missions.values() if m.mission_id == e.mission_id)
        ),
        60,
    )
    assert took.mission_id is not None
    m = d.missions[took.mission_id]

    async def in_the_air() -> bool:
        return m.state == "flying"

    await d.wait_until(in_the_air, timeout_s=30)
    return ids, took.mission_id


async def test_cancel_in_the_air_keeps_the_other_request_of_the_mission(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, drones=1, speed=SPEED, pool=solver_pool) as system:
        d = system.dispatcher
        # One drone, two documents from one office to one recipient: one mission carries both.
        (keep, drop), mission_id = await flying_to_pickup(
            system, ("anyang-east", "service-centre"), ("anyang-east", "service-centre")
        )
        assert set(d.missions[mission_id].spec.request_ids) == {keep, drop}
        view = await cancel_request(d, drop, actor="office:anyang-east", reason="filed twice")
        assert view.state == "cancelled"
        # The steering for the cancel is no re-route around a zone (/metrics tells them apart).
        assert (d.stats.cancel_steers, d.stats.reroutes) == (1, 0)

        async def done() -> bool:
            return (await states(store, [keep]))[keep] == "delivered" and not d.missions

        await d.wait_until(done, timeout_s=120)
        assert (await states(store, [drop]))[drop] == "cancelled"
        assert not about(system, drop), "the cancelled document was picked up"
        assert {type(e).__name__ for e in about(system, keep)} >= {"PickedUp", "Delivered"}
        flight = await store.flights.get(mission_id)
        assert flight.state == "completed"
        acked = [c.kind for c in flight.commands if c.result == "ack"]
        assert acked[-3:] == ["Hold", "Reroute", "Resume"], acked
        assert not system.sim.breaches
        assert (await store.verify_audit()).ok


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_a_cancel_after_the_pickup_is_too_late_and_changes_nothing(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, speed=SPEED, pool=solver_pool) as system:
        d = system.dispatcher
        rid = (await d.submit(request("yindu-district", "zhangde-road", now=system.clock.now()))).id
        await system.sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == rid, 60)

        async def picked() -> bool:
            return (await states(store, [rid]))[rid] == "picked_up"

        await d.wait_until(picked, timeout_s=30)
        try:
            await cancel_request(d, rid, actor="office:yindu-district")
        except NotCancellable as exc:
            assert exc.code == "too_late" and exc.details["state"] == "picked_up"
        else:
            raise AssertionError("a document on board was cancelled")

        async def delivered() -> bool:
            return (await states(store, [rid]))[rid] == "delivered" and not d.missions

        await d.wait_until(delivered, timeout_s=90)
        assert not system.sim.breaches


async def test_a_restart_mid_cancel_finishes_it(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, speed=SPEED, pool=solver_pool) as system:
        (rid,), mission_id = await flying_to_pickup(system, ("anyang-east", "service-centre"))
        first = system.dispatcher
        await first.stop()
        # What the first dispatcher did last before it died: it recorded the office's intent.
        await store.note(
            "request",
            rid,
            "cancel_requested",
            actor="office:anyang-east",
            payload={"reason": "cancelled by office:anyang-east", "mission_id": mission_id},
        )
        second = Dispatcher(
            store, system.link, system.clock, DispatcherSettings(silent_after_s=5 * SPEED), pool=solver_pool
        )
        async with second:

            async def done() -> bool:
                return (await states(store, [rid]))[rid] == "cancelled" and not second.missions

            await second.wait_until(done, timeout_s=120)
        assert not about(system, rid)
        assert (await store.flights.get(mission_id)).state == "completed"
        history = await store.history("request", rid)
        cancelled = [e for e in history if e.action == "transition" and e.payload.get("to") == "cancelled"]
        assert len(cancelled) == 1 and cancelled[0].actor == "office:anyang-east"
        assert not system.sim.breaches
        assert (await store.verify_audit()).ok


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # dispatcher logic: one database is enough
async def test_a_cancel_not_yet_confirmed_is_pending_and_then_done(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, speed=SPEED, pool=solver_pool) as system:
        d = system.dispatcher
        (rid,), mission_id = await flying_to_pickup(system, ("anyang-east", "service-centre"))
        # No time to wait for the drone: the answer is "pending", with the request as it is now.
        try:
            await cancel_request(d, rid, actor="office:anyang-east", wait_s=0)
        except CancelPending as pending:
            assert pending.view.state in ("planned", "dispatched")
        else:
            raise AssertionError("a cancel the drone had not confirmed was answered as done")

        async def done() -> bool:
            return (await states(store, [rid]))[rid] == "cancelled" and not d.missions

        await d.wait_until(done, timeout_s=60)
        assert not about(system, rid)
        assert (await store.flights.get(mission_id)).state == "completed"
        assert not system.sim.breaches
