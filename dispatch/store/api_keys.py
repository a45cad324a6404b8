"""API keys: only the sha256 of each token is stored; the token itself is shown once, at creation.

Tokens look like ``dd_<key id>_<secret>``; the key id is public (listing, revoking), the secret is
32 random bytes from ``secrets``.

A key's times (``created_at``, ``last_used_at``, ``revoked_at``) are wall-clock UTC, whatever clock
the store runs on: keys are managed by people in real time, also next to a simulated service
clock (``serve --clock-speed``), and one listing must not mix the two time bases.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from dispatch.store.audit_log import append_entry
from dispatch.store.database import Database, utc_now
from dispatch.store.errors import InvalidInput, NotFound
from dispatch.store.models import API_KEY_ROLES, ApiKeyRow, Office
from dispatch.store.views import ApiKeyView, NewApiKey

ENTITY = "api_key"
# last_used_at is bookkeeping, not security: refreshing it at most once a minute keeps every
# authenticated API call from being a database write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def token_sha256(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_view(row: ApiKeyRow) -> ApiKeyView:
    """The immutable view of a stored key (never the token)."""
    return ApiKeyView(
        id=row.id,
        role=row.role,
        office_id=row.office_id,
        label=row.label,
        revoked=row.revoked,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class ApiKeyRepository:
    """Create, verify, list and revoke API keys."""

    def __init__(self, db: Database, *, wall: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._wall = wall  # wall-clock UTC, never the store's (possibly simulated) clock

    async def create(
        self, role: str, *, actor: str, office_id: str | None = None, label: str = ""
    ) -> NewApiKey:
        """Create a key; the returned ``token`` is the only time it is ever available.

        ``office`` keys need an existing ``office_id``; ``operator`` and ``admin`` keys take none.
        """
        if role not in API_KEY_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(API_KEY_ROLES)}, got {role!r}")
        if (role == "office") != (office_id is not None):
            raise InvalidInput("office keys need an office_id; operator and admin keys must not have one")
        key_id = secrets.token_hex(6)
        token = f"dd_{key_id}_{secrets.token_urlsafe(32)}"
        async with self._db.write() as session:
            if office_id is not None and await session.get(Office, office_id) is None:
                raise InvalidInput(f"unknown office {office_id!r}")
            session.add(
                ApiKeyRow(
                    id=key_id,
                    token_sha256=token_sha256(token),
                    role=role,
                    office_id=office_id,
                    label=label,
                    revoked=False,
                    created_at=self._wall(),
                )
            )
            await session.flush()
            await append_entry(
                session,
                self._db,
                entity=ENTITY,
                entity_id=key_id,
                action="created",
                actor=actor,
                payload={"role": role, "office_id": office_id, "label": label},
            )
        return NewApiKey(id=key_id, token=token, role=role, office_id=office_id)

    async def verify(self, token: str) -> ApiKeyView | None:
        """The key a token belongs to, or ``None`` if unknown or revoked; refreshes ``last_used_at``."""
        digest = token_sha256(token)
        async with self._db.read() as session:
            row = (
                await session.execute(select(ApiKeyRow).where(ApiKeyRow.token_sha256 == digest))
            ).scalar_one_or_none()
            if row is None or row.revoked:
                return None
            now = self._wall()
            if row.last_used_at is not None and timedelta(0) <= now - row.last_used_at < LAST_USED_RESOLUTION:
                return key_view(row)
        async with self._db.write() as session:
            row = await session.get(ApiKeyRow, row.id, populate_existing=True)
            if row is None or row.revoked:
                return None
            row.last_used_at = now
            return key_view(row)

    async def revoke(self, key_id: str, *, actor: str) -> ApiKeyView:
        """Revoke a key (idempotent: revoking a revoked key changes nothing)."""
        async with self._db.write() as session:
            row = await session.get(ApiKeyRow, key_id, with_for_update=True, populate_existing=True)
            if row is None:
                raise NotFound(f"no API key {key_id!r}")
            if not row.revoked:
                row.revoked, row.revoked_at = True, self._wall()
                await append_entry(
                    session,
                    self._db,
                    entity=ENTITY,
                    entity_id=key_id,
                    action="revoked",
                    actor=actor,
                    payload={},
                )
            return key_view(row)

    async def list(self) -> list[ApiKeyView]:
        """Every key, oldest first."""
        async with self._db.read() as session:
            rows = await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))
            return [key_view(r) for r in rows]
