"""``dronedispatch db``: create or upgrade the schema, and seed offices, pads and the fleet.

    dronedispatch db upgrade [--db URL]
    dronedispatch db current [--db URL]
    dronedispatch db seed --fleet FLEET.json --pads PADS.json [--offices OFFICES.json] [--db URL]

``--db`` defaults to ``$DATABASE_URL``, else ``$DRONEDISPATCH_DB``, else
``sqlite+aiosqlite:///dronedispatch.db``.
"""

from __future__ import annotations

import argparse

from dispatch.commands.datum_args import add_datum_argument, fleet_to_wgs84, pads_to_wgs84
from dispatch.commands.store_args import add_db_argument, run_store_command
from dispatch.store import open_store
from dispatch.store.directory import load_offices, load_pads
from dispatch.store.engine import (
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
    up = sub.add_parser("upgrade", help="apply pending migrations (creates the schema on an empty database)")
    add_db_argument(up)
    cur = sub.add_parser("current", help="print the schema revision of the database and of this code")
    add_db_argument(cur)
    seed = sub.add_parser("seed", help="upsert offices, pads, drone models, ports and drones")
    seed.add_argument("--fleet", required=True, help="FLEET.json (models, ports, drones)")
    seed.add_argument("--pads", required=True, help="PADS.json: {pad_id: {lon, lat, name?}}")
    seed.add_argument(
        "--offices", help="OFFICES.json: {office_id: {name, pad}} (default: one office per pad, same id)"
    )
    add_datum_argument(seed)
    add_db_argument(seed)
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
    fleet = fleet_to_wgs84(load_fleet(args.fleet), args.datum)
    pads = pads_to_wgs84(load_pads(args.pads), args.datum)
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
    if args.action == "upgrade":
        work = _upgrade(args.db)
    elif args.action == "current":
        work = _current(args.db)
    else:
        work = _seed(args)
    return run_store_command("dronedispatch db", work, (FleetFormatError,))
