"""Events are written before they are acknowledged, and a dispatcher that starts replays them.

Real Mosquitto and both databases: an event the link has not written is not acknowledged, so
the broker hands it to the next holder of the session; a failed write is retried before the
acknowledgement; the store's inbox keeps events in order until handled; ``replay_inbox`` hands
them to the dispatcher at start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest

from dispatch.service.inbox import StoreJournal, replay_inbox
from dispatch.store import Store
from dispatch.store.inbox import InboxEvent
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.embedded_broker import EmbeddedBroker
from fleet.journal import ReceivedEvent
from fleet.link import FleetLink
from fleet.messages import Delivered, Event, PickedUp, State, encode
from tests.fleet_helpers import wait_until

EXPIRY = 120  # short sessions: tests must not leave queued messages in the shared broker for a day


class GatedJournal:
    """A journal whose writes wait for ``open`` (and fail ``failures`` times first)."""

    def __init__(self, *, failures: int = 0, open_: bool = True) -> None:
        self.open = asyncio.Event()
        if open_:
            self.open.set()
        self.failures = failures
        self.calls = 0
        self.recorded: list[ReceivedEvent] = []
        self.forgotten: list[tuple[str, str]] = []

    async def record(self, events: Sequence[ReceivedEvent]) -> None:
        self.calls += 1
        await self.open.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store down (test)")
        self.recorded += events

    async def forget(self, keys: Sequence[tuple[str, str]]) -> None:
        self.forgotten += keys


def delivered(clock: ScaledClock, request_id: str) -> Delivered:
    return Delivered(
        drone_id="D07", ts=clock.now(), lon=114.41, lat=36.11, alt_m=0.0, request_id=request_id, code_ok=True
    )


async def test_an_event_not_yet_written_goes_to_the_next_holder_of_the_session(
    broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(1.0)
    client_id = client_id_from("disp", prefix)
    stuck = GatedJournal(open_=False)
    first = FleetLink(
        broker, client_id=client_id, prefix=prefix, clock=clock, session_expiry_s=EXPIRY, event_journal=stuck
    )
    event = delivered(clock, "R1")
    async with first, aiomqtt.Client(broker.host, broker.port) as drone:
        with first.subscribe() as updates:
            await first.wait_connected()
            await drone.publish(first.topics.topic("D07", "event"), encode(event), qos=1)
            # Received and passed on at once (handling does not wait for the write)...
            await wait_until(lambda: updates.pending() == 1 and stuck.calls == 1, what="event received")
    # ...but the process went away before the write: not acknowledged, so the broker keeps it.
    journal = GatedJournal()
    second = FleetLink(
        broker,
        client_id=client_id,
        prefix=prefix,
        clock=clock,
        session_expiry_s=EXPIRY,
        event_journal=journal,
    )
    async with second:
        await wait_until(lambda: len(journal.recorded) == 1, what="event redelivered and written")
        assert journal.recorded[0].event == event
        await second.journal_idle()
        second.settle(journal.recorded[0].event)
        await wait_until(lambda: journal.forgotten == [("D07", event.msg_id)], what="settled event forgotten")


async def test_a_failed_write_is_retried_before_the_event_is_acknowledged(
    broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(1.0)
    client_id = client_id_from("disp", prefix)
    journal = GatedJournal(failures=1)
    link = FleetLink(
        broker,
        client_id=client_id,
        prefix=prefix,
        clock=clock,
        session_expiry_s=EXPIRY,
        event_journal=journal,
    )
    events = [delivered(clock, "R1"), delivered(clock, "R2")]
    async with link, aiomqtt.Client(broker.host, broker.port) as drone:
        await link.wait_connected()
        for e in (events[0], events[0], events[1]):  # the second: a redelivery (same msg_id)
            await drone.publish(link.topics.topic("D07", "event"), encode(e), qos=1)
        await wait_until(lambda: len(journal.recorded) == 2, timeout_s=15, what="written after a retry")
        await link.journal_idle()
    assert journal.calls >= 2 and [r.event for r in journal.recorded] == events
    assert link.stats.duplicate_events == 1
    # Everything was acknowledged: the next holder of the session gets nothing again.
    after = GatedJournal()
    probe = FleetLink(
        broker, client_id=client_id, prefix=prefix, clock=clock, session_expiry_s=EXPIRY, event_journal=after
    )
    marker = delivered(clock, "R3")
    async with probe, aiomqtt.Client(broker.host, broker.port) as drone:
        await probe.wait_connected()
        await drone.publish(probe.topics.topic("D07", "event"), encode(marker), qos=1)
        await wait_until(lambda: len(after.recorded) >= 1, what="marker written")
    # Messages of one session come in order: had R1 or R2 been left unacknowledged, they would
    # have come before the marker.
    assert [r.event.request_id for r in after.recorded] == ["R3"]  # type: ignore[attr-defined]


async def test_the_inbox_keeps_events_in_order_until_handled(store: Store) -> None:
    t0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    rows = [InboxEvent("D01", f"m{i}", f'{{"n": {i}}}', t0 + timedelta(seconds=i % 2)) for i in range(4)]
    await store.inbox.record("area-a", rows)
    await store.inbox.record("area-a", rows[:1])  # again: kept as it is
    await store.inbox.record("area-b", [InboxEvent("D01", "m0", "{}", t0)])
    pending = await store.inbox.pending("area-a")
    assert [r.msg_id for r in pending] == ["m0", "m2", "m1", "m3"]  # by time received, then arrival
    await store.inbox.handled("area-a", [("D01", "m0"), ("D01", "m3"), ("D02", "m1")])
    assert [r.msg_id for r in await store.inbox.pending("area-a")] == ["m2", "m1"]
    assert [r.msg_id for r in await store.inbox.pending("area-b")] == ["m0"]


async def test_a_starting_dispatcher_replays_the_inbox_in_order(
    store: Store, broker: BrokerAddress, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ScaledClock(1.0)
    client_id = client_id_from("disp", prefix)
    picked = PickedUp(
        drone_id="D07",
        ts=clock.now(),
        lon=114.41,
        lat=36.11,
        alt_m=0.0,
        request_id="R1",
        code_ok=True,
        payload_kg=0.2,
    )
    handed = Delivered(
        drone_id="D07",
        ts=picked.ts + timedelta(seconds=60),
        lon=114.41,
        lat=36.11,
        alt_m=0.0,
        request_id="R1",
        code_ok=True,
    )
    now = clock.now()
    # Written in the other order (a killed process's batch, then the redeliveries to the next):
    # replayed in the order the drone made them.
    await store.inbox.record(
        client_id,
        [
            InboxEvent("D07", handed.msg_id, encode(handed).decode(), now),
            InboxEvent("D07", "garbled", "{not json", now + timedelta(seconds=1)),
            InboxEvent("D09", "garbled-too", "{not json", now + timedelta(seconds=3)),  # read last
            InboxEvent("D07", picked.msg_id, encode(picked).decode(), now + timedelta(seconds=2)),
        ],
    )
    seen: list[Event] = []

    async def handle(e: Event) -> None:
        seen.append(e)
        if isinstance(e, PickedUp):
            raise RuntimeError("a handler bug (test): the next event is still replayed")

    link = FleetLink(
        broker,
        client_id=client_id,
        prefix=prefix,
        clock=clock,
        session_expiry_s=EXPIRY,
        event_journal=StoreJournal(store, client_id),
    )
    async with link:
        await link.wait_connected()
        keys = await replay_inbox(store, link, handle)
    assert seen == [picked, handed]
    assert keys == {
        ("D07", picked.msg_id),
        ("D07", "garbled"),
        ("D07", handed.msg_id),
        ("D09", "garbled-too"),
    }
    # The failure names the event's drone, not the last row read.
    assert "replaying PickedUp of D07 failed" in caplog.text
    assert await store.inbox.pending(client_id) == []


async def test_acknowledgements_go_out_in_order_behind_a_slow_write() -> None:
    """rumqttd (the demo's broker) drops a client whose PUBACKs come out of order: a state that
    arrives while the event before it is still being written is acknowledged after it."""
    clock = ScaledClock(1.0)
    journal = GatedJournal(open_=False)
    with EmbeddedBroker() as address:
        link = FleetLink(
            address,
            client_id="disp-order",
            prefix="order/dd/v1",
            clock=clock,
            session_expiry_s=EXPIRY,
            event_journal=journal,
        )
        v5 = aiomqtt.ProtocolVersion.V5
        async with link, aiomqtt.Client(address.host, address.port, protocol=v5) as drone:
            await link.wait_connected()
            with link.subscribe() as updates:
                topics = link.topics
                await drone.publish(topics.topic("D07", "event"), encode(delivered(clock, "R1")), qos=1)
                await wait_until(lambda: journal.calls == 1, what="the write begun")
                state = State(drone_id="D07", ts=clock.now(), online=True, state="idle")
                await drone.publish(topics.topic("D07", "state"), encode(state), qos=1)
                await wait_until(lambda: updates.pending() == 2, what="the state handled at once")
                journal.open.set()
                await link.journal_idle()
                marker = delivered(clock, "R2")
                await drone.publish(topics.topic("D07", "event"), encode(marker), qos=1)
                await wait_until(lambda: len(journal.recorded) == 2, what="the next event written")
            assert link.stats.connects == 1  # never dropped by the broker
