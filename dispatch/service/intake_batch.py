"""Coalesce concurrent intake decisions: while one batch is decided, new filings queue for the next.

Deciding intake costs one preparation of the airspace and the fleet, whether for one request or
fifty (:func:`dispatch.service.intake.assess_many`). Under a burst of filings, deciding them one by
one queues each behind all the others; batching whatever arrived during the previous decision keeps
every filing's wait to about two decisions, and adds no delay when filings are rare.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class IntakeBatcher(Generic[T]):
    """Decide items with ``decide(batch) -> results`` (same order), batching concurrent callers."""

    def __init__(self, decide: Callable[[list[T]], Awaitable[list[T]]]) -> None:
        self._decide = decide
        self._queue: list[tuple[T, asyncio.Future[T]]] = []
        self._running: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # nothing queued or being decided
        self._idle.set()
        self.batches = 0  # how many decisions ran (for tests and metrics)

    async def idle(self) -> None:
        """Return once nothing is queued or being decided (at once when nothing is)."""
        await self._idle.wait()

    async def decide(self, item: T) -> T:
        """The decision for ``item``, made together with whatever else is waiting.

        If the caller gives up (cancelled), the item is still decided with its batch.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._idle.clear()
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain(), name="intake-batch")
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            await self._drain_queue()
        finally:
            if not self._queue:
                self._idle.set()

    async def _drain_queue(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            self.batches += 1
            try:
                results = await self._decide([item for item, _ in batch])
            except Exception as exc:  # every waiter gets the failure; the next batch still runs
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if len(results) != len(batch):
                error = RuntimeError(f"intake returned {len(results)} decisions for {len(batch)} requests")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
