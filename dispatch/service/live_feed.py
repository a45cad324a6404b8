"""The live feed: one subscription to the fleet link and one reader of the audit chain, fanned out to
any number of listeners (the API's server-sent events), plus a bounded flown track per mission.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from dispatch.service.dispatcher import Dispatcher
from dispatch.store import AuditEntry
from dispatch.store.audit_log import UNPARSEABLE
from fleet.link import LinkStatus
from fleet.messages import Ack, State, Telemetry

log = logging.getLogger(__name__)

_AUDIT_PAGE = 1000  # audit entries read at a time; a full page is followed by the next at once


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One message for stream listeners: ``kind`` is ``telemetry``, ``event`` or ``request``."""

    kind: str
    data: dict[str, Any]
    request_id: str | None = None  # set on request messages, for per-request listeners

    def json(self) -> str:
        """The data as compact JSON."""
        return json.dumps(self.data, separators=(",", ":"), default=str)


END = FeedMessage("end", {})
"""The last message a listener gets when the feed closes."""


class Listener:
    """One consumer's bounded queue; when it falls behind, the oldest messages are dropped."""

    def __init__(self, feed: LiveFeed, maxsize: int, request_id: str | None) -> None:
        self._feed = feed
        self.queue: asyncio.Queue[FeedMessage] = asyncio.Queue(maxsize)
        self.request_id = request_id
        self.dropped = 0

    def offer(self, message: FeedMessage) -> None:
        """Queue a message (dropping the oldest if full)."""
        if self.request_id is not None and message.request_id != self.request_id:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    def end(self) -> None:
        """Queue :data:`END` (dropping the oldest message if full) and stop receiving."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(END)
        self.close()

    def close(self) -> None:
        """Stop receiving."""
        self._feed._listeners.discard(self)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveFeed:
    """Fans the fleet link and the audit chain out to stream listeners; keeps flown tracks.

    * Telemetry: every drone's samples, throttled to ``telemetry_hz`` per drone (wall time).
    * Events: the drones' events (took off, picked up, delivered, landed, faults...) and the link
      going up or down, as they arrive.
    * Request changes: every request entry appended to the audit chain (filed, each transition),
      read from the store every ``poll_s`` seconds (and at once after :meth:`nudge`), so changes
      made by any process, the dispatcher included, reach the listeners in commit order.
    * Tracks: the positions each mission's drone reported, at most ``track_points`` per mission
      for the ``track_missions`` most recent missions, in memory (lost on restart).
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        telemetry_hz: float = 2.0,
        poll_s: float = 0.25,
        track_missions: int = 500,
        track_points: int = 5000,
    ) -> None:
        self.dispatcher = dispatcher
        self.min_interval_s = 1.0 / telemetry_hz
        self.poll_s = poll_s
        self.track_missions = track_missions
        self.track_points = track_points
        self._listeners: set[Listener] = set()
        self._last_sent: dict[str, float] = {}
        self._tracks: OrderedDict[str, deque[tuple[datetime, float, float, float]]] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._poke = asyncio.Event()
        self._last_seq = 0
        self._rate: deque[tuple[float, int]] = deque(maxlen=200)
        self.ready = asyncio.Event()
        self.closing = False

    async def start(self) -> None:
        """Subscribe to the link and start reading the audit chain from its current end."""
        self._last_seq = await self.dispatcher.store.audit_last_seq()
        sub = self.dispatcher.link.subscribe(maxsize=50_000, telemetry=True)
        self._tasks = [
            asyncio.create_task(self._link_loop(sub), name="feed-link"),
            asyncio.create_task(self._audit_loop(), name="feed-audit"),
        ]
        self.ready.set()

    async def stop(self) -> None:
        """Stop both loops."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def listen(self, *, request_id: str | None = None, maxsize: int = 1000) -> Listener:
        """A new listener (all messages, or only ``request`` messages of one request)."""
        listener = Listener(self, maxsize, request_id)
        if self.closing:
            listener.queue.put_nowait(END)
        else:
            self._listeners.add(listener)
        return listener

    def close_listeners(self) -> None:
        """End every listener (each gets :data:`END`): the server is shutting down."""
        self.closing = True
        for listener in list(self._listeners):
            listener.end()

    def nudge(self) -> None:
        """Read the audit chain now (after a change this process made)."""
        self._poke.set()

    def _publish(self, message: FeedMessage) -> None:
        for listener in list(self._listeners):
            listener.offer(message)

    # --- tracks ---

    def track(self, mission_id: str) -> list[tuple[datetime, float, float, float]]:
        """The positions (time, lon, lat, alt) reported while flying a mission, oldest first."""
        return list(self._tracks.get(mission_id, ()))

    def _record(self, t: Telemetry) -> None:
        if t.mission_id is None:
            return
        track = self._tracks.get(t.mission_id)
        if track is None:
            track = self._tracks[t.mission_id] = deque(maxlen=self.track_points)
            while len(self._tracks) > self.track_missions:
                self._tracks.popitem(last=False)
        track.append((t.ts, t.lon, t.lat, t.alt_m))

    # --- telemetry rate ---

    def telemetry_rate(self) -> float:
        """Telemetry messages per second received by the link over about the last 10 s."""
        self._sample_rate()
        (t0, n0), (t1, n1) = self._rate[0], self._rate[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def _sample_rate(self) -> None:
        now = time.monotonic()
        self._rate.append((now, self.dispatcher.link.stats.telemetry))
        while len(self._rate) > 2 and now - self._rate[0][0] > 10.0:
            self._rate.popleft()

    # --- loops ---

    async def _link_loop(self, sub: Any) -> None:
        with sub:
            async for update in sub:
                try:
                    self._on_update(update)
                except Exception:
                    log.exception("live feed: handling %s failed", type(update).__name__)

    def _on_update(self, u: object) -> None:
        if isinstance(u, Telemetry):
            self._record(u)
            now = time.monotonic()
            if now - self._last_sent.get(u.drone_id, -1e9) < self.min_interval_s:
                return
            self._last_sent[u.drone_id] = now
            self._publish(FeedMessage("telemetry", msgspec.to_builtins(u)))
        elif isinstance(u, LinkStatus):
            self._publish(FeedMessage("event", {"event": "link", "status": u.status, "detail": u.detail}))
        elif isinstance(u, State):
            self._publish(FeedMessage("event", {"event": "state", **msgspec.to_builtins(u)}))
        elif isinstance(u, Ack):
            return
        elif isinstance(u, msgspec.Struct):
            data = msgspec.to_builtins(u)
            data.pop("code", None)  # never stream a code, should an event ever carry one
            self._publish(FeedMessage("event", data))

    async def _audit_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):  # wait_for can swallow a cancel (3.11)
                    await self._poke.wait()
            self._poke.clear()
            self._sample_rate()
            try:
                await self._read_audit()
            except Exception:
                log.exception("live feed: reading the audit chain failed")

    async def _read_audit(self) -> None:
        entries = await self.dispatcher.store.audit_after(self._last_seq, _AUDIT_PAGE)
        for entry in entries:
            self._last_seq = entry.seq
            for message in _audit_messages(entry):
                self._publish(message)
        if len(entries) == _AUDIT_PAGE:
            self._poke.set()


def _audit_messages(entry: AuditEntry) -> Iterator[FeedMessage]:
    payload = entry.payload
    if UNPARSEABLE in payload:  # altered in the database: the chain check reports it, not the feed
        return
    at = entry.at.isoformat()
    if entry.entity == "request" and entry.action == "submitted":
        yield FeedMessage(
            "request",
            {
                "id": entry.entity_id,
                "state": "submitted",
                "from": None,
                "reason": None,
                "at": at,
                "seq": entry.seq,
                "office_id": payload.get("office_id"),
            },
            request_id=entry.entity_id,
        )
    elif entry.entity == "request" and entry.action == "transition":
        details = payload.get("details") or {}
        yield FeedMessage(
            "request",
            {
                "id": entry.entity_id,
                "state": payload.get("to"),
                "from": payload.get("from"),
                "reason": details.get("reason"),
                "details": details,
                "at": at,
                "seq": entry.seq,
            },
            request_id=entry.entity_id,
        )
    elif entry.entity == "request":
        yield FeedMessage(
            "request",
            {"id": entry.entity_id, "note": entry.action, "details": payload, "at": at, "seq": entry.seq},
            request_id=entry.entity_id,
        )
    elif entry.entity in ("flight", "zone", "drone"):
        yield FeedMessage(
            "event",
            {
                "event": f"{entry.entity}_{entry.action}",
                "id": entry.entity_id,
                "details": payload,
                "at": at,
                "seq": entry.seq,
            },
        )
