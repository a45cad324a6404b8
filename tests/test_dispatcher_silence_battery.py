"""A drone goes silent (its radio link drops) or reports a low battery: what it has not picked up
flies on another drone, what it carries is ``failed`` with the custody record, and it is sent to
a port (it lands there, and documents it brought back are ``returned``)."""

from __future__ import annotations

from typing import Any

from dispatch.harness import System, request, running_system
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.operations import fleet_snapshot
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.description import Port
from fleet.messages import Fault, Landed, LowBattery, PickedUp, TookOff
from tests.dispatcher_fixtures import states

# Pickups more than 4 km from every port: a drone that takes off for one is still on its way
# (not yet at the pad) whatever happens in the next 30 s of simulated time.
FAR_PICKUPS = ("anyang-east", "industrial-park")


async def take_off_for(system: System, request_id: str) -> tuple[str, str]:
    """Wait until the drone flying ``request_id`` takes off: (drone id, mission id)."""
    d, sim = system.dispatcher, system.sim

    async def dispatched() -> bool:
        return bool([f for f in await system.store.flights.carrying(request_id) if f.state != "aborted"])

    await d.wait_until(dispatched, timeout_s=60)
    flight = [f for f in await system.store.flights.carrying(request_id) if f.state != "aborted"][-1]
    await sim.wait_for(lambda e: isinstance(e, TookOff) and e.mission_id == flight.mission_id, 60)
    return flight.drone_id, flight.mission_id


async def drone_notes(store: Store, drone_id: str) -> list[str]:
    """The actions of the drone's audit entries."""
    return [e.action for e in await store.history("drone", drone_id)]


async def delivered_by_another(d: Dispatcher, store: Store, request_id: str, not_by: str) -> None:
    """Wait until ``request_id`` is delivered; check it went back to ``accepted`` and flew on
    another drone."""

    async def delivered() -> bool:
        return (await states(store, [request_id]))[request_id] == "delivered"

    await d.wait_until(delivered, timeout_s=90)
    flights = await store.flights.carrying(request_id)
    assert flights[0].drone_id == not_by and flights[0].state == "aborted"
    assert flights[-1].drone_id != not_by and flights[-1].state in ("flying", "completed")
    path = [
        e.payload["to"]
        for e in (await store.requests.timeline(request_id)).entries
        if e.action == "transition"
    ]
    assert path == [
        "accepted",
        "planned",
        "dispatched",
        "accepted",
        "planned",
        "dispatched",
        "picked_up",
        "delivered",
    ], path


