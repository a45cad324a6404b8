"""What the commands that open the store share: the ``--db`` option and the mapping of store
errors to a one-line message and exit status 1."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dispatch.store import StoreError
from dispatch.store.engine import StoreConfigError

DB_HELP = "database URL (default: $DATABASE_URL, $DRONEDISPATCH_DB or sqlite+aiosqlite:///dronedispatch.db)"


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--db URL``; left unset, the store reads ``$DATABASE_URL``/``$DRONEDISPATCH_DB`` itself."""
    parser.add_argument("--db", metavar="URL", help=DB_HELP)


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
    except (StoreError, StoreConfigError, SQLAlchemyError, *extra_errors) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
