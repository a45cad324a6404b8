"""Alembic environment: runs on the connection the store hands over, or on ``-x db=URL``.

SQLite needs batch mode to alter tables (``render_as_batch``); it is on for every database so a
migration written once runs on both.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from dispatch.store.engine import create_engine, resolve_url
from dispatch.store.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str | None) -> None:
    engine = create_engine(*resolve_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `dronedispatch db upgrade`")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_from_url(context.get_x_argument(as_dictionary=True).get("db")))
