"""One leader per service area: a PostgreSQL advisory lock on a dedicated connection (standbys wait
and take over when the leader dies, even by SIGKILL); SQLite refuses a second dispatcher."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from dispatch.service.leadership import STANDBY_LINE, AlreadyRunning, advisory_key, leadership
from fleet.connection import BrokerAddress
from tests.conftest import REPO
from tests.db_fixtures import create_pg_schema, drop_pg_schema

HOLD_LEASE = """
import asyncio, sys
from dispatch.service.leadership import leadership

async def main() -> None:
    async with leadership(sys.argv[1], sys.argv[2]):
        print("leading", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture
async def pg_url() -> object:
    name, url = await create_pg_schema()
    try:
        yield url
    finally:
        await drop_pg_schema(name)


async def test_sqlite_refuses_a_second_dispatcher(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"
    async with leadership(url) as lease:
        assert lease.how == "sqlite lock file"
        with pytest.raises(AlreadyRunning, match="use PostgreSQL to run several"):
            async with leadership(url):
                pass
    async with leadership(url):  # released with the first
        pass


async def test_sqlite_run_command_refuses_a_second_process(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LEASE, url, "default", cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"leading"
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dispatch.cli",
            "run",
            "--db",
            url,
            "--broker",
            "mqtt://127.0.0.1:1",
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 2, (out, err)
        assert b"another dispatcher" in err and f"pid {holder.pid}".encode() in err, err
    finally:
        holder.kill()
        await holder.wait()


async def test_postgres_standby_waits_then_leads(pg_url: str) -> None:
    waiting = asyncio.Event()
    async with leadership(pg_url, "north") as first:
        assert first.how == "postgresql advisory lock"
        led = asyncio.Event()

        async def standby() -> None:
            async with leadership(pg_url, "north", on_standby=waiting.set):
                led.set()

        task = asyncio.create_task(standby())
        await asyncio.wait_for(waiting.wait(), 10)
        assert not led.is_set()
        # Another area has its own leader.
        async with leadership(pg_url, "south", on_standby=lambda: pytest.fail("south is free")):
            pass
    await asyncio.wait_for(led.wait(), 10)
    await task


async def test_postgres_standby_takes_over_when_the_leader_is_sigkilled(pg_url: str) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LEASE, pg_url, "area-k", cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"leading"
        waiting = asyncio.Event()
        led = asyncio.Event()

        async def standby() -> None:
            async with leadership(pg_url, "area-k", on_standby=waiting.set):
                led.set()

        task = asyncio.create_task(standby())
        await asyncio.wait_for(waiting.wait(), 10)
        holder.kill()
        await holder.wait()
        await asyncio.wait_for(led.wait(), 10)
        await task
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_postgres_leader_notices_a_lost_lock_connection(pg_url: str) -> None:
    async with leadership(pg_url, "area-l", check_every_s=0.1) as lease:
        assert lease.backend_pid is not None
        plain = make_url(pg_url).difference_update_query(["schema"]).set(drivername="postgresql")
        admin = await asyncpg.connect(plain.render_as_string(hide_password=False))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", lease.backend_pid)
        finally:
            await admin.close()
        await asyncio.wait_for(lease.lost.wait(), 10)
        assert "connection" in lease.why_lost
    # The lock went with the connection: the area is free.
    async with leadership(pg_url, "area-l", on_standby=lambda: pytest.fail("area-l is free")):
        pass


def test_advisory_keys_differ_by_area_and_schema() -> None:
    keys = {advisory_key(a, s) for a in ("default", "north") for s in (None, "t1", "t2")}
    assert len(keys) == 6
    assert all(-(2**63) <= k < 2**63 for k in keys)


async def _serve(db_url: str, broker: BrokerAddress, prefix: str, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatch.cli",
        "serve",
        "--port",
        "0",
        "--db",
        db_url,
        "--broker",
        broker.url,
        "--prefix",
        prefix,
        "--client-id",
        f"serve-{prefix.split('/')[0]}",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("ab"),
    )


async def _line(proc: asyncio.subprocess.Process, prefix: str, timeout_s: float = 60) -> str:
    """The first line of ``proc``'s output that starts with ``prefix``."""
    assert proc.stdout is not None

    async def read() -> str:
        async for raw in proc.stdout:  # type: ignore[union-attr]
            if raw.decode().startswith(prefix):
                return raw.decode().strip()
        raise AssertionError(f"the process ended without a line starting {prefix!r}")

    return await asyncio.wait_for(read(), timeout_s)


async def test_a_standby_serve_takes_over_the_api_when_the_leader_is_killed(
    pg_url: str, broker: BrokerAddress, prefix: str, tmp_path: Path
) -> None:
    first = await _serve(pg_url, broker, prefix, tmp_path / "first.log")
    second: asyncio.subprocess.Process | None = None
    try:
        await _line(first, "serving on ")
        second = await _serve(pg_url, broker, prefix, tmp_path / "second.log")
        assert await _line(second, "standby:") == STANDBY_LINE
        first.kill()
        await first.wait()
        taken = await _line(second, "serving on ")
        url = taken.split()[2]
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{url}/health", timeout=10)
        assert health.status_code == 200, health.text
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 30)
    assert second.returncode == 0
