"""Migrations, URLs, SQLite settings and the `db` command, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from dispatch import cli
from dispatch.store import NotFound, Store, StoreConfigError, StoreError, open_store
from dispatch.store.directory import load_pads
from dispatch.store.engine import create_engine, current_revision, head_revision, resolve_url
from dispatch.store.models import Base
from fleet.description import WeatherLimits, load_fleet
from tests.db_fixtures import EXAMPLES


def _diff(conn: Connection) -> list[Any]:
    diff: list[Any] = compare_metadata(
        MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
    )
    return diff


async def test_migrations_from_empty_create_exactly_the_models(db_url: str) -> None:
    engine = create_engine(*resolve_url(db_url))
    try:
        assert await current_revision(engine) is None
        store = await open_store(db_url)
        await store.close()
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            head = (await conn.execute(text("SELECT id, seq, hash FROM audit_head"))).all()
        assert [tuple(r) for r in head] == [(1, 0, "0" * 64)]
    finally:
        await engine.dispose()


async def test_reopening_is_a_no_op_and_an_unmigrated_database_is_refused(db_url: str) -> None:
    with pytest.raises(StoreError, match="run `dronedispatch db upgrade`"):
        await open_store(db_url, migrate=False)
    for _ in range(2):
        store = await open_store(db_url)
        await store.close()
    store = await open_store(db_url, migrate=False)
    assert (await store.verify_audit()).count == 0
    await store.close()


async def test_concurrent_opens_of_a_fresh_database_migrate_once(db_url: str) -> None:
    stores = await asyncio.gather(*(open_store(db_url) for _ in range(3)))
    for store in stores:
        await store.close()
    engine = create_engine(*resolve_url(db_url))
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_db_commands_upgrade_and_seed(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def run(*args: str) -> int:
        return await asyncio.to_thread(cli.main, ["db", *args, "--db", db_url])

    assert await run("current") == 0
    assert "database: (empty)" in capsys.readouterr().out
    assert await run("upgrade") == 0
    assert f"to {head_revision()}" in capsys.readouterr().out
    assert await run("upgrade") == 0
    assert "already at revision" in capsys.readouterr().out
    seed = ["seed", "--fleet", str(EXAMPLES / "fleet.json"), "--pads", str(EXAMPLES / "pads.json")]
    assert await run(*seed) == 0
    assert "16 offices, 16 pads, 2 drone models, 3 ports, 6 drones" in capsys.readouterr().out
    assert await run(*seed) == 0  # seeding again updates in place
    store = await open_store(db_url, migrate=False)
    try:
        fleet = await store.directory.fleet()
        assert sorted(d.id for d in fleet.drones) == ["D01", "D02", "D03", "D04", "D05", "D06"]
        assert fleet.model_of(fleet.drones[0]).battery_wh == 350
        offices = await store.directory.offices()
        assert offices[0].id == offices[0].pad_id
        assert (await store.directory.pad("intermediate-court")).lat == 36.1005
        report = await store.verify_audit()
        assert report.ok and report.count == 2
    finally:
        await store.close()


async def test_the_stored_fleet_keeps_cruise_layers_landing_spots_and_model_options(store: Store) -> None:
    fleet = load_fleet(EXAMPLES / "fleet.json")
    ports = tuple(replace(p, landing_spots=3) if k == 0 else p for k, p in enumerate(fleet.ports))
    first, *rest = fleet.models.values()
    rated = replace(first, weather=WeatherLimits(max_wind_mps=9.0, max_precip_mm_h=0.0), climb_rate_mps=2.5)
    fleet = replace(fleet, ports=ports, models={m.name: m for m in (rated, *rest)})
    assert any(m.cruise_altitudes_m for m in fleet.models.values())
    await store.directory.seed(fleet, load_pads(EXAMPLES / "pads.json"), actor="test")
    stored = await store.directory.fleet()
    # The area's time zone is the seed directory's (serve reads it there), not the store's.
    assert stored.to_dict() == {k: v for k, v in fleet.to_dict().items() if k != "timezone"}
    assert stored.ports[0].landing_spots == 3
    assert {n: m.layers for n, m in stored.models.items()} == {n: m.layers for n, m in fleet.models.items()}
    assert stored.models == fleet.models  # the optional fields too (weather limits, climb)


async def test_db_seed_with_an_offices_file(db_url: str, tmp_path: Path) -> None:
    offices = tmp_path / "offices.json"
    offices.write_text(
        '{"anyang-city": {"name": "Anyang Service Centre", "pad": "service-centre"}}', encoding="utf-8"
    )
    args = ["db", "seed", "--fleet", str(EXAMPLES / "fleet.json"), "--pads", str(EXAMPLES / "pads.json")]
    assert await asyncio.to_thread(cli.main, [*args, "--offices", str(offices), "--db", db_url]) == 0
    store = await open_store(db_url)
    try:
        assert [(o.id, o.name, o.pad_id) for o in await store.directory.offices()] == [
            ("anyang-city", "Anyang Service Centre", "service-centre")
        ]
        assert len(await store.directory.pads()) == 16
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"pads.json": '{"p": {"lon": 200, "lat": 1}}'}, "pad 'p': lon 200 out of range"),
        ({"pads.json": '{"p": {"lon": 1}}'}, "pad 'p': lat must be a finite number"),
        ({"pads.json": "[1, 2"}, "invalid JSON"),
        ({"offices.json": '{"o": {"name": "O", "pad": "nowhere"}}'}, "pad 'nowhere' is not among the pads"),
    ],
)
def test_db_seed_names_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], message: str
) -> None:
    pads = tmp_path / "pads.json"
    pads.write_text('{"p": {"lon": 114.34, "lat": 36.11}}', encoding="utf-8")
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    args = ["db", "seed", "--fleet", str(EXAMPLES / "fleet.json"), "--pads", str(pads)]
    if "offices.json" in files:
        args += ["--offices", str(tmp_path / "offices.json")]
    assert cli.main([*args, "--db", f"sqlite:///{tmp_path}/s.db"]) == 1
    assert message in capsys.readouterr().err


def test_db_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["db"]) == 2
    assert cli.main(["db", "seed", "--pads", "x"]) == 2
    assert (
        cli.main(
            ["db", "seed", "--fleet", "missing.json", "--pads", "x", "--db", f"sqlite:///{tmp_path}/s.db"]
        )
        == 1
    )
    assert "missing.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported database"),
        ("sqlite+pysqlite:///x.db", "aiosqlite driver"),
        ("sqlite+aiosqlite://", "give a file path"),
        ("sqlite+aiosqlite:///:memory:", "give a file path"),
        ("postgresql+psycopg://u@h/db", "asyncpg driver"),
        ("postgresql://u@h/db?schema=bad;drop", "invalid PostgreSQL schema"),
        ("sqlite:///x.db?schema=s", "PostgreSQL only"),
        ("not a url", "invalid database URL"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        resolve_url(url)


def test_url_defaults_and_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DRONEDISPATCH_DB", raising=False)
    url, schema = resolve_url(None)
    assert str(url) == "sqlite+aiosqlite:///dronedispatch.db" and schema is None
    monkeypatch.setenv("DRONEDISPATCH_DB", "postgres://u@h/db?schema=dd")
    url, schema = resolve_url(None)
    assert url.drivername == "postgresql+asyncpg" and url.database == "db" and schema == "dd"
    assert "schema" not in url.query
    # DATABASE_URL, as platforms set it, comes first; an explicit URL before either.
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/other")
    assert resolve_url(None)[0].database == "other"
    assert resolve_url("sqlite:///x.db")[0].database == "x.db"


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/wal.db")
    try:
        async with store.db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert ((await conn.execute(text("PRAGMA busy_timeout"))).scalar() or 0) >= 1000
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await store.close()


async def test_a_missing_sqlite_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreConfigError, match="does not exist"):
        await open_store(f"sqlite:///{tmp_path}/nope/x.db")


async def test_default_store_is_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DRONEDISPATCH_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    store = await open_store(None)
    try:
        assert store.dialect == "sqlite"
        with pytest.raises(NotFound, match="run `dronedispatch db seed`"):
            await store.directory.fleet()
    finally:
        await store.close()
    assert (tmp_path / "dronedispatch.db").is_file()
