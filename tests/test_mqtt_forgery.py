"""Forged fleet traffic on a broker without an ACL (the shared Mosquitto, anyone may publish
anything) changes nothing: a drone's state, ack and event count only when signed with its own key
(fleet.signing). The attacker is a plain MQTT client; the drones, the link and the dispatcher are
the real ones. Also: a deleted retained state no longer keeps a drone offline, and the embedded
broker of the demo admits only its own logins."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import aiomqtt
import pytest

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import load_fleet
from fleet.embedded_broker import EmbeddedBroker
from fleet.link import CommandTimeout, FleetLink
from fleet.messages import Ack, Delivered, Fault, Hold, PickedUp, State, decode, encode
from fleet.signing import FleetSecret, sign
from fleet.topics import Topics
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.dispatcher_fixtures import states
from tests.fleet_helpers import wait_until


async def publish(broker: BrokerAddress, topic: str, body: bytes, *, retain: bool = False) -> None:
    """Publish as an anonymous client of nobody's (QoS 1: the broker has it when this returns)."""
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"intruder-{uuid.uuid4().hex[:8]}") as c:
        await c.publish(topic, body, qos=1, retain=retain)


async def test_forged_deliveries_faults_and_offline_state_change_nothing(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, drones=2, pool=solver_pool) as system:
        d, link, clock = system.dispatcher, system.link, system.clock
        req = await d.submit(request("service-centre", "zhangde-road"))

        async def dispatched() -> bool:
            return bool(d.missions)

        await d.wait_until(dispatched, timeout_s=60)
        m = next(iter(d.missions.values()))
        topics = Topics(prefix)
        forged_at = clock.now() - timedelta(minutes=7)  # a time no genuine report carries
        where = {
            "drone_id": m.drone_id,
            "ts": forged_at,
            "lon": 114.39,
            "lat": 36.10,
            "alt_m": 0.0,
            "mission_id": m.mission_id,
        }
        event = topics.topic(m.drone_id, "event")
        await publish(
            broker, event, encode(PickedUp(**where, request_id=req.id, code_ok=True, payload_kg=0.3))
        )
        await publish(
            broker, event, encode(Delivered(**where, request_id=req.id, code_ok=True, sig="0" * 64))
        )
        await publish(broker, event, encode(Fault(**where, kind="motor")))
        offline = State(drone_id=m.drone_id, ts=forged_at, online=False)
        await publish(broker, topics.topic(m.drone_id, "state"), encode(offline), retain=True)
        try:
            await wait_until(
                lambda: link.stats.dropped["bad_signature"] == 4, 10, "the four forgeries dropped"
            )
            assert link.registry.is_online(m.drone_id, clock.now())

            # The forged custody events are audited (the 1st and 2nd of the drone: a flood is not).
            async def audited() -> bool:
                notes = [
                    e
                    for e in await store.history("drone", m.drone_id)
                    if e.action == "unsigned_event_refused"
                ]
                return [n.payload["event"] for n in notes] == ["picked_up", "delivered"]

            await d.wait_until(audited, timeout_s=10)
            assert (await store.requests.get(req.id)).state != "delivered"

            # The drone's own, signed reports are taken: the request is delivered on its first mission.
            async def delivered() -> bool:
                return (await states(store, [req.id]))[req.id] == "delivered"

            await d.wait_until(delivered, timeout_s=90)
            timeline = (await store.requests.timeline(req.id)).entries
            details = [e.payload.get("details", {}) for e in timeline if e.action == "transition"]
            assert all(x.get("at") != forged_at.isoformat() for x in details), details
            assert details[-1]["mission_id"] == m.mission_id and details[-1]["drone_id"] == m.drone_id
            assert link.stats.dropped["bad_signature"] == 4  # nothing the drones sent was refused
        finally:
            await publish(broker, topics.topic(m.drone_id, "state"), b"", retain=True)


