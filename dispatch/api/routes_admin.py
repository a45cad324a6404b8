"""``/api/v1/keys`` (admins) and ``/api/v1/audit/verify`` (operators and admins)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from dispatch.api.auth import ADMIN_ONLY, STAFF_ONLY, principal_of
from dispatch.api.routes_fleet import ERRORS
from dispatch.api.routes_requests import ctx_of
from dispatch.api.schemas import AuditReport, KeyIn, KeyOut, NewKeyOut
from dispatch.store import ApiKeyView


def key_out(k: ApiKeyView) -> KeyOut:
    """A stored key as a response body (never the token)."""
    return KeyOut(k.id, k.role, k.office_id, k.label, k.revoked, k.created_at, k.last_used_at, k.revoked_at)


@get("/keys", guards=[ADMIN_ONLY], summary="API keys", responses=ERRORS)
async def list_keys(state: State) -> list[KeyOut]:
    """Every key, oldest first (no tokens)."""
    return [key_out(k) for k in await ctx_of(state).store.api_keys.list()]


@post("/keys", guards=[ADMIN_ONLY], status_code=201, summary="Create an API key", responses=ERRORS)
async def create_key(request: Request[Any, Any, Any], state: State, data: JSONBody[KeyIn]) -> NewKeyOut:
    """Create a key; the token is in this response only."""
    new = await ctx_of(state).store.api_keys.create(
        data.role, actor=principal_of(request).actor, office_id=data.office_id, label=data.label
    )
    return NewKeyOut(new.id, new.role, new.office_id, new.token)


@delete(
    "/keys/{key_id:str}", guards=[ADMIN_ONLY], status_code=200, summary="Revoke an API key", responses=ERRORS
)
async def revoke_key(request: Request[Any, Any, Any], state: State, key_id: FromPath[str]) -> KeyOut:
    """Revoke a key at once (idempotent)."""
    return key_out(await ctx_of(state).store.api_keys.revoke(key_id, actor=principal_of(request).actor))


@get("/audit/verify", guards=[STAFF_ONLY], summary="Verify the audit chain", responses=ERRORS)
async def verify_audit(state: State) -> AuditReport:
    """Recompute the chain of custody: ok with the head, or the first broken entry and why."""
    r = await ctx_of(state).store.verify_audit()
    return AuditReport(r.ok, r.count, f"{r.count}:{r.head_hash}", r.broken_seq, r.problem)


ROUTES = [list_keys, create_key, revoke_key, verify_audit]
