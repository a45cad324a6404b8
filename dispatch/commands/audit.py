"""``dronedispatch audit verify``: recompute the chain-of-custody hash chain.

    dronedispatch audit verify [--db URL] [--anchor SEQ:HASH ...]

Exit 0 and print the entry count and head hash when every entry verifies; exit 1 and name the
first broken entry otherwise (or when the database cannot be read). An anchor is an entry number
and hash printed by an earlier run and kept elsewhere: if the chain was rewritten and re-hashed
from before it, the anchor no longer matches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dispatch.commands.store_args import add_db_argument, run_store_command
from dispatch.store import StoreError, open_store
from dispatch.store.engine import resolve_url


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dronedispatch audit", description=__doc__.split("\n\n")[0].replace("``", "")
    )
    sub = parser.add_subparsers(dest="action", required=True)
    verify = sub.add_parser("verify", help="recompute the chain; name the first broken entry")
    add_db_argument(verify)
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        type=_anchor,
        metavar="SEQ:HASH",
        help="an entry number and its hash from an earlier run (repeatable)",
    )
    return parser


def _anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if (
        not seq.isdigit()
        or int(seq) < 1
        or len(digest) != 64
        or not all(c in "0123456789abcdef" for c in digest)
    ):
        raise argparse.ArgumentTypeError(f"expected SEQ:HASH (entry number, 64 hex digits), got {text!r}")
    return int(seq), digest


async def _verify(url: str | None, anchors: dict[int, str]) -> int:
    resolved, _ = resolve_url(url)
    if resolved.get_backend_name() == "sqlite" and not Path(str(resolved.database)).is_file():
        # Opening would create an empty database; verifying nothing must not look like success.
        raise StoreError(f"no database file at {resolved.database}")
    async with await open_store(url, migrate=False) as store:
        report = await store.verify_audit(anchors)
    if report.ok:
        noun = "entry" if report.count == 1 else "entries"
        print(f"audit chain OK: {report.count} {noun}, head {report.count}:{report.head_hash}")
        return 0
    where = f"entry {report.broken_seq}" if report.broken_seq is not None else "the chain head"
    print(f"audit chain BROKEN at {where}: {report.problem}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    """Run ``dronedispatch audit``; return the exit status (0 intact, 1 broken or error, 2 usage)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return run_store_command("dronedispatch audit", _verify(args.db, dict(args.anchor)))
