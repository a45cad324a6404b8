"""One injectable clock for the dispatcher and the simulator.

Everything that reads the time or waits for a span of *simulated* time goes through a
:class:`Clock`, so a ten-minute flight can take a second in a test without changing the code
under test. Network timeouts (waiting for an ack, reconnect back-off) are real time and do not go
through the clock: the network does not speed up with the simulation.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of tz-aware UTC time and a way to wait for a span of that time."""

    def now(self) -> datetime:
        """The current time, tz-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` of this clock's time."""
        ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        """The current wall-clock time, tz-aware UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time."""
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Time that runs ``speed`` times faster than real time from a settable start.

    ``ScaledClock(60)`` makes one simulated minute pass per real second. Time is derived from
    the monotonic clock, so it never jumps backwards and several tasks that share this object
    agree on the time. For several *processes* to agree, build each one's clock with
    :meth:`anchored` on the same wall-clock anchor.
    """

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if not speed > 0 or speed != speed or speed == float("inf"):
            raise ValueError(f"clock speed must be a finite number > 0, got {speed!r}")
        if start is not None and start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self.speed = float(speed)
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = time.monotonic()

    @classmethod
    def anchored(cls, speed: float, start: datetime, anchor_unix_s: float) -> ScaledClock:
        """A clock that read ``start`` at wall-clock time ``anchor_unix_s`` (``time.time()``).

        Every process given the same three values reads the same time (to the precision of the
        machines' wall clocks); within a process it then runs on the monotonic clock.
        """
        clock = cls(speed, start)
        wall = time.time()
        clock._t0 = time.monotonic()  # read right after ``wall``: both name the same instant
        clock._start = clock._start + timedelta(seconds=(wall - anchor_unix_s) * clock.speed)
        return clock

    def set_start(self, start: datetime) -> None:
        """Make the clock read ``start`` now (and run on from there at the same speed)."""
        if start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        """The simulated time, tz-aware UTC."""
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (``seconds / speed`` of real time)."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)
