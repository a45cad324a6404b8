"""An aborted mission is never flown, and custody is never recorded on a mission the drone left.

The trial that found it: a ``fault`` event (anyone on the broker could publish one) for a drone on
the ground whose start was acknowledged (the take-off waited for its battery swap). The dispatcher
re-planned the mission's request onto another drone and told the grounded drone to ``land_now``,
which it ignored; the drone then flew the aborted mission, and its pickup and hand-over were
recorded for the request as the aborted mission's. Real broker, real PostgreSQL, real simulator.
"""

from __future__ import annotations

from datetime import timedelta

import aiomqtt
import msgspec
import pytest

from dispatch.harness import System, request, running_system
from dispatch.service import abort
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import DispatcherSettings
from dispatch.store import Store
from dispatch.store.views import FlightView
from fleet.connection import BrokerAddress
from fleet.messages import AbortMission, Delivered, Fault, Landed, LowBattery, Message, PickedUp, TookOff
from tests.dispatcher_fixtures import states
from tests.fault_checks import assert_delivered_once, transitions

SPEED = 60.0
# Each committed trip departs this long after its commit and its start goes out at once: the
# drone waits on the ground with its start acknowledged (10 wall seconds at SPEED) until then.
LEAD_S = 600.0


async def publish_as_drone(system: System, client: aiomqtt.Client, event: Message) -> None:
    """Publish ``event`` on its drone's event topic as the drone itself would (signed with its key
    where drones sign)."""
    body = system.sim.agents[event.drone_id]._encode(event)
    await client.publish(system.link.topics.topic(event.drone_id, "event"), body, qos=1)


async def flights_of(store: Store, rid: str) -> list[FlightView]:
    return await store.flights.carrying(rid)


async def grounded_request(system: System) -> tuple[str, FlightView]:
    """A request (service-centre to zhangde-road) and its flight, started and acknowledged while its
    drone still waits on the ground (:func:`start_acked_on_the_ground`)."""
    rid = (
        await system.dispatcher.submit(request("service-centre", "zhangde-road", now=system.clock.now()))
    ).id
    return rid, await start_acked_on_the_ground(system, rid)


async def start_acked_on_the_ground(system: System, rid: str, not_on: str | None = None) -> FlightView:
    """Wait until the last flight carrying ``rid`` (not mission ``not_on``) has its start
    acknowledged; its drone is still on the ground, waiting for the planned departure."""

    async def started() -> bool:
        flights = await flights_of(system.store, rid)
        return (
            bool(flights)
            and flights[-1].mission_id != not_on
            and any(c.kind == "Start" and c.result == "ack" for c in flights[-1].commands)
        )

    await system.dispatcher.wait_until(started, timeout_s=60)
    flight = (await flights_of(system.store, rid))[-1]
    drone = system.sim.drone(flight.drone_id)
    assert drone.state == "ready" and drone.start_pending, drone.state
    return flight


async def delivered(store: Store, rid: str) -> bool:
    return (await states(store, [rid]))[rid] == "delivered" and not await store.flights.list_active()


def took_off_with(system: System, mission_id: str) -> bool:
    return any(isinstance(e, TookOff) and e.mission_id == mission_id for e in system.sim.events)


