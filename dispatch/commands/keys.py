"""``dronedispatch keys``: create, list and revoke API keys.

::

    dronedispatch keys create (--office ID | --operator | --admin) [--label TEXT] [--db URL]
    dronedispatch keys list [--db URL]
    dronedispatch keys revoke KEY_ID [--db URL]

``create`` prints the token on the first line (it is shown this once: only its sha256 is stored),
then the key's id and role. ``--db`` defaults to ``$DATABASE_URL``, else ``$DRONEDISPATCH_DB``,
else the SQLite file ``dronedispatch.db``; every action says on standard error which database it
used. ``list`` shows wall-clock UTC times (the store keeps key times on the wall clock).
"""

from __future__ import annotations

import argparse
import sys

from dispatch.commands.store_args import NO_OFFICES_HINT, add_db_argument, database_in_use, run_store_command
from dispatch.store import InvalidInput, open_store

ACTOR = "cli:keys"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dronedispatch keys", description="Create, list and revoke API keys."
    )
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a key and print its token (shown once)")
    role = create.add_mutually_exclusive_group(required=True)
    role.add_argument(
        "--office", metavar="ID", help="a key for this office: it files and follows its own requests"
    )
    role.add_argument(
        "--operator", action="store_true", help="an operator key: fleet, flights, zones, stream"
    )
    role.add_argument(
        "--admin", action="store_true", help="an admin key: what operators do, plus offices, pads, keys"
    )
    create.add_argument("--label", default="", help="a note saying whose key it is")
    add_db_argument(create)
    lst = sub.add_parser("list", help="list the keys (never the tokens)")
    add_db_argument(lst)
    revoke = sub.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id", help="the key id (from create or list)")
    add_db_argument(revoke)
    return parser


async def _run(args: argparse.Namespace) -> int:
    print(f"database: {database_in_use(args.db)}", file=sys.stderr)
    async with await open_store(args.db) as store:
        if args.action == "create":
            role = "office" if args.office else "operator" if args.operator else "admin"
            try:
                new = await store.api_keys.create(role, actor=ACTOR, office_id=args.office, label=args.label)
            except InvalidInput as exc:
                if args.office and not await store.directory.offices():
                    raise InvalidInput(f"{exc}; {NO_OFFICES_HINT}") from exc
                raise
            print(new.token)
            office = f", office {new.office_id}" if new.office_id else ""
            print(
                f"key {new.id}: role {new.role}{office}; the token above is shown only this once",
                file=sys.stderr,
            )
        elif args.action == "list":
            keys = await store.api_keys.list()
            print(
                f"{'id':<14} {'role':<9} {'office':<20} {'state':<8} {'created (UTC)':<20}"
                f" {'last used (UTC)':<20} label"
            )
            for k in keys:
                used = k.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if k.last_used_at else "-"
                status = "revoked" if k.revoked else "active"
                print(
                    f"{k.id:<14} {k.role:<9} {k.office_id or '-':<20} {status:<8}"
                    f" {k.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {used:<20} {k.label}"
                )
        else:
            view = await store.api_keys.revoke(args.key_id, actor=ACTOR)
            print(f"key {view.id} revoked")
    return 0


def main(argv: list[str]) -> int:
    """Run ``dronedispatch keys``; exit 0 ok, 1 error (unknown office or key, database), 2 usage."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return run_store_command("dronedispatch keys", _run(args))