async def test_silent_drone_work_replanned_documents_failed_then_returned(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    # 60x: silence is declared after 5 wall seconds (300 simulated), and a link lost for 480 s
    # leaves the hovering drone enough battery to fly home when it comes back.
    async with running_system(store, broker, prefix, speed=60.0, pool=solver_pool) as system:
        d, sim = system.dispatcher, system.sim
        # 1. Silent on the way to the pickup: the request is re-planned and flown by another drone.
        first = await d.submit(request(FAR_PICKUPS[0], "service-centre", now=system.clock.now()))
        assert first.state == "accepted", first
        quiet, _ = await take_off_for(system, first.id)
        sim.inject_link_loss(quiet, 480.0)
        await delivered_by_another(d, store, first.id, not_by=quiet)
        timeline = await store.requests.timeline(first.id)
        back = next(e for e in timeline.entries if e.payload.get("from") == "dispatched")
        assert back.payload["to"] == "accepted" and "silent" in back.payload["details"]["reason"]
        # Written off (unless it is back at a port and in service again already: see below).
        assert not d.drones[quiet].usable or "returned_to_service" in await drone_notes(store, quiet)

        # 2. Silent with the document on board: failed, with the custody record; once the link is
        # back the drone flies home (it was told to return, not to land) and the document is
        # returned at the port.
        second = await d.submit(request(FAR_PICKUPS[1], "tax-bureau", now=system.clock.now()))
        assert second.state == "accepted", second
        picked = await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.request_id == second.id, 60)
        carrier = picked.drone_id  # may be the first silent drone, back in service by now
        back_before = len(
            [e for e in await store.history("drone", carrier) if e.action == "returned_to_service"]
        )
        sim.inject_link_loss(carrier, 480.0)

        async def failed() -> bool:
            return (await states(store, [second.id]))[second.id] == "failed"

        await d.wait_until(failed, timeout_s=60)
        timeline = await store.requests.timeline(second.id)
        failure = next(e.payload for e in timeline.entries if e.payload.get("to") == "failed")
        details = failure["details"]
        assert details["drone_id"] == carrier and details["custody"] == "on board"
        assert details["reason"] == "drone went silent"
        landed = await sim.wait_for(
            lambda e: isinstance(e, Landed) and e.drone_id == carrier and e.ts > picked.ts, 90
        )
        assert landed.port_id is not None, "sent to a port, not landed in the open"

        async def returned() -> bool:
            return (await states(store, [second.id]))[second.id] == "returned"

        await d.wait_until(returned, timeout_s=30)
        final = (await store.requests.timeline(second.id)).entries[-1].payload
        assert final["details"]["location"] == landed.port_id

        # 3. Back, idle at a port: the carrier returns to service on its own (audited), and the
        # fleet names the port it stands at, not its home port.
        async def back_notes() -> list[Any]:
            return [e for e in await store.history("drone", carrier) if e.action == "returned_to_service"]

        # Usable again, and its note for this return written (a carrier silent twice has one
        # from the first time: the flag can flip before the second note lands).
        async def back_in_service() -> bool:
            return d.drones[carrier].usable and len(await back_notes()) > back_before

        await d.wait_until(back_in_service, timeout_s=30)
        note = (await back_notes())[-1]
        assert note.payload["after"] == "drone went silent" and note.payload["port"] == landed.port_id
        (snapshot,) = [s for s in fleet_snapshot(d) if s.id == carrier]
        assert snapshot.usable and snapshot.in_service and snapshot.port == landed.port_id
        assert snapshot.state == "idle"
        # Neither silent drone ran its battery flat or met a zone.
        assert not [e for e in sim.events if isinstance(e, Fault) and e.drone_id in (quiet, carrier)]
        assert not sim.breaches
        assert (await store.verify_audit()).ok


async def test_low_battery_returns_to_the_nearest_port_and_its_work_is_replanned(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d, sim = system.dispatcher, system.sim
        rid = (await d.submit(request(FAR_PICKUPS[0], "beiguan-district", now=system.clock.now()))).id
        weak, _ = await take_off_for(system, rid)
        # Its battery falls to just above the reserve, a known point on the way to the pickup:
        # the next metre flown crosses the low-battery threshold, with the whole reserve (some
        # 5 km of flight) left to reach a port.
        drone = sim.drone(weak)
        drone.energy_wh = drone.model.battery_wh * drone.model.reserve_fraction + 0.05
        low = await sim.wait_for(lambda e: isinstance(e, LowBattery) and e.drone_id == weak, 30)
        await delivered_by_another(d, store, rid, not_by=weak)
        timeline = await store.requests.timeline(rid)
        back = next(e for e in timeline.entries if e.payload.get("from") == "dispatched")
        assert "low battery" in back.payload["details"]["reason"]

        landed = await sim.wait_for(lambda e: isinstance(e, Landed) and e.drone_id == weak, 60)
        assert landed.port_id is not None
        # The nearest port on a safe path from where the battery ran low.
        model = system.fleet.model_of(next(x for x in system.fleet.drones if x.id == weak))

        def safe_length(port: Port) -> float:
            path = d.airspace.shortest_path(
                (low.lon, low.lat), (port.lon, port.lat), altitude_m=model.cruise_altitude_m, at=low.ts
            )
            return path.length_m

        nearest = min(system.fleet.ports, key=safe_length)
        assert landed.port_id == nearest.id
        assert not [e for e in sim.events if isinstance(e, Fault) and e.drone_id == weak]
        assert not sim.breaches
        assert (await store.verify_audit()).ok
