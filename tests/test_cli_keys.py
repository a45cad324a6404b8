"""``dronedispatch keys``: it says which database it used, hints at ``--db`` when an office is
unknown because the database has none, and lists key times on one time base (wall-clock UTC),
also for keys used by a service running a simulated clock."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dispatch.store import open_store
from tests.conftest import REPO


async def keys(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``dronedispatch keys ARGS`` in ``cwd`` without the database variables (unless in ``env``)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DRONEDISPATCH_DB")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatch.cli",
        "keys",
        *args,
        cwd=cwd,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_keys_names_the_database_it_used_and_hints_at_db_for_an_unknown_office(tmp_path: Path) -> None:
    status, _, err = await keys("create", "--operator", cwd=tmp_path)
    assert status == 0, err
    default_file = tmp_path / "dronedispatch.db"
    assert default_file.exists()
    assert f"database: sqlite+aiosqlite:///dronedispatch.db = file {default_file} (from the default" in err, (
        err
    )

    status, _, err = await keys("create", "--office", "service-centre", cwd=tmp_path)
    assert status == 1
    assert "unknown office 'service-centre'" in err and "has no offices" in err and "--db" in err, err

    other = tmp_path / "other.db"
    status, _, err = await keys("list", cwd=tmp_path, env={"DATABASE_URL": f"sqlite+aiosqlite:///{other}"})
    assert status == 0, err
    assert f"= file {other} (from $DATABASE_URL)" in err, err
    status, _, err = await keys("list", "--db", f"sqlite+aiosqlite:///{other}", cwd=tmp_path)
    assert status == 0 and "(from --db)" in err, err


async def test_key_times_are_wall_clock_utc_next_to_a_simulated_service_clock(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    simulated = datetime(2031, 5, 1, 9, 0, tzinfo=UTC)  # a service clock far from the wall clock
    status, token, err = await keys(
        "create", "--operator", "--label", "ops", cwd=tmp_path, env={"DATABASE_URL": url}
    )
    assert status == 0, err
    async with await open_store(url, now=lambda: simulated) as store:
        assert await store.api_keys.verify(token.strip()) is not None  # as the service does on each call
        (key,) = await store.api_keys.list()
    wall = datetime.now(UTC)
    assert key.last_used_at is not None
    for moment in (key.created_at, key.last_used_at):
        assert abs(moment - wall) < timedelta(minutes=5), (moment, wall)
    status, listing, err = await keys("list", cwd=tmp_path, env={"DATABASE_URL": url})
    assert status == 0, err
    assert "created (UTC)" in listing and "last used (UTC)" in listing, listing
    assert "2031-" not in listing, listing
