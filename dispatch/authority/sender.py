"""Delivery of the backlog, oldest first, in a background task: HTTP POSTs or a JSONL file.

Each report is sent until it is delivered: a network error, a timeout, a 5xx, 408, 425 or 429 is
retried with exponential back-off (0.5 s doubling to 30 s, real time), and nothing behind it is
sent meanwhile, so the authority receives every flight's reports in order. Every POST carries the
report's ``Idempotency-Key`` header (its ``report_id``): a report whose answer was lost is sent
again with the same key, and the receiver keeps it once. Any other 4xx is a rejection: logged,
counted and not retried (the same body would be rejected again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from dispatch.authority.backlog import Backlog

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429})
FILE_SCHEME = "file:"


class Retry(Exception):
    """The report was not delivered and should be sent again."""


class Rejected(Exception):
    """The receiver refused the report for good."""


class Sink(Protocol):
    """Where reports go."""

    async def send(self, key: str, body: dict[str, Any]) -> None:
        """Deliver one report, or raise :class:`Retry` or :class:`Rejected`."""

    async def aclose(self) -> None:
        """Release the sink's resources."""


class HttpSink:
    """POST each report as JSON to ``url`` with an ``Idempotency-Key`` header."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, key: str, body: dict[str, Any]) -> None:
        """POST the report; 2xx is delivered."""
        try:
            r = await self._client.post(self.url, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as exc:
            raise Retry(f"{type(exc).__name__}: {exc}") from exc
        if r.is_success:
            return
        if r.status_code >= 500 or r.status_code in RETRY_STATUSES:
            raise Retry(f"HTTP {r.status_code}")
        raise Rejected(f"HTTP {r.status_code}: {r.text[:200]}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


class FileSink:
    """Append each report as one JSON line to a file (for audits and tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _append(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)

    async def send(self, key: str, body: dict[str, Any]) -> None:
        """Append the report's line (the key is its ``report_id``)."""
        try:
            await asyncio.to_thread(self._append, json.dumps(body, separators=(",", ":")) + "\n")
        except OSError as exc:
            raise Retry(str(exc)) from exc

    async def aclose(self) -> None:
        """Nothing to release."""


def sink_for(target: str) -> Sink:
    """The sink of ``--authority-report``: ``file:PATH`` a JSONL file, else an HTTP(S) URL."""
    if target.startswith(FILE_SCHEME):
        return FileSink(target[len(FILE_SCHEME) :])
    return HttpSink(target)


@dataclass(slots=True)
class SenderStats:
    """What the sender did since the process started."""

    sent: int = 0
    retried: int = 0
    rejected: int = 0
    last_error: str | None = None


class Sender:
    """Sends the backlog's reports in order until stopped; :meth:`kick` after each enqueue."""

    def __init__(
        self, backlog: Backlog, sink: Sink, *, first_backoff_s: float = 0.5, max_backoff_s: float = 30.0
    ) -> None:
        self.backlog = backlog
        self.sink = sink
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stats = SenderStats()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()

    def kick(self) -> None:
        """Something was enqueued."""
        self._idle.clear()
        self._wake.set()

    def lag_s(self) -> float:
        """How long the oldest undelivered report has waited (wall seconds; 0 when none)."""
        first = self.backlog.first()
        return max(0.0, time.time() - first.enqueued) if first is not None else 0.0

    async def drained(self) -> None:
        """Wait until the backlog is empty."""
        self.kick()
        await self._idle.wait()

    async def run(self) -> None:
        """Deliver forever, oldest first."""
        backoff = self.first_backoff_s
        while True:
            pending = self.backlog.first()
            if pending is None:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self.sink.send(pending.key, pending.body)
            except Retry as exc:
                self.stats.retried += 1
                self.stats.last_error = str(exc)
                log.warning(
                    "authority report %s not delivered (%s); retry in %.1f s", pending.key, exc, backoff
                )
                await asyncio.sleep(backoff)  # back-off between attempts, not synchronisation
                backoff = min(backoff * 2.0, self.max_backoff_s)
                continue
            except Rejected as exc:
                self.stats.rejected += 1
                self.stats.last_error = str(exc)
                log.error("authority report %s rejected: %s", pending.key, exc)
            else:
                self.stats.sent += 1
            backoff = self.first_backoff_s
            self.backlog.done(pending.seq)
