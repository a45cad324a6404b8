"""Database fixtures shared by the store and dispatcher tests: every test runs on SQLite and PostgreSQL.

Every test module has these fixtures (``pytest_plugins`` in ``tests/conftest.py``):

* ``db_url``: a fresh, empty database URL, parametrised ``sqlite`` (a file in ``tmp_path``) and
  ``postgresql`` (a new schema in the database ``$DRONEDISPATCH_TEST_PG``, default
  ``postgresql://postgres@127.0.0.1:5432/test``, dropped afterwards, so parallel runs never meet).
* ``store``: a migrated :class:`dispatch.store.Store` on ``db_url``.
* ``seeded_store``: ``store`` seeded with the Anyang sample fleet and pads (one office per pad).

PostgreSQL tests are not skipped when the server is down: they fail, naming the URL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from dispatch.store import NewRequest, Place, Store, open_store
from dispatch.store.directory import load_pads
from fleet.description import load_fleet

PG_ENV = "DRONEDISPATCH_TEST_PG"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "anyang"


def pg_base_url() -> str:
    """The PostgreSQL server the tests use (plain ``postgresql://`` form)."""
    return os.environ.get(PG_ENV, PG_DEFAULT)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_pg_schema() -> tuple[str, str]:
    """Create a uniquely named schema; return (its name, a store URL using it)."""
    name = f"dd_test_{secrets.token_hex(6)}"
    base = pg_base_url()
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(base))
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL for the tests is not reachable at {base} (set {PG_ENV}): {exc}"
        ) from exc
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    return name, make_url(base).update_query_dict({"schema": name}).render_as_string(hide_password=False)


async def drop_pg_schema(name: str) -> None:
    """Drop a schema made by :func:`create_pg_schema` and everything in it."""
    conn = await asyncpg.connect(_asyncpg_dsn(pg_base_url()))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(name="db_url", params=["sqlite", "postgresql"])
async def db_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database: an SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    name, url = await create_pg_schema()
    try:
        yield url
    finally:
        await drop_pg_schema(name)


@pytest.fixture(name="store")
async def store_fixture(db_url: str) -> AsyncIterator[Store]:
    """A migrated, empty store on each database."""
    store = await open_store(db_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(name="seeded_store")
async def seeded_store_fixture(store: Store) -> Store:
    """The store seeded with the Anyang sample: its fleet, and one office per pad."""
    fleet = load_fleet(EXAMPLES / "fleet.json")
    pads = load_pads(EXAMPLES / "pads.json")
    await store.directory.seed(fleet, pads, actor="test-seed")
    return store


# --- requests as an office files them, and the audit log's length (store tests) ---------------

AREA_TZ = timezone(timedelta(hours=8))  # Asia/Shanghai, the sample area's
SERVICE_CENTRE = Place(114.3968, 36.1043, "service-centre")
ZHANGDE_ROAD = Place(114.416, 36.1115, "zhangde-road")


def new_request(office: str = "service-centre", key: str | None = None, **changes: object) -> NewRequest:
    base: dict[str, object] = {
        "office_id": office,
        "pickup": SERVICE_CENTRE,
        "dropoff": ZHANGDE_ROAD,
        "weight_kg": 0.3,
        "priority": "urgent",
        "ready_at": datetime(2026, 12, 1, 9, 0, tzinfo=AREA_TZ),
        "deadline": datetime(2026, 12, 1, 9, 30, tzinfo=AREA_TZ),
        "description": "business licence",
        "idempotency_key": key,
    }
    base.update(changes)
    return NewRequest(**base)  # type: ignore[arg-type]


async def audit_count(store: Store) -> int:
    report = await store.verify_audit()
    assert report.ok, report.problem
    return report.count
