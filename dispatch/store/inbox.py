"""The event inbox: drone events written before the broker hears they were received.

MQTT hands an event to one client of a session, and that client's acknowledgement (PUBACK) is
the broker's licence to forget it. A dispatcher that acknowledged an event and was killed before
it handled it would lose it for good (a hand-over nobody records, a document "still on board" at
landing). So the dispatcher's link acknowledges an event only once :meth:`EventInbox.record` has
written it here, the dispatcher deletes it with :meth:`EventInbox.handled` once handled, and a
process that starts (a restart, a standby taking over) replays :meth:`EventInbox.pending` first.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dispatch.store.database import Database
from dispatch.store.models import EventInboxRow

# Rows per statement: SQLite takes at most 32,766 bind parameters (6 per row on insert).
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """One received event: its drone, its ``msg_id``, its body as received and when."""

    drone_id: str
    msg_id: str
    body: str
    received_at: datetime


class EventInbox:
    """Record, list and clear the events of one MQTT session (table ``event_inbox``)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._seq = itertools.count()

    async def record(self, session: str, events: Sequence[InboxEvent]) -> None:
        """Write the events of ``session`` (one transaction); an event already there is kept as is."""
        if not events:
            return
        table = EventInboxRow.__table__
        assert isinstance(table, Table)  # a mapped class's __table__ is typed as any FromClause
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        rows = [
            {
                "session": session,
                "drone_id": e.drone_id,
                "msg_id": e.msg_id,
                "body": e.body,
                "received_at": e.received_at,
                "seq": next(self._seq),
            }
            for e in events
        ]
        async with self._db.write() as session_:
            for i in range(0, len(rows), _CHUNK):
                stmt = insert(table).values(rows[i : i + _CHUNK]).on_conflict_do_nothing()
                await session_.execute(stmt)

    async def pending(self, session: str) -> list[InboxEvent]:
        """The events of ``session`` not yet handled, in the order they were received."""
        t = EventInboxRow.__table__.c
        query = (
            select(t.drone_id, t.msg_id, t.body, t.received_at)
            .where(t.session == session)
            .order_by(t.received_at, t.seq)
        )
        async with self._db.read() as s:
            return [InboxEvent(*row) for row in await s.execute(query)]

    async def handled(self, session: str, keys: Sequence[tuple[str, str]]) -> None:
        """Delete the events ``(drone_id, msg_id)`` of ``session``: they are handled."""
        if not keys:
            return
        t = EventInboxRow.__table__.c
        async with self._db.write() as s:
            for i in range(0, len(keys), _CHUNK):
                chunk = list(keys[i : i + _CHUNK])
                await s.execute(
                    delete(EventInboxRow).where(t.session == session, tuple_(t.drone_id, t.msg_id).in_(chunk))
                )
