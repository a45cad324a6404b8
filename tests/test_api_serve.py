"""``dronedispatch serve`` and ``dronedispatch keys`` as real processes: an empty SQLite file is seeded,
the service answers /health, an office key made by ``keys create`` files a request, a revoked key
is refused, and SIGTERM stops it with exit status 0."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import httpx

from fleet.connection import BrokerAddress
from tests.conftest import REPO


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``dronedispatch ARGS`` to the end: (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatch.cli",
        *args,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_serve_runs_until_sigterm(tmp_path: Path, broker: BrokerAddress, prefix: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    log = (tmp_path / "serve.err").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatch.cli",
        "serve",
        "--port",
        "0",  # serve binds a free port itself and names it (no race with another process)
        "--db",
        url,
        "--broker",
        broker.url,
        "--prefix",
        prefix,
        "--client-id",
        f"serve-{prefix.split('/')[0]}",
        "-v",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        lines = []
        async with asyncio.timeout(90):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, (
                    f"serve exited early ({await proc.wait()}): {(tmp_path / 'serve.err').read_text()}"
                )
                lines.append(line.strip())
                if line.startswith("serving on "):
                    break
        base = lines[-1].split()[2]
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
        assert lines[-1] == f"serving on {base} (dashboard: {base}/dashboard)"
        assert any(line.startswith("the database had no fleet: seeded 16 offices") for line in lines), lines

        env = {"DATABASE_URL": url}
        status, token, err = await cli(
            "keys", "create", "--office", "service-centre", "--label", "clerk", env=env
        )
        assert status == 0, err
        token = token.strip()
        assert token.startswith("dd_") and "shown only this once" in err
        status, other, _ = await cli("keys", "create", "--operator", env=env)
        assert status == 0
        status, listing, _ = await cli("keys", "list", env=env)
        assert status == 0 and "office    service-centre" in listing and "clerk" in listing
        assert token not in listing
        operator_id = other.strip().split("_")[1]
        status, out, _ = await cli("keys", "revoke", operator_id, env=env)
        assert status == 0 and out.strip() == f"key {operator_id} revoked"
        status, _, err = await cli("keys", "create", "--office", "no-such-office", env=env)
        assert status == 1 and "unknown office" in err

        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            health = await c.get("/health")
            assert health.status_code == 200, health.text
            assert health.json()["status"] == "ok"
            r = await c.post(
                "/api/v1/requests",
                headers={"Authorization": f"Bearer {token}"},
                json={"pickup": "service-centre", "dropoff": "zhangde-road", "weight_kg": 0.3},
            )
            assert r.status_code == 201, r.text
            assert r.json()["state"] == "accepted"
            r = await c.get("/api/v1/fleet", headers={"Authorization": f"Bearer {other.strip()}"})
            assert r.status_code == 401
            schema = await c.get("/schema/openapi.json")
            assert schema.status_code == 200 and "/api/v1/requests" in schema.json()["paths"]
            assert (await c.get("/", follow_redirects=False)).status_code in (301, 302, 307, 308)
            # A path forging a log line of its own: 404, and escaped in the log.
            forged = "/dashboard/a%00%0a2026-01-01%2000:00:00,000%20WARNING%20x:%20forged"
            assert (await c.get(forged)).status_code == 404

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        # serve -v: one access line per call (the key's id, never the key), one per state change.
        logged = (tmp_path / "serve.err").read_text()
        key_id = token.split("_")[1]
        assert re.search(
            rf" INFO dispatch\.api\.access: POST /api/v1/requests 201 [\d.]+ ms key:{key_id}\n", logged
        )
        assert re.search(r" INFO dispatch\.api\.access: GET /health 200 [\d.]+ ms anonymous\n", logged)
        assert re.search(
            r" INFO dispatch\.requests: request (req_\w+): submitted "
            rf"\(by office:service-centre/key:{key_id}\)\n"
            r"(.*\n)*.* INFO dispatch\.requests: request \1: submitted -> accepted \(by dispatcher\)\n",
            logged,
        )
        assert "GET /dashboard/a\\x00\\n2026-01-01 00:00:00,000 WARNING x: forged 404" in logged
        assert "\n2026-01-01 00:00:00,000 WARNING x: forged" not in logged
        assert token not in logged
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
