"""A scaled clock that several processes agree on: simulated time anchored to the wall clock.

A :class:`fleet.clock.ScaledClock` starts counting when it is created, so two processes each with
their own would disagree. :class:`SharedClock` reads ``start + (wall_now - anchor) * speed`` where
``anchor`` is a Unix time fixed once (e.g. by the test that starts the simulator and the
dispatcher subprocess) and passed to every process on its command line.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class SharedClock:
    """Simulated time ``start + (time.time() - anchor) * speed``, identical in every process."""

    def __init__(self, speed: float, start: datetime, anchor: float) -> None:
        if not speed > 0 or speed == float("inf"):
            raise ValueError(f"clock speed must be a finite number > 0, got {speed!r}")
        if start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self.speed = float(speed)
        self.start = start.astimezone(UTC)
        self.anchor = float(anchor)

    @classmethod
    def starting_now(cls, speed: float, start: datetime | None = None) -> SharedClock:
        """A clock anchored at this instant (reading ``start``, default the real time, now)."""
        return cls(speed, start or datetime.now(UTC), time.time())

    def set_speed(self, speed: float) -> None:
        """Run at ``speed`` from now on, simulated time continuous. Only for a clock shared inside
        one process (a test slowing time down around a race it must not lose to machine load):
        another process anchored to the old rate would no longer agree."""
        if not speed > 0 or speed == float("inf"):
            raise ValueError(f"clock speed must be a finite number > 0, got {speed!r}")
        wall = time.time()
        self.start = self.start + timedelta(seconds=(wall - self.anchor) * self.speed)
        self.anchor, self.speed = wall, float(speed)

    def now(self) -> datetime:
        """The simulated time, tz-aware UTC."""
        return self.start + timedelta(seconds=(time.time() - self.anchor) * self.speed)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def to_args(self) -> list[str]:
        """The command-line options that make another process's clock agree with this one."""
        return [
            "--clock-speed",
            repr(self.speed),
            "--clock-start",
            self.start.isoformat(),
            "--clock-anchor",
            repr(self.anchor),
        ]