async def assert_custody_on(store: Store, rid: str, flight: FlightView) -> None:
    """The pickup and the hand-over of ``rid`` are recorded on ``flight`` (its mission and drone)."""
    entries = (await store.requests.timeline(rid)).entries
    custody = [
        e.payload["details"]
        for e in entries
        if e.action == "transition" and e.payload["to"] in ("picked_up", "delivered")
    ]
    assert len(custody) == 2, custody
    for details in custody:
        assert (details["mission_id"], details["drone_id"]) == (flight.mission_id, flight.drone_id), details


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_fault_on_a_grounded_drone_aborts_its_mission_on_the_drone(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with (
        running_system(store, broker, prefix, pool=solver_pool, speed=SPEED, start_lead_s=LEAD_S) as system,
        aiomqtt.Client(broker.host, broker.port) as client,
    ):
        d, sim = system.dispatcher, system.sim
        rid, first = await grounded_request(system)
        grounded = first.drone_id
        lon, lat = sim.drone(grounded).lonlat()

        # 1. A fault event for the grounded drone: its mission is aborted on the drone first.
        fault = Fault(
            drone_id=grounded,
            ts=system.clock.now(),
            lon=lon,
            lat=lat,
            alt_m=0.0,
            mission_id=first.mission_id,
            kind="motor",
            detail="from a test client",
        )
        await publish_as_drone(system, client, fault)
        second = await start_acked_on_the_ground(system, rid, not_on=first.mission_id)
        first = (await flights_of(store, rid))[0]
        assert first.state == "aborted"
        (cmd,) = [c for c in first.commands if c.kind == abort.KIND]
        assert cmd.result == "ack" and sim.drone(grounded)._answers[cmd.cmd_id] == (True, None)
        assert sim.drone(grounded).mission is None and not sim.drone(grounded).start_pending
        # Re-planned only once the drone had acknowledged the abort.
        history = await store.history("flight", first.mission_id)
        assert [e.action for e in history][-2:] == ["abort_requested", "transition"]
        back = [
            e
            for e in (await store.requests.timeline(rid)).entries
            if e.action == "transition" and e.payload["to"] == "accepted"
        ][-1]
        assert cmd.acked_at is not None and back.at >= cmd.acked_at

        # 2. The aborted mission's pickup and hand-over, published as that drone: refused, counted,
        # audited, and the request (dispatched on its new mission) does not move.
        for event in (
            PickedUp(
                drone_id=grounded,
                ts=system.clock.now(),
                lon=lon,
                lat=lat,
                alt_m=0.0,
                mission_id=first.mission_id,
                request_id=rid,
                code_ok=True,
                payload_kg=0.3,
            ),
            Delivered(
                drone_id=grounded,
                ts=system.clock.now(),
                lon=lon,
                lat=lat,
                alt_m=0.0,
                mission_id=first.mission_id,
                request_id=rid,
                code_ok=True,
            ),
        ):
            await publish_as_drone(system, client, event)

        async def refused() -> bool:
            return d.stats.refused_events["PickedUp"] == 1 and d.stats.refused_events["Delivered"] == 1

        await d.wait_until(refused, timeout_s=30)
        assert (await states(store, [rid]))[rid] == "dispatched"
        audit = [e.payload for e in await store.history("drone", grounded) if e.action == "event_refused"]
        assert [(p["event"], p["mission_id"], p["request_id"]) for p in audit] == [
            ("PickedUp", first.mission_id, rid),
            ("Delivered", first.mission_id, rid),
        ]
        entries = (await store.requests.timeline(rid)).entries
        claims = [(e.payload["event"], e.payload["drone_id"]) for e in entries if e.action == "event_refused"]
        assert claims == [("PickedUp", grounded), ("Delivered", grounded)]  # in the request's chain too

        # 3. The request flies once, on its new mission, at its departure; the aborted one never flies.
        await d.wait_until(lambda: delivered(store, rid), timeout_s=90)
        assert not took_off_with(system, first.mission_id)
        await assert_delivered_once(store, sim, [rid], replanned_ok=True)
        await assert_custody_on(store, rid, second)
        assert not d.stats.errors


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_restart_between_abort_sent_and_acknowledged_sends_it_again(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(
        store, broker, prefix, pool=solver_pool, speed=SPEED, start_lead_s=LEAD_S
    ) as system:
        first = system.dispatcher
        rid, flight = await grounded_request(system)
        await first.stop()
        # What the first dispatcher did last: noted and recorded the abort, marked it sent, and
        # died before the drone had it.
        expires = system.clock.now() + timedelta(hours=1)
        cmd = AbortMission(
            drone_id=flight.drone_id,
            cmd_id=abort.abort_cmd_id(flight.mission_id),
            expires_at=expires,
            mission_id=flight.mission_id,
        )
        await store.note(
            "flight",
            flight.mission_id,
            "abort_requested",
            actor="dispatcher",
            payload={"reason": "drone fault: motor", "cmd_id": cmd.cmd_id},
        )
        await store.flights.record_command(
            cmd_id=cmd.cmd_id,
            drone_id=cmd.drone_id,
            kind=abort.KIND,
            payload=msgspec.to_builtins(cmd),
            mission_id=flight.mission_id,
        )
        await store.flights.mark_command_sent(cmd.cmd_id)
        assert cmd.cmd_id not in system.sim.drone(flight.drone_id)._answers

        second = Dispatcher(
            store,
            system.link,
            system.clock,
            DispatcherSettings(silent_after_s=5 * SPEED, start_lead_s=LEAD_S),
            pool=solver_pool,
        )
        async with second:

            async def aborted() -> bool:
                return (await store.flights.get(flight.mission_id)).state == "aborted"

            await second.wait_until(aborted, timeout_s=60)
            assert system.sim.drone(flight.drone_id)._answers[cmd.cmd_id] == (True, None)
            assert (await store.flights.get_command(cmd.cmd_id)).result == "ack"
            await second.wait_until(lambda: delivered(store, rid), timeout_s=90)
            assert not took_off_with(system, flight.mission_id)
            path = await transitions(store, rid)
            assert path[-3:] == ["dispatched", "picked_up", "delivered"] and path.count("delivered") == 1
            assert not second.stats.errors


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_late_landing_without_a_mission_does_not_end_a_mission_not_yet_flown(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    # A drone's landing from its return home (no mission), heard late, while its next mission
    # waits on the ground for its departure: it once "completed" that mission, which then flew
    # unwatched while its request stayed dispatched for ever.
    async with (
        running_system(store, broker, prefix, pool=solver_pool, speed=SPEED, start_lead_s=LEAD_S) as system,
        aiomqtt.Client(broker.host, broker.port) as client,
    ):
        d, sim = system.dispatcher, system.sim
        rid, flight = await grounded_request(system)
        drone = flight.drone_id
        lon, lat = sim.drone(drone).lonlat()
        view = d.drones[drone]
        before = view.available_at
        landed = Landed(
            drone_id=drone,
            ts=system.clock.now(),
            lon=lon,
            lat=lat,
            alt_m=0.0,
            mission_id=None,
            port_id=view.port,
        )
        await publish_as_drone(system, client, landed)

        async def handled() -> bool:
            return view.available_at != before

        await d.wait_until(handled, timeout_s=30)
        assert flight.mission_id in d.missions and view.mission == flight.mission_id
        await d.wait_until(lambda: delivered(store, rid), timeout_s=90)
        await assert_custody_on(store, rid, flight)
        notes = [e.action for e in (await store.requests.timeline(rid)).entries]
        assert "pickup_outcome_unknown" not in notes and not d.stats.refused_events


async def test_a_late_low_battery_of_an_earlier_mission_does_not_abort_the_current_one(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    # A low_battery from the drone's flight before (heard after its battery swap and its next
    # mission's start) once aborted that next mission and sent the drone home.
    async with (
        running_system(store, broker, prefix, pool=solver_pool, speed=SPEED, start_lead_s=LEAD_S) as system,
        aiomqtt.Client(broker.host, broker.port) as client,
    ):
        d, sim = system.dispatcher, system.sim
        rid, flight = await grounded_request(system)
        drone = flight.drone_id
        lon, lat = sim.drone(drone).lonlat()
        low = LowBattery(
            drone_id=drone,
            ts=system.clock.now(),
            lon=lon,
            lat=lat,
            alt_m=0.0,
            mission_id=f"{flight.mission_id}-before",
            energy_wh=10.0,
            battery_pct=5.0,
        )
        await publish_as_drone(system, client, low)

        async def audited() -> bool:
            entries = await store.history("drone", drone)
            return any(e.action == "low_battery_of_another_mission" for e in entries)

        await d.wait_until(audited, timeout_s=30)
        view = d.drones[drone]
        assert view.mission == flight.mission_id and not view.returning
        await d.wait_until(lambda: delivered(store, rid), timeout_s=90)
        await assert_custody_on(store, rid, flight)
