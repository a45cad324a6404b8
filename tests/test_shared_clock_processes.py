"""``serve`` and ``simulate`` as real processes given the same ``--clock-*`` options agree on the
simulated time: the simulator's telemetry times and the service's clock (``GET /api/v1/area``)
both read the test's own :class:`~fleet.clock.SharedClock` of those options."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import httpx
import pytest

from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from fleet.messages import Telemetry, decode
from tests.conftest import EXAMPLES, REPO

SPEED = 5.0
TOLERANCE_S = 3.0  # simulated seconds: 0.6 s of real time for a message or an HTTP call to arrive


async def _spawn(*args: str, log: Path, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatch.cli",
        *args,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("wb"),
    )


async def _line_starting(proc: asyncio.subprocess.Process, head: str, log: Path) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(90):
        while line := (await proc.stdout.readline()).decode():
            if line.startswith(head):
                return line
    raise AssertionError(f"exited ({await proc.wait()}) before {head!r}: {log.read_text()}")


async def _telemetry_offsets(broker: BrokerAddress, prefix: str, clock: SharedClock, n: int) -> list[float]:
    """Simulated seconds between each of ``n`` telemetry samples' time and ``clock`` on arrival."""
    offsets: list[float] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"{prefix}/drones/+/telemetry")
        async with asyncio.timeout(60):
            async for message in client.messages:
                arrived = clock.now()
                sample = decode("telemetry", bytes(message.payload))
                assert isinstance(sample, Telemetry)
                offsets.append((sample.ts - arrived).total_seconds())
                if len(offsets) >= n:
                    return offsets
    return offsets


@pytest.mark.timeout(240)
async def test_serve_and_simulate_share_simulated_time(
    tmp_path: Path, broker: BrokerAddress, prefix: str
) -> None:
    clock = SharedClock.starting_now(SPEED, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    db = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    common = ["--broker", broker.url, "--prefix", prefix, *clock.to_args()]
    serve = await _spawn(
        "serve",
        "--db",
        db,
        "--port",
        "0",  # it picks a free port and names it (one picked here could be taken meanwhile)
        "--client-id",
        f"clock-{prefix.split('/')[0]}",
        *common,
        log=tmp_path / "serve.err",
    )
    sim = await _spawn(
        "simulate", "--fleet", str(EXAMPLES / "fleet.json"), *common, log=tmp_path / "simulate.err"
    )
    try:
        base_url = (await _line_starting(serve, "serving on ", tmp_path / "serve.err")).split()[2]
        await _line_starting(sim, "6 drones on ", tmp_path / "simulate.err")
        keys_log = tmp_path / "keys.err"
        keys = await _spawn("keys", "create", "--operator", env={"DATABASE_URL": db}, log=keys_log)
        token, _ = await asyncio.wait_for(keys.communicate(), 60)
        assert keys.returncode == 0, keys_log.read_text()

        simulator = await _telemetry_offsets(broker, prefix, clock, 20)
        service: list[float] = []
        headers = {"Authorization": f"Bearer {token.decode().strip()}"}
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            for _ in range(5):
                before = time.time()
                r = await http.get("/api/v1/area", headers=headers)
                after = time.time()
                assert r.status_code == 200, r.text
                # The service read its clock between sending and answering: compare at the midpoint.
                expected = clock.start.timestamp() + ((before + after) / 2 - clock.anchor) * SPEED
                service.append(datetime.fromisoformat(r.json()["now"]).timestamp() - expected)
        # The best case of each: what the delivery of a message or a call added is not the clocks'.
        best_sim, best_service = min(simulator, key=abs), min(service, key=abs)
        assert abs(best_sim) <= TOLERANCE_S, simulator
        assert abs(best_service) <= TOLERANCE_S, service
        assert abs(best_sim - best_service) <= TOLERANCE_S
    finally:
        for proc in (sim, serve):
            if proc.returncode is None:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 30)