async def test_a_forged_refusal_is_no_answer_and_a_signed_one_is(broker: BrokerAddress, prefix: str) -> None:
    secret, clock, topics = FleetSecret.generate(), ScaledClock(1), Topics(prefix)
    link = FleetLink(
        broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock, fleet_secret=secret
    )
    async with (
        link,
        aiomqtt.Client(broker.host, broker.port, identifier=client_id_from("rogue", prefix)) as rogue,
    ):
        await rogue.subscribe(topics.topic("D01", "cmd"), qos=1)

        async def refuse_next(key: bytes | None) -> None:
            async for message in rogue.messages:
                cmd = decode("cmd", message.payload, "D01")  # type: ignore[arg-type]
                ack = Ack(drone_id="D01", cmd_id=cmd.cmd_id, ts=clock.now(), accepted=False, reason="no")  # type: ignore[attr-defined]
                await rogue.publish(
                    topics.topic("D01", "ack"), encode(ack if key is None else sign(ack, key)), qos=1
                )
                return

        expires = clock.now() + timedelta(minutes=5)
        answer = asyncio.create_task(refuse_next(None))
        with pytest.raises(CommandTimeout):
            await link.send(
                Hold(drone_id="D01", cmd_id="h1", expires_at=expires), ack_timeout_s=3, attempts=1
            )
        await answer
        await wait_until(lambda: link.stats.dropped["bad_signature"] == 1, 5, "the forged refusal dropped")
        answer = asyncio.create_task(refuse_next(secret.drone_key("D01")))  # the drone itself says no
        ack = await link.send(
            Hold(drone_id="D01", cmd_id="h2", expires_at=expires), ack_timeout_s=5, attempts=1
        )
        await answer
        assert not ack.accepted and ack.reason == "no"


async def test_a_deleted_retained_offline_state_does_not_keep_a_drone_offline(
    broker: BrokerAddress, prefix: str
) -> None:
    secret, clock, topics = FleetSecret.generate(), ScaledClock(1), Topics(prefix)
    link = FleetLink(
        broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock, fleet_secret=secret
    )
    sim = SimulatedFleet(
        load_fleet(EXAMPLES / "fleet.json"),
        broker,
        clock=clock,
        prefix=prefix,
        drone_ids=["D01"],
        fleet_secret=secret,
    )
    state_topic = topics.topic("D01", "state")
    async with link, sim:
        await wait_until(
            lambda: link.stats.telemetry > 0 and link.registry.is_online("D01", clock.now()), 10, "D01 heard"
        )
        # A stale 'offline' of the drone's own (its signed last will of an earlier connection, kept).
        stale = sign(
            State(drone_id="D01", ts=clock.now() - timedelta(hours=1), online=False), secret.drone_key("D01")
        )
        try:
            await publish(broker, state_topic, encode(stale), retain=True)
            await wait_until(lambda: not link.registry.is_online("D01", clock.now()), 10, "D01 said offline")
            await publish(broker, state_topic, b"", retain=True)  # the operator deletes it
            await wait_until(lambda: link.stats.cleared_states == 1, 10, "the deletion seen")
            assert link.registry.is_online("D01", clock.now())  # its telemetry is fresh: it is back
        finally:
            await publish(broker, state_topic, b"", retain=True)
        assert link.stats.dropped_total == 0


async def test_the_embedded_broker_admits_only_its_logins() -> None:
    def client(address: BrokerAddress, user: str | None, password: str | None) -> aiomqtt.Client:
        # The embedded broker speaks MQTT 5 only: the same client with a good login gets in.
        v5 = aiomqtt.ProtocolVersion.V5
        return aiomqtt.Client(
            address.host, address.port, username=user, password=password, protocol=v5, timeout=3
        )

    with EmbeddedBroker(users={"dispatcher": "d-pass", "D.01": "x-pass"}) as address:
        for user, password in [(None, None), ("dispatcher", "wrong"), ("nobody", "d-pass")]:
            with pytest.raises(aiomqtt.MqttError):
                async with client(address, user, password):
                    pass
        for user, password in [("dispatcher", "d-pass"), ("D.01", "x-pass")]:  # a '.' in a name is fine
            async with client(address, user, password) as c:
                await c.publish("x/y", b"1", qos=1)
