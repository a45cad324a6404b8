"""Crash recovery: the dispatcher runs as a real ``dronedispatch run`` process, is SIGKILLed
mid-flight and started again; every request is still delivered exactly once."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

from dispatch.harness import SIM_START, request, sample_fleet, seed
from dispatch.store import Store, open_store
from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from fleet.messages import Delivered, PickedUp, TookOff
from simulator.fleet_sim import SimulatedFleet
from tests.mqtt_fixtures import fleet_secret
from tests.process_fixtures import add_unprinted, dispatcher_process

ROUTES = [
    ("service-centre", "zhangde-road"),
    ("yindu-district", "anyang-station"),
    ("tax-bureau", "longan-district"),
    ("intermediate-court", "industrial-park"),
    ("wenfeng-district", "jiefang-road"),
    ("market-bureau", "service-centre"),
]


async def test_sigkill_mid_flight_then_restart(
    db_url: str, broker: BrokerAddress, prefix: str, tmp_path: Path
) -> None:
    store: Store = await open_store(db_url)
    try:
        fleet = sample_fleet()
        await seed(store, fleet)
        clock = SharedClock.starting_now(150.0, SIM_START)
        ids = []
        for src, dst in ROUTES:
            created = await store.requests.create(request(src, dst, deadline_min=120), actor=src)
            ids.append(created.request.id)
        client_id = f"disp-{uuid.uuid4().hex[:8]}"
        seen: dict[str, list[str]] = {}
        sim = SimulatedFleet(
            fleet, broker, clock=clock, prefix=prefix, telemetry_period_s=2.0, fleet_secret=fleet_secret()
        )
        async with sim:
            log = (tmp_path / "dispatcher.log").open("ab")
            async with dispatcher_process(db_url, broker, prefix, client_id, clock, log, seen=seen) as first:
                # Mid-flight: a document is on board some drone.
                await sim.wait_for(lambda e: isinstance(e, PickedUp) and e.code_ok, timeout_s=60)
                first.proc.kill()
                await first.proc.wait()
                await add_unprinted(store, ids, seen)
            async with dispatcher_process(db_url, broker, prefix, client_id, clock, log, seen=seen) as second:
                try:
                    await second.wait_for(ids, "delivered", timeout_s=60)
                except TimeoutError:
                    log.flush()
                    tail = (tmp_path / "dispatcher.log").read_text()[-3000:]
                    raise AssertionError(f"not all delivered: {seen}\n{tail}") from None

        # Delivered exactly once, each document picked up once, each mission started once.
        for rid in ids:
            timeline = await store.requests.timeline(rid)
            tos = [e.payload.get("to") for e in timeline.entries if e.action == "transition"]
            assert tos.count("delivered") == 1 and tos[-1] == "delivered", tos
            assert tos.count("picked_up") == 1, tos
        delivered = Counter(e.request_id for e in sim.events if isinstance(e, Delivered) and e.code_ok)
        picked = Counter(e.request_id for e in sim.events if isinstance(e, PickedUp) and e.code_ok)
        assert delivered == Counter(ids) and picked == Counter(ids)
        took_off = Counter(e.mission_id for e in sim.events if isinstance(e, TookOff))
        assert all(n == 1 for n in took_off.values()), took_off
        assert not sim.breaches
        report = await store.verify_audit()
        assert report.ok, report
    finally:
        await store.close()
