"""Scale-out on PostgreSQL: two ``dronedispatch run`` processes share one database and one broker; one
leads, the other waits as a hot standby. The leader is SIGKILLed mid-run; the standby takes over,
and every one of 100 requests is still delivered exactly once."""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import pytest

from dispatch.commands.run import READY_LINE
from dispatch.service.leadership import STANDBY_LINE
from dispatch.store import open_store
from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from fleet.messages import Delivered, PickedUp
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import REPO
from tests.db_fixtures import create_pg_schema, drop_pg_schema
from tests.dispatcher_fixtures import SIM_START, pads, request, sample_fleet, seed
from tests.mqtt_fixtures import broker_fixture, prefix_fixture  # noqa: F401

USABLE_PADS = sorted(set(pads()) - {"crane-site", "art-park"})  # blocked now / from 10:00 (festival)


class Process:
    """One ``dronedispatch run`` and what it printed: ready/standby, and ``request ID STATE`` lines."""

    def __init__(
        self, proc: asyncio.subprocess.Process, delivered: Counter[str], changed: asyncio.Event
    ) -> None:
        self.proc = proc
        self.delivered = delivered
        self.ready = asyncio.Event()
        self.standby = asyncio.Event()
        self.changed = changed
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().strip()
            if line == READY_LINE:
                self.ready.set()
            elif line == STANDBY_LINE:
                self.standby.set()
            elif line.startswith("request ") and line.endswith(" delivered"):
                self.delivered[line.split()[1]] += 1
                self.changed.set()


async def start(db_url: str, broker: BrokerAddress, prefix: str, client_id: str, clock: SharedClock,
                delivered: Counter[str], changed: asyncio.Event, log: BinaryIO) -> Process:  # fmt: skip
    """Start a dispatcher process for the same service area (same broker session id)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch.cli", "run",
        "--db", db_url, "--broker", broker.url, "--prefix", prefix, "--client-id", client_id,
        "--plan-seconds", "0.5", "--tick-s", "20", "--verbose", *clock.to_args(),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
    )  # fmt: skip
    return Process(proc, delivered, changed)


async def until_delivered(delivered: Counter[str], changed: asyncio.Event, n: int, timeout_s: float) -> None:
    """Until ``n`` distinct requests were reported delivered (by either process)."""

    async def _wait() -> None:
        while len(delivered) < n:
            changed.clear()
            await changed.wait()

    await asyncio.wait_for(_wait(), timeout_s)


@pytest.mark.timeout(900)
async def test_leader_killed_mid_run_standby_delivers_all_exactly_once(
    broker: BrokerAddress, prefix: str, tmp_path: Path
) -> None:
    schema, db_url = await create_pg_schema()
    store = await open_store(db_url)
    processes: list[Process] = []
    try:
        fleet = sample_fleet(8)
        await seed(store, fleet)
        clock = SharedClock.starting_now(200.0, SIM_START)
        rng = random.Random(11)
        ids = []
        for _ in range(100):
            src, dst = rng.sample(USABLE_PADS, 2)
            created = await store.requests.create(request(src, dst, deadline_min=600), actor=src)
            ids.append(created.request.id)
        client_id = f"disp-{uuid.uuid4().hex[:8]}"
        delivered: Counter[str] = Counter()
        changed = asyncio.Event()
        log = (tmp_path / "dispatchers.log").open("ab")
        sim = SimulatedFleet(fleet, broker, clock=clock, prefix=prefix, telemetry_period_s=2.0)
        async with sim:
            leader = await start(db_url, broker, prefix, client_id, clock, delivered, changed, log)
            processes.append(leader)
            await asyncio.wait_for(leader.ready.wait(), 60)
            standby = await start(db_url, broker, prefix, client_id, clock, delivered, changed, log)
            processes.append(standby)
            await asyncio.wait_for(standby.standby.wait(), 60)
            assert not standby.ready.is_set()

            await until_delivered(delivered, changed, 30, timeout_s=240)
            # Mid-run, with a document on board: right after the next pickup.
            seen = len(sim.events)
            await sim.wait_for(
                lambda e: isinstance(e, PickedUp) and e.code_ok and sim.events.index(e) >= seen, timeout_s=60
            )
            leader.proc.kill()
            await leader.proc.wait()
            await asyncio.wait_for(standby.ready.wait(), 60)
            try:
                await until_delivered(delivered, changed, len(ids), timeout_s=400)
            except TimeoutError:
                log.flush()
                stuck = []
                for rid in set(ids) - set(delivered):
                    view = await store.requests.get(rid)
                    timeline = await store.requests.timeline(rid)
                    steps = [(e.action, e.payload.get("to"), e.actor) for e in timeline.entries]
                    stuck.append(f"{rid} {view.state} {view.state_reason}: {steps}")
                tail = (tmp_path / "dispatchers.log").read_text()[-4000:]
                report = "\n".join([f"{len(delivered)} of {len(ids)} delivered; not:", *stuck, tail])
                raise AssertionError(report) from None

        # Exactly once, by the store's own record and by what the drones did.
        for rid in ids:
            timeline = await store.requests.timeline(rid)
            tos = [e.payload.get("to") for e in timeline.entries if e.action == "transition"]
            assert tos.count("delivered") == 1 and tos[-1] == "delivered", (rid, tos)
        handed = Counter(e.request_id for e in sim.events if isinstance(e, Delivered) and e.code_ok)
        picked = Counter(e.request_id for e in sim.events if isinstance(e, PickedUp) and e.code_ok)
        assert handed == Counter(ids) and picked == Counter(ids)
        assert not sim.breaches
        report = await store.verify_audit()
        assert report.ok, report
        print(f"failover: {len(ids)} delivered; {sum(delivered.values())} delivered lines printed")
    finally:
        for p in processes:
            if p.proc.returncode is None:
                p.proc.terminate()
                await asyncio.wait_for(p.proc.wait(), 30)
            p.reader.cancel()
        await store.close()
        await drop_pg_schema(schema)
