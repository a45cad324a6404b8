"""What every HTTP call goes through before routing (:func:`at_the_edge`).

A path holding a NUL byte names nothing the API serves (ids, files): it is answered 404
``not_found`` here, before it could reach a file system call or the database (PostgreSQL
refuses NUL in text, which would be a 5xx).

One access log line per HTTP call, at INFO on the logger ``dispatch.api.access``::

    GET /api/v1/requests/req_0123 200 3.1 ms key:k_ab12cd34
    GET /dashboard/a\\x00\\nforged 404 0.4 ms anonymous

Method, path (as received, before routing), status, wall time until the response ended, and the
id of the API key that was verified (``anonymous`` without one): never the key itself. The path
is client input: the programs' log formatter (:mod:`dispatch.logs`) escapes its control
characters, like those of every other record.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.api.context import Principal
from dispatch.api.errors import ErrorBody, ErrorDetail

log = logging.getLogger("dispatch.api.access")


_NUL_PATH = msgspec.json.encode(
    ErrorBody(ErrorDetail("not_found", "no such resource: the path holds a NUL byte"))
)


async def _not_found(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_NUL_PATH)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": _NUL_PATH, "more_body": False})


def at_the_edge(app: ASGIApp) -> ASGIApp:
    """``app`` logging one line per HTTP call and answering a path with a NUL byte 404 itself."""

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        method, path = scope["method"], scope["path"]  # routing rewrites scope["path"] of mounts
        status = 500  # what the server answers when the app raises before starting a response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            if "\x00" in path:
                await _not_found(sending)
            else:
                await app(scope, receive, sending)
        finally:
            user: Any = scope.get("user")
            who = f"key:{user.key_id}" if isinstance(user, Principal) else "anonymous"
            elapsed_ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %d %.1f ms %s", method, path, status, elapsed_ms, who)

    return logged
