"""A dispatcher that dies between a re-route's hold and its resume: the next one, started on the
same store, finds the drone held and re-examines the flight (re-routes around the zones now in
force, or resumes), so the hovering drone neither waits for ever nor flies into the zone."""

from __future__ import annotations

from datetime import timedelta

from dispatch.harness import System, request, running_system
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import DispatcherSettings
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import Hold, PickedUp
from tests.dispatcher_fixtures import blocking_zone, parse_zone, states

SPEED = 30.0  # slow enough that the drone is still far from the zone while the first one dies


async def held_after_crash(system: System, zone: bool) -> tuple[str, str]:
    """Fly a request until its pickup, stop the dispatcher, record what it did before it died
    (the zone in the store if ``zone``, and an acknowledged hold): (request id, mission id)."""
    first = system.dispatcher
    view = await first.submit(request("yindu-district", "zhangde-road", now=system.clock.now()))
    picked = await system.sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == view.id, 60)
    mission_id = picked.mission_id
    assert mission_id is not None
    feature = blocking_zone(system, mission_id, "pop-up")
    await first.stop()
    if zone:
        system.watch_zone(parse_zone(feature))
        await system.store.zones.upsert(feature, actor="operator-test")
    # What the first dispatcher did last: record the hold, send it, record the drone's ack.
    expires = system.clock.now() + timedelta(hours=1)
    hold = Hold(drone_id=picked.drone_id, cmd_id=f"{mission_id}.h1", expires_at=expires)
    ack = await first.commander.send_new(hold, mission_id)
    assert ack is not None and ack.accepted
    return view.id, mission_id


async def restart_while_held(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, *, zone: bool
) -> tuple[str, list[str]]:
    """:func:`held_after_crash`, then a second dispatcher on the same store until the request is
    delivered and the flight done: (mission id, kinds of the flight's acknowledged commands)."""
    async with running_system(store, broker, prefix, speed=SPEED, pool=solver_pool) as system:
        rid, mission_id = await held_after_crash(system, zone=zone)
        second = Dispatcher(
            store, system.link, system.clock, DispatcherSettings(silent_after_s=5 * SPEED), pool=solver_pool
        )
        async with second:

            async def delivered() -> bool:
                return (await states(store, [rid]))[rid] == "delivered" and not second.missions

            await second.wait_until(delivered, timeout_s=90)
        assert not system.sim.breaches
    flight = await store.flights.get(mission_id)
    return mission_id, [c.kind for c in flight.commands if c.result == "ack"]


async def test_restart_between_hold_and_resume_reroutes_around_the_zone(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    mission_id, acked = await restart_while_held(store, broker, prefix, solver_pool, zone=True)
    assert acked[-3:] == ["Hold", "Reroute", "Resume"], acked
    assert "rerouted" in [e.action for e in await store.history("flight", mission_id)]
    assert (await store.verify_audit()).ok


async def test_restart_between_hold_and_resume_without_a_zone_resumes(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    _, acked = await restart_while_held(store, broker, prefix, solver_pool, zone=False)
    assert "Reroute" not in acked and acked[-1] == "Resume", acked
