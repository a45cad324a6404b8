"""Duplicate, late and reordered acks and events, skewed drone clocks and refused commands,
published on the real broker as a drone would, against a running dispatcher.

Every request must still end in exactly one final state, nothing may be handed over twice, every
acknowledged command must be one its drone really applied, and the audit chain must verify.
"""

from __future__ import annotations

import aiomqtt
import msgspec
import pytest

from dispatch.harness import request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import Ack, Delivered, Landed, Message, PickedUp, encode, new_msg_id
from fleet.signing import FleetSecret, sign
from tests.dispatcher_fixtures import states
from tests.fault_checks import assert_delivered_once, transitions


def as_drone(secret: FleetSecret, message: Message) -> bytes:
    """``message`` as its drone publishes it: signed with that drone's own key."""
    return encode(sign(message, secret.drone_key(message.drone_id)))


def again(secret: FleetSecret, message: Message, *, new_id: bool) -> bytes:
    """The same message re-sent: as a QoS 1 redelivery (same ``msg_id``) or re-generated (new one)."""
    return as_drone(secret, msgspec.structs.replace(message, msg_id=new_msg_id()) if new_id else message)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_duplicate_late_and_reordered_acks_and_events(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with (
        running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system,
        aiomqtt.Client(broker.host, broker.port) as drone_side,
    ):
        d, sim, link, secret = system.dispatcher, system.sim, system.link, system.secret
        t = link.topics

        async def done(ids: list[str]) -> bool:
            return (
                set((await states(store, ids)).values()) == {"delivered"}
                and not await store.flights.list_active()
            )

        # 1. A first delivery, flown to the end.
        r1 = (await d.submit(request("service-centre", "zhangde-road"))).id
        await d.wait_until(lambda: done([r1]), timeout_s=60)
        (f1,) = await store.flights.carrying(r1)
        old = [e for e in sim.events if getattr(e, "mission_id", None) == f1.mission_id]
        picked = next(e for e in old if isinstance(e, PickedUp))
        delivered = next(e for e in old if isinstance(e, Delivered))
        landed = next(e for e in old if isinstance(e, Landed))

        # 2. Two more requests; the second one's hand-over reaches the dispatcher before its pickup.
        r2 = (await d.submit(request("yindu-district", "anyang-station"))).id
        r3 = (await d.submit(request("service-centre", "zhangde-road"))).id

        async def dispatched(rid: str) -> bool:
            return (await states(store, [rid]))[rid] == "dispatched"

        await d.wait_until(lambda: dispatched(r3), timeout_s=60)
        (f3,) = await store.flights.carrying(r3)
        early = Delivered(
            drone_id=f3.drone_id,
            ts=system.clock.now(),
            lon=114.416,
            lat=36.1115,
            alt_m=0.0,
            mission_id=f3.mission_id,
            request_id=r3,
            code_ok=True,
        )
        await drone_side.publish(t.topic(f3.drone_id, "event"), as_drone(secret, early), qos=1)

        # 3. While r2 and r3 fly: r1's events again (redelivered and re-generated, and the
        # hand-over before the pickup), its landing again (onto a drone now flying another
        # mission), and late, contradicting acks of its commands.
        pub = t.topic(f1.drone_id, "event")
        for body in [
            again(secret, picked, new_id=False),
            again(secret, delivered, new_id=False),
            again(secret, landed, new_id=False),
            again(secret, delivered, new_id=True),
            again(secret, picked, new_id=True),
        ]:
            await drone_side.publish(pub, body, qos=1)
        # And a drone that is not in the fleet at all.
        stranger = msgspec.structs.replace(landed, drone_id="D99", msg_id=new_msg_id())
        await drone_side.publish(t.topic("D99", "event"), as_drone(secret, stranger), qos=1)
        stale_landing = msgspec.structs.replace(landed, drone_id=f3.drone_id, msg_id=new_msg_id())
        await drone_side.publish(t.topic(f3.drone_id, "event"), as_drone(secret, stale_landing), qos=1)
        for cmd in f1.commands:
            late = Ack(
                drone_id=f1.drone_id, cmd_id=cmd.cmd_id, ts=system.clock.now(), accepted=False, reason="late"
            )
            await drone_side.publish(t.topic(f1.drone_id, "ack"), as_drone(secret, late), qos=1)
            await drone_side.publish(t.topic(f1.drone_id, "ack"), as_drone(secret, late), qos=1)

        await d.wait_until(lambda: done([r1, r2, r3]), timeout_s=90)
        await assert_delivered_once(store, sim, [r1, r2, r3])
        assert link.stats.duplicate_events >= 3  # the redeliveries, passed on once
        assert link.stats.unmatched_acks >= 2 * len(f1.commands)
        assert link.stats.dropped["unknown_drone"] == 1 and link.registry.get("D99") is None
        assert all(c.result == "ack" for c in (await store.flights.carrying(r1))[0].commands)
        entries = (await store.requests.timeline(r3)).entries
        inferred = [e for e in entries if e.payload.get("details", {}).get("inferred_from") == "delivered"]
        assert len(inferred) == 1 and await transitions(store, r3) == [
            "accepted",
            "planned",
            "dispatched",
            "picked_up",
            "delivered",
        ]
        assert not d.stats.errors


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_refused_commands_and_drone_clocks_minutes_off(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool, speed=60.0) as system:
        d, sim, link = system.dispatcher, system.sim, system.link
        for i, drone_id in enumerate(sorted(sim.agents)):
            sim.inject_clock_skew(drone_id, (-1) ** i * (180 + 60 * i))  # 3 to 8 minutes off
            sim.inject_reject_next(drone_id)  # every drone refuses the first mission it gets
        ids = [
            (await d.submit(request(src, dst))).id
            for src, dst in [("service-centre", "zhangde-road"), ("tax-bureau", "jiefang-road")]
        ]

        async def done() -> bool:
            return (
                set((await states(store, ids)).values()) == {"delivered"}
                and not await store.flights.list_active()
            )

        await d.wait_until(done, timeout_s=90)
        await assert_delivered_once(store, sim, ids, replanned_ok=True)
        refused = [
            f
            for rid in ids
            for f in await store.flights.carrying(rid)
            if f.state == "aborted" and any(c.result == "nack" for c in f.commands)
        ]
        assert refused, "no mission was refused: the reject fault tested nothing"
        for rid in ids:
            path = await transitions(store, rid)
            # A refused upload sends the request back to be planned again, never further.
            assert path[-3:] == ["dispatched", "picked_up", "delivered"], path
        assert link.stats.dropped["bad_time"] == 0  # minutes of skew are normal
        assert not d.stats.errors
