"""Coalesce concurrent intake decisions: while one batch is decided, new filings queue for the next.

Deciding intake costs one preparation of the airspace and the fleet, whether for one request or
fifty (:func:`dispatch.service.intake.assess_many`). Under a burst of filings, deciding them one by
one queues each behind all the others; batching whatever arrived during the previous decision keeps
every filing's wait to about two decisions, and adds no delay when filings are rare.

Urgent work goes first: of the filings waiting, the urgent ones (``urgent(item)``) make a batch of
their own, decided before the others. :meth:`IntakeBatcher.settled` tells the planner when to
begin a round: once intake is idle, or once urgent filings were decided and no other urgent one
waits, so that an urgent request is not planned only after a burst of ordinary filings (the
ten-minute licence came last of a dozen filings at 09:00).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class IntakeBatcher(Generic[T]):
    """Decide items with ``decide(batch) -> results`` (same order), batching concurrent callers."""

    def __init__(
        self,
        decide: Callable[[list[T]], Awaitable[list[T]]],
        urgent: Callable[[T], bool] = lambda _: False,
    ) -> None:
        self._decide = decide
        self._urgent = urgent
        self._queue: list[tuple[T, asyncio.Future[T]]] = []
        self._deciding: list[T] = []  # the batch being decided
        self._running: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()  # notified when a batch ends
        self._urgent_decided = False  # urgent items were decided since the last settled()
        self.batches = 0  # how many decisions ran (for tests and metrics)

    def _is_idle(self) -> bool:
        return not self._queue and not self._deciding

    def _urgent_pending(self) -> bool:
        return any(self._urgent(item) for item in self.pending())

    def pending(self) -> list[T]:
        """The items queued or being decided."""
        return [*self._deciding, *(item for item, _ in self._queue)]

    async def idle(self) -> None:
        """Return once nothing is queued or being decided (at once when nothing is)."""
        async with self._changed:
            await self._changed.wait_for(self._is_idle)

    async def settled(self) -> None:
        """Return once nothing is queued or being decided, or once urgent items were decided (since
        the last call) and no urgent item is queued or being decided."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._is_idle() or (self._urgent_decided and not self._urgent_pending())
            )
            self._urgent_decided = False

    async def decide(self, item: T) -> T:
        """The decision for ``item``, made together with whatever else is waiting (the urgent
        items of the queue first).

        If the caller gives up (cancelled), the item is still decided with its batch.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain_queue(), name="intake-batch")
        return await asyncio.shield(future)

    async def _drain_queue(self) -> None:
        while self._queue:
            urgent = [q for q in self._queue if self._urgent(q[0])]
            batch = urgent or self._queue
            self._queue = [q for q in self._queue if not self._urgent(q[0])] if urgent else []
            self.batches += 1
            self._deciding = [item for item, _ in batch]
            results: list[T] | Exception
            try:
                results = await self._decide(self._deciding)
            except Exception as exc:  # every waiter gets the failure; the next batch still runs
                results = exc
            finally:
                self._deciding = []
                async with self._changed:
                    self._urgent_decided |= bool(urgent)
                    self._changed.notify_all()
            if not isinstance(results, Exception) and len(results) != len(batch):
                results = RuntimeError(f"intake returned {len(results)} decisions for {len(batch)} requests")
            for k, (_, future) in enumerate(batch):
                if future.done():
                    continue
                if isinstance(results, Exception):
                    future.set_exception(results)
                else:
                    future.set_result(results[k])
