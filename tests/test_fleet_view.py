"""The shared fleet view on PostgreSQL and the real broker: two links in one shared subscription each
hear part of the telemetry, both write what they heard into ``drone_positions``, and the leader's
link takes the rest from there, so it holds every drone's newest sample.

Then the whole thing as deployed: two ``dronedispatch run --share-telemetry`` processes (leader and
standby), a simulated fleet, requests delivered; each process reports its share in its stats lines
and the leader reports samples taken from the view."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from dispatch.commands.run import main as run_main
from dispatch.harness import SIM_START, pads, request, sample_fleet, seed
from dispatch.service.fleet_view import FleetViewReader, FleetViewWriter, share_group
from dispatch.store import Store, open_store
from fleet.clock import RealClock, SharedClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.link import FleetLink, TelemetryListener
from fleet.messages import Telemetry, encode
from fleet.topics import Topics
from simulator.fleet_sim import SimulatedFleet
from tests.db_fixtures import create_pg_schema, drop_pg_schema
from tests.mqtt_fixtures import fleet_secret
from tests.process_fixtures import DispatcherProcess, start_dispatcher

DRONES = [f"V{i:03d}" for i in range(20)]
USABLE_PADS = sorted(set(pads()) - {"crane-site", "sports-centre"})  # blocked now / from 10:00 (event)


@contextlib.asynccontextmanager
async def pg_store() -> AsyncIterator[tuple[Store, str]]:
    """A migrated store in a fresh PostgreSQL schema (dropped afterwards), and its URL."""
    schema, url = await create_pg_schema()
    store = await open_store(url)
    try:
        yield store, url
    finally:
        await store.close()
        await drop_pg_schema(schema)


def _link(broker: BrokerAddress, prefix: str, name: str, *, telemetry_only: bool = False) -> FleetLink:
    return FleetLink(
        broker,
        client_id=client_id_from(name, prefix),
        prefix=prefix,
        session_expiry_s=0,
        telemetry_group=share_group("test-area"),
        telemetry_only=telemetry_only,
        max_telemetry_age_s=600,
    )


async def test_the_leader_takes_what_the_standby_heard_from_the_view(
    broker: BrokerAddress, prefix: str
) -> None:
    clock = RealClock()
    leader, standby = _link(broker, prefix, "leader"), _link(broker, prefix, "standby", telemetry_only=True)
    rounds = 6
    last_ts = clock.now() + timedelta(seconds=rounds)
    complete = asyncio.Event()

    def check(_msg: Telemetry, _at: object, _shared: bool) -> None:
        held = [leader.registry.get(d) for d in DRONES]
        if all(s is not None and s.telemetry is not None and s.telemetry.ts == last_ts for s in held):
            complete.set()

    leader.add_telemetry_listener(check)
    async with pg_store() as (store, _url):
        view_writers = [FleetViewWriter(store, leader, "leader"), FleetViewWriter(store, standby, "standby")]
        reader = FleetViewReader(store, leader, "leader")
        async with leader, standby, aiomqtt.Client(broker.host, broker.port) as drones:
            tasks = [asyncio.create_task(w.run()) for w in (*view_writers, reader)]
            try:
                t0 = clock.now()
                for k in range(1, rounds + 1):
                    for drone_id in DRONES:
                        t = Telemetry(
                            drone_id=drone_id,
                            ts=t0 + timedelta(seconds=k) if k < rounds else last_ts,
                            lon=114.39 + k * 1e-4,
                            lat=36.10,
                            alt_m=120,
                            ground_speed_mps=15,
                            heading_deg=0,
                            battery_pct=90,
                            energy_wh=300,
                            state="en_route",
                        )
                        await drones.publish(leader.topics.topic(drone_id, "telemetry"), encode(t))
                await asyncio.wait_for(complete.wait(), 20)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        total = rounds * len(DRONES)
        assert 0 < leader.stats.telemetry < total and standby.stats.telemetry > 0
        assert leader.stats.telemetry + standby.stats.telemetry == total  # each sample to one member
        assert leader.stats.shared > 0, "the leader took samples only the standby heard"
        rows = await store.positions.changed_since(None)
        assert {r.drone_id for r in rows} == set(DRONES)
        assert all(r.ts == last_ts for r in rows)
        # What the leader took from the view carries the standby's time of receipt, not its own.
        by_standby = {r.drone_id: r for r in rows if r.writer == "standby"}
        for drone_id, row in by_standby.items():
            status = leader.registry.get(drone_id)
            assert status is not None and status.received_at == row.received_at
        # An older sample (a re-read inside the reader's margin) never replaces the one held.
        held = leader.registry.get(DRONES[0])
        assert held is not None and held.telemetry is not None
        stale = Telemetry(
            drone_id=DRONES[0],
            ts=last_ts - timedelta(seconds=3),
            lon=1.0,
            lat=1.0,
            alt_m=0,
            ground_speed_mps=0,
            heading_deg=0,
            battery_pct=1,
            energy_wh=1,
            state="idle",
        )
        stale_before = leader.stats.shared_stale
        assert leader.accept_shared([(stale, clock.now())]) == 0
        assert leader.stats.shared_stale == stale_before + 1 and held.telemetry.ts == last_ts


async def test_a_telemetry_only_link_sends_nothing(broker: BrokerAddress, prefix: str) -> None:
    from fleet.messages import Hold

    link = _link(broker, prefix, "view", telemetry_only=True)
    with pytest.raises(RuntimeError, match="telemetry-only"):
        await link.send(Hold(drone_id="V000", cmd_id="h1", expires_at=RealClock().now()))


def test_share_telemetry_needs_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "--share-telemetry"]) == 2
    assert "--share-telemetry needs PostgreSQL" in capsys.readouterr().err


@pytest.mark.timeout(300)
async def test_two_dispatchers_share_the_telemetry_and_deliver(
    broker: BrokerAddress, prefix: str, tmp_path: Path
) -> None:
    fleet = sample_fleet(12)
    clock = SharedClock.starting_now(100.0, SIM_START)
    seen: dict[str, list[str]] = {}  # request lines of both processes
    changed = asyncio.Event()
    processes: list[DispatcherProcess] = []
    log = (tmp_path / "dispatchers.log").open("ab")
    async with pg_store() as (store, db_url):
        await seed(store, fleet)
        rng = random.Random(5)
        ids = []
        for _ in range(12):
            src, dst = rng.sample(USABLE_PADS, 2)
            ids.append(
                (await store.requests.create(request(src, dst, deadline_min=600), actor=src)).request.id
            )
        client_id = f"disp-{uuid.uuid4().hex[:8]}"

        async def start() -> DispatcherProcess:
            process = await start_dispatcher(
                db_url,
                broker,
                prefix,
                client_id,
                clock,
                log,
                seen=seen,
                changed=changed,
                extra=[
                    "--area",
                    f"view-{client_id}",
                    "--share-telemetry",
                    "--stats-every",
                    "1",
                    # A drone only the standby hears reaches the leader up to ~1 s later through
                    # the view: 100 simulated seconds here, more than the default silence of 90.
                    "--silent-after-s",
                    "600",
                ],
            )
            processes.append(process)
            return process

        def delivered() -> set[str]:
            return {rid for rid, states in seen.items() if "delivered" in states}

        try:
            async with SimulatedFleet(
                fleet, broker, clock=clock, prefix=prefix, telemetry_period_s=2.0, fleet_secret=fleet_secret()
            ):
                leader = await start()
                await asyncio.wait_for(leader.ready.wait(), 60)
                standby = await start()
                await asyncio.wait_for(standby.standby.wait(), 60)

                def shared_both_ways() -> bool:
                    lead = [s for s in leader.stats if s["role"] == "leader"]
                    stand = [s for s in standby.stats if s["role"] == "standby"]
                    return (
                        any(float(s["view/s"]) > 0 for s in lead)
                        and any(float(s["direct/s"]) > 0 for s in stand)
                        and any(float(s["direct/s"]) > 0 for s in lead)
                    )

                await leader.until(shared_both_ways, 60)
                try:
                    await leader.until(lambda: len(delivered()) == len(ids), 240)
                except TimeoutError:
                    stuck = []
                    for rid in set(ids) - delivered():
                        timeline = await store.requests.timeline(rid)
                        stuck.append(f"{rid}: {[(e.action, e.payload) for e in timeline.entries][-4:]}")
                    log.flush()
                    tail = (tmp_path / "dispatchers.log").read_text()[-4000:]
                    raise AssertionError("\n".join(["not delivered:", *stuck, tail])) from None
                assert not standby.ready.is_set()
                # Both wrote into the fleet view (which row shows whom changes with every write:
                # the newest sample of a drone wins), and the leader read the standby's rows.
                assert int(leader.stats[-1]["view_rows_written"]) > 0
                assert int(standby.stats[-1]["view_rows_written"]) > 0
                assert int(leader.stats[-1]["view_rows_read"]) > 0
                assert {r.drone_id for r in await store.positions.changed_since(None)} == {
                    d.id for d in fleet.drones
                }
                lead_stats = [s for s in leader.stats if s["role"] == "leader"]
                print("leader stats:", lead_stats[-1], "\nstandby stats:", standby.stats[-1])

                # Promotion: the standby drops its view link and leads with the area's session.
                leader.proc.kill()
                await leader.proc.wait()
                await asyncio.wait_for(standby.ready.wait(), 60)
                await standby.until(
                    lambda: any(s["role"] == "leader" and float(s["direct/s"]) > 0 for s in standby.stats), 30
                )
        finally:
            for p in processes:
                await p.stop()
            log.close()


async def test_a_waiter_for_a_drone_wakes_on_a_sample_taken_from_the_view() -> None:
    link = FleetLink("mqtt://127.0.0.1:1883", drone_ids=DRONES[:2])  # never connected: no broker needed
    clock = RealClock()
    now = clock.now()

    def sample(drone_id: str, ts: datetime) -> Telemetry:
        return Telemetry(
            drone_id=drone_id,
            ts=ts,
            lon=114.39,
            lat=36.10,
            alt_m=120,
            ground_speed_mps=15,
            heading_deg=0,
            battery_pct=90,
            energy_wh=300,
            state="en_route",
        )

    waiting = asyncio.create_task(link.telemetry_after(DRONES[0], now, timeout_s=10))
    other = asyncio.create_task(link.telemetry_after(DRONES[1], now + timedelta(seconds=5), timeout_s=10))
    heard_at = now - timedelta(seconds=1)
    taken: list[int] = []
    # Scheduled after the two tasks' first steps (the loop runs callbacks in order), so both wait.
    asyncio.get_running_loop().call_soon(
        lambda: taken.append(link.accept_shared([(sample(d, now), heard_at) for d in DRONES[:2]]))
    )
    assert (await asyncio.wait_for(waiting, 5)).ts == now
    assert taken == [2]
    assert not other.done(), "a sample older than asked for does not wake the waiter"
    assert link.accept_shared([(sample("not-in-fleet", now), heard_at)]) == 0
    status = link.registry.get(DRONES[0])
    assert status is not None and status.received_at == heard_at  # when the other process heard it
    link.accept_shared([(sample(DRONES[1], now + timedelta(seconds=6)), now)])
    assert (await asyncio.wait_for(other, 5)).ts == now + timedelta(seconds=6)


async def test_a_session_that_starts_sharing_forgets_its_plain_telemetry_filter(
    broker: BrokerAddress, prefix: str
) -> None:
    """The broker keeps a persistent session's subscriptions: a dispatcher that ran without
    sharing and now shares must drop its old plain filter, or it would still hear everything."""
    clock = RealClock()
    client_id = client_id_from("switch", prefix)
    async with FleetLink(broker, client_id=client_id, prefix=prefix, session_expiry_s=60):
        pass  # the session keeps the plain telemetry filter
    group = share_group("switch-area")
    every = Topics(prefix).all_of("telemetry")
    leader = FleetLink(
        broker,
        client_id=client_id,
        prefix=prefix,
        session_expiry_s=0,
        telemetry_group=group,
        forget_filters=[every],
        max_telemetry_age_s=600,
    )
    member = FleetLink(
        broker,
        client_id=client_id_from("member", prefix),
        prefix=prefix,
        session_expiry_s=0,
        telemetry_group=group,
        telemetry_only=True,
        max_telemetry_age_s=600,
    )
    marked = [asyncio.Event(), asyncio.Event()]

    def on_mark(event: asyncio.Event) -> TelemetryListener:
        return lambda msg, _at, _shared: event.set() if msg.drone_id == "MARK" else None

    for link, event in zip((leader, member), marked, strict=True):
        link.add_telemetry_listener(on_mark(event))

    def sample(drone_id: str) -> Telemetry:
        return Telemetry(
            drone_id=drone_id,
            ts=clock.now(),
            lon=114.39,
            lat=36.10,
            alt_m=120,
            ground_speed_mps=15,
            heading_deg=0,
            battery_pct=90,
            energy_wh=300,
            state="en_route",
        )

    async with leader, member, aiomqtt.Client(broker.host, broker.port) as drones:
        for drone_id in DRONES:
            await drones.publish(Topics(prefix).topic(drone_id, "telemetry"), encode(sample(drone_id)))
        # Markers until each member had one: everything published before is in by then.
        for _ in range(50):
            await drones.publish(Topics(prefix).topic("MARK", "telemetry"), encode(sample("MARK")))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in marked)), 0.5)
            if all(e.is_set() for e in marked):
                break
        heard = [link.registry.get(d) for link in (leader, member) for d in DRONES]
        # Each sample reached one member once: no plain filter is left in the leader's session.
        assert sum(s.telemetry_count for s in heard if s is not None) == len(DRONES)
