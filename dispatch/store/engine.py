"""Database URLs, engine set-up (SQLite pragmas and locking, PostgreSQL schema) and migrations.

Supported URLs:

* ``sqlite+aiosqlite:///path/to/file.db`` (``sqlite:///...`` is accepted and means the same);
  the default is :data:`DEFAULT_URL`, a file in the working directory, overridable with the
  ``DATABASE_URL`` or ``DRONEDISPATCH_DB`` environment variable.
* ``postgresql+asyncpg://user@host:5432/db`` (``postgresql://`` and ``postgres://`` are accepted
  and mean the same). An optional ``?schema=NAME`` query parameter puts every table in that
  PostgreSQL schema (it must exist).

SQLite runs in WAL mode with a busy timeout and foreign keys on. Write transactions begin with
``BEGIN IMMEDIATE``: they take SQLite's single write lock up front, so two writers queue on the
busy timeout instead of failing when the second tries to upgrade a read snapshot.
"""

from __future__ import annotations

import os
import re
import time
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_URL = "sqlite+aiosqlite:///dronedispatch.db"
"""The default store: an SQLite file in the working directory."""

URL_ENVS = ("DATABASE_URL", "DRONEDISPATCH_DB")
"""Environment variables naming the store URL when none is given, the first set one wins
(``DATABASE_URL`` is the name platforms and container images set; ``DRONEDISPATCH_DB`` this
project's own)."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "dronedispatch_write"

# Any constant will do: it only has to be the same for every process migrating the same database.
_MIGRATION_LOCK_KEY = 0x64726F6E65  # "drone"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class StoreConfigError(ValueError):
    """The store URL or its options are invalid."""


def resolve_url(url: str | None) -> tuple[URL, str | None]:
    """The async SQLAlchemy URL to use and the PostgreSQL schema (if any) from a user-given URL.

    ``None`` means ``$DATABASE_URL``, else ``$DRONEDISPATCH_DB``, else :data:`DEFAULT_URL`.
    """
    raw = url or next((v for e in URL_ENVS if (v := os.environ.get(e))), None) or DEFAULT_URL
    try:
        parsed = make_url(raw)
    except ArgumentError as exc:
        raise StoreConfigError(f"invalid database URL {raw!r}: {exc}") from None
    backend, _, driver = parsed.drivername.partition("+")
    schema: str | None = None
    if backend == "sqlite":
        if driver not in ("", "aiosqlite"):
            raise StoreConfigError(f"SQLite URLs use the aiosqlite driver, got {parsed.drivername!r}")
        if not parsed.database or parsed.database == ":memory:":
            raise StoreConfigError(
                "an in-memory SQLite store would vanish with its connection; give a file path"
            )
        if "schema" in parsed.query:
            raise StoreConfigError("?schema= applies to PostgreSQL only")
        return parsed.set(drivername="sqlite+aiosqlite"), None
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "asyncpg"):
            raise StoreConfigError(f"PostgreSQL URLs use the asyncpg driver, got {parsed.drivername!r}")
        if "schema" in parsed.query:
            schema = str(parsed.query["schema"])
            if not _SCHEMA_NAME.match(schema):
                raise StoreConfigError(f"invalid PostgreSQL schema name {schema!r}")
            parsed = parsed.difference_update_query(["schema"])
        return parsed.set(drivername="postgresql+asyncpg"), schema
    raise StoreConfigError(
        f"unsupported database {parsed.drivername!r}: use sqlite+aiosqlite:///FILE or postgresql+asyncpg://..."
    )


def create_engine(url: URL, schema: str | None = None, **options: Any) -> AsyncEngine:
    """An async engine for a URL from :func:`resolve_url`, with the store's connection set-up."""
    if url.get_backend_name() == "sqlite":
        db_path = Path(str(url.database))
        if not db_path.parent.exists():
            raise StoreConfigError(f"directory {str(db_path.parent)!r} for the SQLite store does not exist")
        engine = create_async_engine(url, **options)
        _set_up_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = dict(options.pop("connect_args", {}))
    if schema is not None:
        connect_args.setdefault("server_settings", {})["search_path"] = schema
    return create_async_engine(url, connect_args=connect_args, **options)


def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode (persistent: done once per file). Switching needs an exclusive
    lock, and SQLite answers "database is locked" at once, without its busy handler, when another
    connection opening the same fresh file holds one; so retry for up to the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # the driver's OperationalError, as the async adapter raises it
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # a lock retry in the driver's thread, off the event loop


def _set_up_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); the driver's own transaction handling is off.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config() -> Config:
    """The Alembic configuration of the migrations shipped in ``dispatch/migrations``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("dispatch") / "migrations"))
    return cfg


def _upgrade(sync_conn: Connection, revision: str) -> None:
    if sync_conn.dialect.name == "postgresql":
        # Two processes opening the same fresh database must not both create the schema.
        sync_conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
    cfg = alembic_config()
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` in one transaction."""
    write_engine = engine.execution_options(**{WRITE_OPTION: True})
    async with write_engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def _current(sync_conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(sync_conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str:
    """The newest revision shipped with this version of the code."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found in dispatch/migrations")
    return head
