"""API keys (``Authorization: Bearer <token>``), roles and the per-key rate limit.

Authentication runs as middleware on ``/api/v1`` before anything reads the body, so a request
without a valid key is a 401 whatever else is wrong with it. Roles are checked by guards:

* ``office``: files and follows its own requests (another office's request is a 404), reads pads
  and offices, asks for quotes;
* ``operator``: everything about the fleet (fleet, flights, zones, ports, the stream, every
  request without its codes, the audit check);
* ``admin``: what an operator can, plus offices, pads and API keys.
"""

from __future__ import annotations

import math
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult

from dispatch.api.context import ApiContext, Principal
from dispatch.api.errors import ApiError

ROLES = ("office", "operator", "admin")
STAFF = ("operator", "admin")


class ApiKeyMiddleware(AbstractAuthenticationMiddleware):
    """Resolve the bearer token to a :class:`Principal` (scope ``user``), then take a rate token."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """401 without a valid, unrevoked key; 429 (with ``Retry-After``) over the key's rate."""
        ctx: ApiContext = connection.app.state.ctx
        header = connection.headers.get("authorization")
        if not header:
            raise ApiError(
                401,
                "missing_key",
                "no API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise ApiError(
                401,
                "malformed_key",
                "the Authorization header must be 'Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = await ctx.store.api_keys.verify(token)
        if key is None:
            raise ApiError(
                401, "invalid_key", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        wait = ctx.limiter.take(key.id)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"more than {ctx.rate_limit.rate:g} requests per second for this key; retry in {retry} s",
                {"rate_per_s": ctx.rate_limit.rate, "burst": ctx.rate_limit.burst},
                headers={"Retry-After": str(retry)},
            )
        return AuthenticationResult(user=Principal(key.id, key.role, key.office_id), auth=key)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated caller of a connection (set by :class:`ApiKeyMiddleware`)."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise ApiError(401, "missing_key", "no API key: send 'Authorization: Bearer <key>'")
    return user


def allow(*roles: str) -> Any:
    """A guard letting only ``roles`` through (403 ``forbidden_role`` otherwise)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        """403 unless the caller's role is allowed."""
        who = principal_of(connection)
        if who.role not in roles:
            raise ApiError(
                403,
                "forbidden_role",
                f"this needs a key of role {' or '.join(roles)}; yours is {who.role}",
                {"role": who.role, "allowed": list(roles)},
            )

    guard.__name__ = f"allow_{'_'.join(roles)}"
    return guard


STAFF_ONLY = allow(*STAFF)
ADMIN_ONLY = allow("admin")
ANY_ROLE = allow(*ROLES)
