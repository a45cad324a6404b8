"""What the commands that open the store share: the ``--db`` option and the mapping of store
errors to a one-line message and exit status 1."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dispatch.store import StoreError
from dispatch.store.engine import URL_ENVS, StoreConfigError, resolve_url

DB_HELP = "database URL (default: $DATABASE_URL, $DRONEDISPATCH_DB or sqlite+aiosqlite:///dronedispatch.db)"


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--db URL``; left unset, the store reads ``$DATABASE_URL``/``$DRONEDISPATCH_DB`` itself."""
    parser.add_argument("--db", metavar="URL", help=DB_HELP)


def database_in_use(db: str | None) -> str:
    """Which database ``--db`` (or its absence) means, and why, for people: ``URL (from ...)``.

    A SQLite file is named by its absolute path; a password, if any, is masked. Raises
    :class:`StoreConfigError` for an invalid URL.
    """
    if db:
        source = "--db"
    else:
        source = next((f"${e}" for e in URL_ENVS if os.environ.get(e)), None) or (
            f"the default: no --db, {' or '.join('$' + e for e in URL_ENVS)}"
        )
    url, _ = resolve_url(db)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database:
        shown += f" = file {os.path.abspath(url.database)}"
    return f"{shown} (from {source})"


NO_OFFICES_HINT = (
    "this database has no offices: is it the service's? pass --db URL or set $DATABASE_URL"
    " (the one 'dronedispatch serve' uses)"
)


def run_store_command(
    prog: str, work: Coroutine[Any, Any, int], extra_errors: tuple[type[Exception], ...] = ()
) -> int:
    """Run ``work`` to completion; a database that cannot be reached, a bad URL or a store error
    (and any of ``extra_errors``) prints ``PROG: error: ...`` on stderr and returns 1."""
    try:
        return asyncio.run(work)
    except OSError as exc:
        print(f"{prog}: error: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    except (StoreError, StoreConfigError, SQLAlchemyError, *extra_errors) as exc:  # type: ignore[misc]  # mypy cannot type a starred tuple of exception classes
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
