"""How the API reads a JSON body: only a JSON one, and never one nested deeper than it could mean.

Litestar decodes a body with msgspec into plain values before it converts them to the handler's
type, whatever the ``Content-Type``, and msgspec decodes nesting recursively: a body of
``[[[[...]]]]`` (100,000 deep fits in 200 KB) raised ``RecursionError`` there, a 500. So the
API's routes read their bodies through :class:`JsonRequest`, which answers before decoding:

* a body declared as anything but JSON (``application/json`` or ``*/*+json``; a body without a
  ``Content-Type`` is taken as JSON): ``415 unsupported_media_type``;
* a body nested deeper than :data:`MAX_JSON_DEPTH` (arrays and objects, measured by
  :func:`json_depth` on the raw bytes, with no recursion): ``400 invalid_request``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from litestar import Request
from litestar.exceptions import HTTPException

from dispatch.api.errors import ApiError

MAX_JSON_DEPTH = 32
"""The deepest nesting of arrays and objects a body may have. A zone document needs 8 (a
FeatureCollection of MultiPolygons); everything else 3."""

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in the JSON text ``body``, without decoding it.

    Linear numpy passes over the bytes, no recursion and no Python loop over them: a quote is
    escaped when an odd run of backslashes precedes it; a byte lies inside a string when an odd
    number of unescaped quotes precedes it (a bracket there is text); the depth after each byte
    is the running sum of +1 per opening and -1 per closing bracket outside strings. Malformed
    text gives some number: the decoder refuses it anyway.
    """
    codes = np.frombuffer(body, dtype=np.uint8)
    if not len(codes):
        return 0
    index = np.arange(len(codes), dtype=np.int32)  # bodies are far below 2 GB
    # The index of the last byte that is not a backslash, at or before each position (-1: none).
    last_plain = np.maximum.accumulate(np.where(codes != _BACKSLASH, index, -1))
    run_before = np.empty(len(codes), dtype=np.int32)  # backslashes right before each byte
    run_before[0] = 0
    run_before[1:] = index[:-1] - last_plain[:-1]
    quote = (codes == _QUOTE) & (run_before % 2 == 0)
    inside = (np.cumsum(quote) - quote) % 2 == 1  # odd number of quotes before: in a string
    outside = ~inside & ~quote
    steps = (np.isin(codes, _OPEN) & outside).astype(np.int32) - (np.isin(codes, _CLOSE) & outside)
    return int(np.cumsum(steps).max(initial=0))


def is_json(media_type: str) -> bool:
    """Whether a ``Content-Type`` (without its parameters) declares JSON; an absent one does not
    contradict it."""
    media_type = media_type.strip().lower()
    return media_type in ("", "application/json") or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class JsonRequest(Request[Any, Any, Any]):
    """A Litestar request whose JSON body is checked (media type, nesting) before it is decoded."""

    async def json(self) -> Any:
        """The decoded body, or 415 / 400 (see the module)."""
        media_type, _ = self.content_type
        if not is_json(media_type):
            raise HTTPException(
                status_code=415, detail=f"the body must be application/json, not {media_type[:100]!r}"
            )
        body = await self.body()
        # No more openings than the limit cannot nest deeper (most bodies): no scan needed.
        shallow = body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH
        depth = 0 if shallow else json_depth(body)
        if depth > MAX_JSON_DEPTH:
            raise ApiError(
                400,
                "invalid_request",
                f"the JSON body is nested {depth} deep; at most {MAX_JSON_DEPTH} levels are read",
                {"max_depth": MAX_JSON_DEPTH},
            )
        return await super().json()
