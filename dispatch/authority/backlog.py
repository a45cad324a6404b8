"""The reports not yet delivered: a bounded, ordered backlog in a SQLite file.

Enqueueing is one small insert (WAL, ``synchronous=NORMAL``: tens of microseconds, no fsync per
report), so the dispatcher's event loop only enqueues. Reports survive a restart of the process;
an operating-system crash may lose the last few. Past ``max_reports`` the oldest *position*
reports are dropped (and counted); flight plans and closures are never dropped, so the backlog may
exceed its bound by the plans and closures it holds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NEVER_DROPPED = ("flight_plan", "flight_closed")


@dataclass(frozen=True, slots=True)
class Pending:
    """One undelivered report: its order, key, kind, body and when it was enqueued (POSIX s)."""

    seq: int
    key: str
    kind: str
    body: dict[str, Any]
    enqueued: float


class Backlog:
    """Reports waiting for delivery, oldest first, in ``path`` (":memory:" for none on disk)."""

    def __init__(self, path: str | Path, max_reports: int = 100_000) -> None:
        self.path = str(path)
        self.max_reports = max_reports
        self.dropped = 0  # position reports dropped past the bound since this process started
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS reports (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " key TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, enqueued REAL NOT NULL)"
        )
        self._count = int(self._db.execute("SELECT count(*) FROM reports").fetchone()[0])

    def __len__(self) -> int:
        return self._count

    def put(self, body: dict[str, Any]) -> None:
        """Append a report (its ``report_id`` is its key, its ``type`` its kind); past the bound,
        drop the oldest position reports."""
        self._db.execute(
            "INSERT INTO reports (key, kind, body, enqueued) VALUES (?, ?, ?, ?)",
            (body["report_id"], body["type"], json.dumps(body, separators=(",", ":")), time.time()),
        )
        self._count += 1
        if self._count > self.max_reports:
            excess = self._count - self.max_reports
            cur = self._db.execute(
                "DELETE FROM reports WHERE seq IN (SELECT seq FROM reports WHERE kind NOT IN (?, ?)"
                " ORDER BY seq LIMIT ?)",
                (*NEVER_DROPPED, excess),
            )
            self._count -= cur.rowcount
            self.dropped += cur.rowcount

    def first(self) -> Pending | None:
        """The oldest undelivered report, if any."""
        row = self._db.execute(
            "SELECT seq, key, kind, body, enqueued FROM reports ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return Pending(row[0], row[1], row[2], json.loads(row[3]), row[4])

    def done(self, seq: int) -> None:
        """Forget a delivered report."""
        cur = self._db.execute("DELETE FROM reports WHERE seq = ?", (seq,))
        self._count -= cur.rowcount

    def close(self) -> None:
        """Close the file (what is in it stays for the next start)."""
        self._db.close()
