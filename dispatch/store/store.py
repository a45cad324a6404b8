"""The store: one object holding the engine and the repositories, opened with :func:`open_store`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from dispatch.audit import ChainReport
from dispatch.store import audit_log
from dispatch.store.api_keys import ApiKeyRepository
from dispatch.store.database import Database, utc_now
from dispatch.store.directory import DirectoryRepository
from dispatch.store.engine import create_engine, current_revision, head_revision, resolve_url, upgrade
from dispatch.store.errors import StoreError
from dispatch.store.flights import FlightRepository
from dispatch.store.inbox import EventInbox
from dispatch.store.positions import PositionRepository
from dispatch.store.requests import RequestRepository
from dispatch.store.views import AuditEntry
from dispatch.store.zones import ZoneRepository


class Store:
    """The persistent store: requests, flights, zones, API keys, the directory, the audit chain and
    the fleet view (``positions``) and the event inbox (``inbox``).

    Every method opens its own short transaction; a state change and its audit entry always
    commit together. Close with :meth:`close` (or use ``async with``).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.requests = RequestRepository(db)
        self.flights = FlightRepository(db)
        self.zones = ZoneRepository(db)
        self.api_keys = ApiKeyRepository(db)
        self.directory = DirectoryRepository(db)
        self.positions = PositionRepository(db)
        self.inbox = EventInbox(db)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect

    async def verify_audit(self, anchors: Mapping[int, str] | None = None) -> ChainReport:
        """Recompute the audit chain and report the first broken entry (or the count and head hash).

        ``anchors``: {entry number: hash} kept outside the database, e.g. heads printed earlier.
        """
        return await audit_log.verify(self.db, anchors)

    async def history(self, entity: str, entity_id: str) -> tuple[AuditEntry, ...]:
        """Every audit entry about one entity (request, flight, zone, api_key), oldest first."""
        async with self.db.read() as session:
            return await audit_log.entries_for(session, entity, entity_id)

    async def audit_last_seq(self) -> int:
        """The number of the audit chain's last entry (0 when empty)."""
        return await audit_log.last_seq(self.db)

    async def audit_after(self, seq: int, limit: int = 1000) -> tuple[AuditEntry, ...]:
        """The audit entries numbered after ``seq``, oldest first, at most ``limit`` (an entry altered
        into text that does not parse has the payload ``{audit_log.UNPARSEABLE: text}``)."""
        return await audit_log.entries_after(self.db, seq, limit)

    async def note(
        self, entity: str, entity_id: str, action: str, *, actor: str, payload: dict[str, Any]
    ) -> AuditEntry:
        """Append an audit entry recording a fact that changes no state (a refused hand-over code,
        a re-route of a flight in the air), in its own transaction."""
        async with self.db.write() as session:
            row = await audit_log.append_entry(
                session,
                self.db,
                entity=entity,
                entity_id=entity_id,
                action=action,
                actor=actor,
                payload=payload,
            )
            return audit_log.entry_view(row)

    async def close(self) -> None:
        """Release every connection."""
        await self.db.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def open_store(
    url: str | None = None, *, migrate: bool = True, now: Callable[[], datetime] = utc_now
) -> Store:
    """Open the store at ``url`` (default: ``$DATABASE_URL``, ``$DRONEDISPATCH_DB`` or the SQLite file).

    With ``migrate`` (the default) pending migrations are applied first; without it, a database
    that is not at the newest revision is refused with a message saying to run
    ``dronedispatch db upgrade``. ``now`` is the clock every stored timestamp is read from.
    """
    engine = create_engine(*resolve_url(url))
    try:
        if migrate:
            await upgrade(engine)
        else:
            current, head = await current_revision(engine), head_revision()
            if current != head:
                raise StoreError(
                    f"the database is at revision {current or '(empty)'} but this code needs {head}:"
                    " run `dronedispatch db upgrade`"
                )
    except BaseException:
        await engine.dispose()
        raise
    return Store(Database(engine, now))
