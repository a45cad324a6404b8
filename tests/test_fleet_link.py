"""The dispatcher link against real Mosquitto: delivery, retries, idempotency, validation, restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiomqtt
import pytest

from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import Fleet, load_fleet
from fleet.hub import Hub
from fleet.link import CommandTimeout, FleetLink, LinkStatus
from fleet.messages import Delivered, Hold, Landed, Resume, State, Telemetry, TookOff, encode
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.fleet_helpers import start, upload, wait_until
from tests.mqtt_fixtures import Mosquitto

SPEED = 200.0
EXPIRY = 120  # short sessions: tests must not leave queued messages in the shared broker for a day


@pytest.fixture
def fleet() -> Fleet:
    return load_fleet(EXAMPLES / "fleet.json")


def make(fleet: Fleet, address: BrokerAddress, prefix: str, clock: ScaledClock, **link_kw: object):
    link = FleetLink(
        address,
        client_id=client_id_from("disp", prefix),
        prefix=prefix,
        clock=clock,
        session_expiry_s=EXPIRY,
        **link_kw,
    )  # type: ignore[arg-type]
    sim = SimulatedFleet(
        fleet, address, clock=clock, prefix=prefix, drone_ids=["D01"], session_expiry_s=EXPIRY
    )
    return link, sim


async def test_command_reaches_a_drone_that_was_offline(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(SPEED)
    link, sim = make(fleet, broker, prefix, clock)
    await sim.start()  # the drone's persistent session and cmd subscription now exist
    await sim.stop()
    async with link:
        sending = asyncio.create_task(link.send(upload(clock), ack_timeout_s=15, attempts=1))
        await wait_until(lambda: link.stats.sent == 1, what="command published")
        assert sim.drone("D01").mission is None
        await sim.start()  # the broker hands over the command queued while the drone was away
        try:
            ack = await sending
            assert ack.accepted and link.stats.retries == 0
            assert sim.drone("D01").state == "ready"
        finally:
            await sim.stop()


async def test_ack_timeout_retries_and_a_duplicate_is_applied_once(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(SPEED)
    link, sim = make(fleet, broker, prefix, clock)
    await sim.start()
    async with link:
        assert (await link.send(upload(clock))).accepted
        await sim.stop()
        go = start(clock)
        sending = asyncio.create_task(link.send(go, ack_timeout_s=0.3, attempts=50))
        await wait_until(lambda: link.stats.retries >= 2, what="two retries")
        await sim.start()
        try:
            ack = await sending
            assert ack.accepted and ack.cmd_id == go.cmd_id
            agent = sim.agents["D01"]
            await wait_until(lambda: agent.commands >= 3, what="queued duplicates delivered")
            # The same Start arrived at least three times; the drone took off once.
            again = await link.send(go)  # a late resend gets the same answer, applied no more
            assert again.accepted
            await sim.wait_event("D01", Landed, timeout_s=20)
            assert sum(isinstance(e, TookOff) for e in sim.events) == 1
            assert sum(isinstance(e, Delivered) for e in sim.events) == 1
        finally:
            await sim.stop()


async def test_send_gives_up_after_bounded_attempts(broker: BrokerAddress, prefix: str) -> None:
    clock = ScaledClock(SPEED)
    async with FleetLink(
        broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock, session_expiry_s=0
    ) as link:
        with pytest.raises(CommandTimeout) as info:
            await link.send(start(clock, drone="NOBODY"), ack_timeout_s=0.2, attempts=3)
        assert info.value.attempts == 3
        assert link.stats.retries == 2 and link.stats.sent == 3 and link.stats.timeouts == 1


async def test_malformed_and_spoofed_messages_are_dropped_and_counted(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(SPEED)
    link, sim = make(fleet, broker, prefix, clock)
    good = Telemetry(
        drone_id="D09",
        ts=clock.now(),
        lon=114.39,
        lat=36.10,
        alt_m=0,
        ground_speed_mps=0,
        heading_deg=0,
        battery_pct=100,
        energy_wh=350,
        state="idle",
    )
    spoofed = encode(good)  # claims to be D09
    bad_range = encode(good).replace(b'"lon":114.39', b'"lon":926.95')
    t = link.topics
    async with link, sim, aiomqtt.Client(broker.host, broker.port) as rogue:
        with link.subscribe() as updates:
            await rogue.publish(t.topic("D02", "telemetry"), spoofed)
            await rogue.publish(t.topic("D09", "telemetry"), bad_range)
            await rogue.publish(t.topic("D09", "telemetry"), b"\xff\x00 not json")
            await rogue.publish(t.topic("D09", "event"), b'{"v":1,"msg_id":"x","event":"exploded"}', qos=1)
            await rogue.publish(t.topic("D09", "ack"), b"[]", qos=1)
            await rogue.publish(t.topic("D09", "telemetry"), b"{}" + b" " * 300_000)
            # Garbage aimed at the drone: it must survive it and still obey the next command.
            await rogue.publish(t.topic("D01", "cmd"), b'{"v":1,"msg_id":"x","type":"self_destruct"}', qos=1)
            await rogue.publish(t.topic("D01", "cmd"), encode(upload(clock, drone="D02")), qos=1)
            await rogue.publish(t.topic("D09", "telemetry"), encode(good))
            await wait_until(lambda: link.stats.dropped_total >= 6, what="six drops")
            await wait_until(
                lambda: link.registry.get("D09") is not None, what="valid telemetry after garbage"
            )
            assert link.stats.dropped["spoofed"] == 1
            assert link.stats.dropped["malformed"] == 4
            assert link.stats.dropped["too_large"] == 1
            assert link.registry.get("D02") is None
            agent = sim.agents["D01"]
            await wait_until(lambda: sum(agent.dropped.values()) == 2, what="drone drops")
            assert agent.dropped == {"malformed": 1, "spoofed": 1}
            assert (await link.send(upload(clock))).accepted
            assert not any(isinstance(u, Telemetry) for u in _drain(updates))  # telemetry is opt-in


def _drain(sub):  # type: ignore[no-untyped-def]
    out = []
    while (item := sub.get_nowait()) is not None:
        out.append(item)
    return out


async def test_registry_tracks_online_state_through_a_link_loss(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(SPEED)
    link, sim = make(fleet, broker, prefix, clock)
    async with link, sim:
        await wait_until(lambda: link.registry.is_online("D01", clock.now()), what="D01 online")
        with link.subscribe() as updates:
            sim.inject_link_loss("D01", 60)  # 0.3 s of real time at speed 200
            # The broker publishes the drone's last will: retained state online=false.
            offline = await _next_state(updates, online=False)
            assert offline.drone_id == "D01"
            assert not link.registry.is_online("D01", clock.now())
            await _next_state(updates, online=True)
            await wait_until(lambda: link.registry.is_online("D01", clock.now()), what="D01 back online")


async def _next_state(updates, online: bool) -> State:  # type: ignore[no-untyped-def]
    async def _find() -> State:
        async for u in updates:
            if isinstance(u, State) and u.online == online:
                return u
        raise AssertionError("unreachable")

    return await asyncio.wait_for(_find(), 10)


async def test_broker_restart_mid_flight(fleet: Fleet, mosquitto: Mosquitto, prefix: str) -> None:
    clock = ScaledClock(SPEED)
    link, sim = make(fleet, mosquitto.address, prefix, clock, backoff_max_s=0.5)
    async with link, sim:
        # "continue": a restart that takes more than 30 simulated seconds (0.15 s here) must not
        # make the drone hold on its lost-link policy before this test's own hold.
        assert (await link.send(upload(clock, lost_link="continue"))).accepted
        assert (await link.send(start(clock))).accepted
        await sim.wait_event("D01", TookOff, timeout_s=10)
        with link.subscribe() as updates:
            mosquitto.restart()
            await _next_link(updates, "down")
            await _next_link(updates, "up")
        await sim.wait_connected(10)
        assert link.stats.connects == 2
        # The acknowledged mission went on; the link commands the drone again after reconnecting.
        hold = Hold(drone_id="D01", cmd_id="hold-1", expires_at=clock.now() + timedelta(hours=1))
        assert (await link.send(hold)).accepted
        assert sim.drone("D01").state == "holding"
        resume = Resume(drone_id="D01", cmd_id="resume-1", expires_at=clock.now() + timedelta(hours=1))
        assert (await link.send(resume)).accepted
        delivered = await sim.wait_event("D01", Delivered, timeout_s=20)
        assert delivered.code_ok and delivered.mission_id == "M1"
        await sim.wait_event("D01", Landed, timeout_s=20)
        count = link.registry.drones["D01"].telemetry_count
        await wait_until(lambda: link.registry.drones["D01"].telemetry_count > count, what="telemetry flows")


async def test_queued_command_survives_a_broker_restart(
    fleet: Fleet, mosquitto: Mosquitto, prefix: str
) -> None:
    clock = ScaledClock(SPEED)
    link, sim = make(fleet, mosquitto.address, prefix, clock, backoff_max_s=0.5)
    await sim.start()
    await sim.stop()
    async with link:
        sending = asyncio.create_task(link.send(upload(clock), ack_timeout_s=20, attempts=1))
        await wait_until(lambda: link.stats.sent == 1, what="command published")
        mosquitto.restart()  # persistence: the queued QoS 1 command is saved and restored
        await sim.start()
        try:
            assert (await sending).accepted
        finally:
            await sim.stop()


async def _next_link(updates, status: str) -> LinkStatus:  # type: ignore[no-untyped-def]
    async def _find() -> LinkStatus:
        async for u in updates:
            if isinstance(u, LinkStatus) and u.status == status:
                return u
        raise AssertionError("unreachable")

    return await asyncio.wait_for(_find(), 15)


def test_a_slow_subscriber_loses_its_oldest_updates_and_knows_it() -> None:
    hub: Hub[int] = Hub()
    slow = hub.subscribe(maxsize=3)
    fast = hub.subscribe(maxsize=100)
    for i in range(10):
        hub.publish(i)
    assert [slow.get_nowait() for _ in range(3)] == [7, 8, 9]
    assert slow.overflow == 7 and slow.get_nowait() is None
    assert fast.pending() == 10 and fast.overflow == 0
    slow.close()
    hub.publish(10)
    assert slow.get_nowait() is None and hub.subscribers == 1


async def test_link_over_mqtt_3_1_1(fleet: Fleet, broker: BrokerAddress, prefix: str) -> None:
    clock = ScaledClock(SPEED)
    link, sim = make(fleet, broker, prefix, clock, protocol="3.1.1")
    async with link, sim:
        await wait_until(lambda: link.registry.is_online("D01", clock.now()), what="D01 online")
        assert (await link.send(upload(clock))).accepted
        assert sim.drone("D01").state == "ready"
    # A 3.1.1 persistent session never expires: clear it so the shared broker keeps no junk.
    async with aiomqtt.Client(broker.host, broker.port, identifier=link.client_id, clean_session=True):
        pass


async def test_a_redelivered_event_is_passed_on_once(broker: BrokerAddress, prefix: str) -> None:
    clock = ScaledClock(SPEED)
    link = FleetLink(broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock)
    where = dict(drone_id="D07", ts=clock.now(), lon=114.41, lat=36.11, alt_m=0.0)
    event = Delivered(**where, request_id="R9", code_ok=True)  # type: ignore[arg-type]
    other = Delivered(**where, request_id="R8", code_ok=True)  # type: ignore[arg-type]
    async with link, aiomqtt.Client(broker.host, broker.port) as drone:
        with link.subscribe() as updates:
            for e in (event, event, other):  # as after a reconnect: same body, same msg_id
                await drone.publish(link.topics.topic("D07", "event"), encode(e), qos=1)
            await wait_until(lambda: link.stats.duplicate_events == 1, what="duplicate seen")
            await wait_until(lambda: updates.pending() == 2, what="two distinct events")
            assert [u.request_id for u in _drain(updates)] == ["R9", "R8"]  # type: ignore[union-attr]
