"""``dronedispatch db``: create or upgrade the schema, and seed offices, pads and the fleet.

    dronedispatch db upgrade [--db URL]
    dronedispatch db current [--db URL]
    dronedispatch db seed --fleet FLEET.json --pads PADS.json [--offices OFFICES.json] [--db URL]

``--db`` defaults to ``$DRONEDISPATCH_DB``, else ``sqlite+aiosqlite:///dronedispatch.db``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy.exc import SQLAlchemyError

from dispatch.store import StoreError, open_store
from dispatch.store.directory import load_offices, load_pads
from dispatch.store.engine import (
    StoreConfigError,
    create_engine,
    current_revision,
    head_revision,
    resolve_url,
    upgrade,
)
from fleet.description import FleetFormatError, load_fleet


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dronedispatch db", description=__doc__.split("\n\n")[0].replace("``", "")
    )
    sub = parser.add_subparsers(dest="action", required=True)
    db_help = "database URL (default: $DRONEDISPATCH_DB or sqlite+aiosqlite:///dronedispatch.db)"
    up = sub.add_parser("upgrade", help="apply pending migrations (creates the schema on an empty database)")
    up.add_argument("--db", help=db_help)
    cur = sub.add_parser("current", help="print the schema revision of the database and of this code")
    cur.add_argument("--db", help=db_help)
    seed = sub.add_parser("seed", help="upsert offices, pads, drone models, ports and drones")
    seed.add_argument("--fleet", required=True, help="FLEET.json (models, ports, drones)")
    seed.add_argument("--pads", required=True, help="PADS.json: {pad_id: {lon, lat, name?}}")
    seed.add_argument(
        "--offices", help="OFFICES.json: {office_id: {name, pad}} (default: one office per pad, same id)"
    )
    seed.add_argument("--db", help=db_help)
    return parser


async def _upgrade(url: str | None) -> int:
    engine = create_engine(*resolve_url(url))
    try:
        before = await current_revision(engine)
        await upgrade(engine)
        after = await current_revision(engine)
    finally:
        await engine.dispose()
    if before == after:
        print(f"database already at revision {after}")
    else:
        print(f"database upgraded from {before or '(empty)'} to {after}")
    return 0


async def _current(url: str | None) -> int:
    engine = create_engine(*resolve_url(url))
    try:
        current = await current_revision(engine)
    finally:
        await engine.dispose()
    head = head_revision()
    print(
        f"database: {current or '(empty)'}; code: {head}" + ("" if current == head else " (run `db upgrade`)")
    )
    return 0


async def _seed(args: argparse.Namespace) -> int:
    fleet = load_fleet(args.fleet)
    pads = load_pads(args.pads)
    offices = load_offices(args.offices, set(pads)) if args.offices else None
    async with await open_store(args.db) as store:
        summary = await store.directory.seed(fleet, pads, offices, actor="cli:db seed")
    print(
        f"seeded {summary.offices} offices, {summary.pads} pads, {summary.models} drone models,"
        f" {summary.ports} ports, {summary.drones} drones"
    )
    return 0


def main(argv: list[str]) -> int:
    """Run ``dronedispatch db``; return the exit status (0 ok, 1 error, 2 usage)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.action == "upgrade":
            return asyncio.run(_upgrade(args.db))
        if args.action == "current":
            return asyncio.run(_current(args.db))
        return asyncio.run(_seed(args))
    except OSError as exc:
        print(f"dronedispatch db: error: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    except (StoreError, StoreConfigError, SQLAlchemyError, FleetFormatError) as exc:
        print(f"dronedispatch db: error: {exc}", file=sys.stderr)
        return 1
