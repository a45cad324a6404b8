"""Appending to and verifying the audit chain stored in ``audit_entries`` / ``audit_head``.

Appends lock the single ``audit_head`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
the write transaction already holds the database's write lock), so concurrent writers queue and
the chain never forks. An entry is appended in the same transaction as the change it records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.audit import (
    AuditRecord,
    CanonicalFormError,
    ChainReport,
    ChainVerifier,
    canonical_json,
    entry_hash,
)
from dispatch.store.database import Database
from dispatch.store.errors import InvalidInput, StoreError
from dispatch.store.models import AuditEntryRow, AuditHeadRow
from dispatch.store.views import AuditEntry

_PAGE = 1000
UNPARSEABLE = "<unparseable payload>"
"""The payload key under which an entry's text that does not parse as JSON is read back."""


async def append_entry(
    session: AsyncSession,
    db: Database,
    *,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    payload: dict[str, Any],
) -> AuditEntryRow:
    """Append one entry to the chain inside the caller's write transaction."""
    if not actor:
        raise InvalidInput("an audit entry needs an actor (who made the change)")
    head = (
        await session.execute(
            select(AuditHeadRow)
            .where(AuditHeadRow.id == 1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    try:
        text = canonical_json(payload)
    except CanonicalFormError as exc:
        raise InvalidInput(f"{entity} {entity_id}: cannot record {action}: {exc}") from None
    at = db.now()
    seq = head.seq + 1
    digest = entry_hash(
        seq=seq,
        at=at,
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor=actor,
        payload=json.loads(text),
        prev_hash=head.hash,
    )
    row = AuditEntryRow(
        seq=seq,
        at=at,
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor=actor,
        payload=text,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(row)
    head.seq, head.hash = seq, digest
    await session.flush()
    return row


def _entry(row: AuditEntryRow, payload: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        entity=row.entity,
        entity_id=row.entity_id,
        action=row.action,
        actor=row.actor,
        payload=payload,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def entry_view(row: AuditEntryRow) -> AuditEntry:
    """The immutable view of a stored entry."""
    return _entry(row, json.loads(row.payload))


async def entries_for(session: AsyncSession, entity: str, entity_id: str) -> tuple[AuditEntry, ...]:
    """Every entry about one entity, oldest first."""
    rows = await session.scalars(
        select(AuditEntryRow)
        .where(AuditEntryRow.entity == entity, AuditEntryRow.entity_id == entity_id)
        .order_by(AuditEntryRow.seq)
    )
    return tuple(entry_view(r) for r in rows)


async def last_seq(db: Database) -> int:
    """The number of the chain's last entry (0 when empty)."""
    async with db.read() as session:
        return int((await session.scalar(select(func.max(AuditEntryRow.seq)))) or 0)


async def entries_after(db: Database, seq: int, limit: int = _PAGE) -> tuple[AuditEntry, ...]:
    """The entries numbered after ``seq``, oldest first, at most ``limit``. An entry whose payload
    does not parse (altered in the database) comes with the payload ``{UNPARSEABLE: text}``."""
    async with db.read() as session:
        rows = await session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.seq > seq).order_by(AuditEntryRow.seq).limit(limit)
        )
        return tuple(_record(row) for row in rows)


def _record(row: AuditEntryRow) -> AuditRecord:
    try:
        payload = json.loads(row.payload)
    except json.JSONDecodeError:
        # Unparseable text cannot match its hash; verify_chain reports it as altered.
        payload = {UNPARSEABLE: row.payload}
    return _entry(row, payload)


async def verify(db: Database, anchors: Mapping[int, str] | None = None) -> ChainReport:
    """Recompute the whole chain in one snapshot, a page at a time, and report the first broken entry.

    ``anchors``: {entry number: hash} saved earlier outside the database (see ``ChainVerifier``).
    """
    verifier = ChainVerifier(anchors)
    async with db.read() as session:
        head = (await session.execute(select(AuditHeadRow.seq, AuditHeadRow.hash))).one_or_none()
        if head is None:
            raise StoreError("the audit_head row is missing: the chain head cannot be checked")
        last: int | None = None
        while True:
            query = select(AuditEntryRow).order_by(AuditEntryRow.seq).limit(_PAGE)
            if last is not None:
                query = query.where(AuditEntryRow.seq > last)
            page = list(await session.scalars(query))
            for row in page:
                broken = verifier.add(_record(row))
                if broken is not None:
                    return broken
            session.expunge_all()
            if len(page) < _PAGE:
                break
            last = page[-1].seq
    return verifier.finish(expected_head=(head.seq, head.hash))
