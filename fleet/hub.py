"""Fan-out of fleet updates to subscribers that a slow consumer cannot stall.

Each subscriber has its own bounded queue. Publishing never waits: when a subscriber's queue is
full, its *oldest* update is discarded to make room and counted in ``Subscription.overflow``, so
a stuck consumer loses history (and can see that it did) while the link and every other
subscriber go on at full speed. The fleet registry always holds the latest state, so a consumer
that overflowed can resynchronise from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscription(Generic[T]):
    """One consumer's bounded view of the stream. Iterate it with ``async for``; close it when done."""

    def __init__(self, hub: Hub[T], maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"subscription queue size must be >= 1, got {maxsize}")
        self._hub = hub
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self.overflow = 0  # updates discarded because this consumer fell behind
        self.closed = False

    def _offer(self, item: T) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.overflow += 1
        self._queue.put_nowait(item)

    async def get(self) -> T:
        """The next update (waits for one)."""
        return await self._queue.get()

    def get_nowait(self) -> T | None:
        """The next update if one is queued, else None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def pending(self) -> int:
        """Number of queued updates."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop receiving updates."""
        self.closed = True
        self._hub._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            yield await self._queue.get()

    def __enter__(self) -> Subscription[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hub(Generic[T]):
    """Publishes items to every open :class:`Subscription` without ever blocking."""

    def __init__(self) -> None:
        self._subs: set[Subscription[T]] = set()

    def subscribe(self, maxsize: int = 1000) -> Subscription[T]:
        """A new subscription holding at most ``maxsize`` unread items."""
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    def publish(self, item: T) -> None:
        """Offer ``item`` to every subscriber (non-blocking)."""
        for sub in self._subs:
            sub._offer(item)

    @property
    def subscribers(self) -> int:
        """Number of open subscriptions."""
        return len(self._subs)
