"""Server-sent events: ``/api/v1/stream`` (operators: everything) and ``/api/v1/requests/{id}/stream``.

Each message has an ``event:`` type and one line of JSON ``data:``:

* ``telemetry``: a drone's telemetry sample (at most 2 per second per drone);
* ``event``: a drone event (took_off, picked_up, delivered, landed, fault, low_battery,
  geofence_breach, separation_loss...), a flight or zone change from the audit chain, or the link
  going up/down;
* ``request``: a request filed or changing state (``{"id", "state", "from", "reason", "at", "seq"}``).

A comment line (``: keep-alive``) goes out every 15 s so proxies keep the connection open. The
per-request stream starts with the request's current state. Authenticate with the header
(``fetch()`` with ``Authorization: Bearer``); browsers' ``EventSource`` cannot send it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage

from dispatch.api.auth import ANY_ROLE, STAFF_ONLY, principal_of
from dispatch.api.errors import error_responses
from dispatch.api.routes_requests import ctx_of, get_visible
from dispatch.service.live_feed import END, FeedMessage, Listener

KEEP_ALIVE_S = 15.0

_ERRORS = error_responses(e404="no such request (or another office's)")


def sse(message: FeedMessage) -> ServerSentEventMessage:
    """One feed message as an SSE message."""
    return ServerSentEventMessage(data=message.json(), event=message.kind)


async def _messages(
    listener: Listener, first: list[FeedMessage], *, after_seq: int = 0
) -> AsyncIterator[ServerSentEventMessage]:
    """``first``, then the listener's messages; audit-log messages at or before ``after_seq`` are
    already in ``first`` (the listener is opened before the snapshot is read, so nothing is lost
    between them, and this drops what both would carry)."""
    try:
        yield ServerSentEventMessage(comment="connected", data=None)
        for message in first:
            yield sse(message)
        while True:
            try:
                async with asyncio.timeout(KEEP_ALIVE_S):  # wait_for can swallow a cancel (3.11)
                    message = await listener.queue.get()
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            if message is END:
                return
            seq = message.data.get("seq")
            if isinstance(seq, int) and seq <= after_seq:
                continue
            yield sse(message)
    finally:
        listener.close()


@get(
    "/stream",
    guards=[STAFF_ONLY],
    summary="Live stream (server-sent events)",
    responses=_ERRORS,
    media_type="text/event-stream",
    response_description="text/event-stream: telemetry, event and request messages",
)
async def stream(state: State) -> ServerSentEvent:
    """Telemetry of every drone (<= 2 Hz each), fleet events and request changes, as they happen."""
    listener = ctx_of(state).feed.listen(maxsize=5000)
    return ServerSentEvent(_messages(listener, []))


@get(
    "/requests/{request_id:str}/stream",
    guards=[ANY_ROLE],
    summary="One request's changes (server-sent events)",
    responses=_ERRORS,
    media_type="text/event-stream",
)
async def request_stream(
    request: Request[Any, Any, Any], state: State, request_id: FromPath[str]
) -> ServerSentEvent:
    """The request's state now, then every change (``request`` messages) for as long as it is open."""
    ctx, who = ctx_of(state), principal_of(request)
    listener = ctx.feed.listen(request_id=request_id)
    try:
        view = await get_visible(ctx, who, request_id)
    except BaseException:
        with contextlib.suppress(Exception):
            listener.close()
        raise
    # The snapshot comes from one read of the request's audit entries: its state then, and the
    # position in the log after which the listener's messages are new (the listener was opened
    # first, so nothing between the two is lost, and nothing is sent twice).
    timeline = await ctx.store.requests.timeline(request_id)
    transitions = [e for e in timeline.entries if e.action == "transition"]
    last = transitions[-1] if transitions else None
    details = (last.payload.get("details") or {}) if last is not None else {}
    now = FeedMessage(
        "request",
        {
            "id": view.id,
            "state": str(last.payload.get("to")) if last is not None else "submitted",
            "from": None,
            "reason": details.get("reason"),
            "at": (last.at if last is not None else view.created_at).isoformat(),
            "seq": None,
            "current": True,
        },
        request_id=view.id,
    )
    after = max((e.seq for e in timeline.entries), default=0)
    return ServerSentEvent(_messages(listener, [now], after_seq=after))


ROUTES = [stream, request_stream]
