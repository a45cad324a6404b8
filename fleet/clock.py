"""One injectable clock for the dispatcher and the simulator.

Everything that reads the time or waits for a span of *simulated* time goes through a
:class:`Clock`, so a ten-minute flight can take a second in a test without changing the code
under test. Network timeouts (waiting for an ack, reconnect back-off) are real time and do not go
through the clock: the network does not speed up with the simulation.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")
V = TypeVar("V")


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
    agree on the time. For several *processes* to agree, use :class:`SharedClock`.
    """

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if not speed > 0 or speed != speed or speed == float("inf"):
            raise ValueError(f"clock speed must be a finite number > 0, got {speed!r}")
        if start is not None and start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self.speed = float(speed)
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = time.monotonic()

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


RESPEED_S = 1.0  # wall seconds: how soon a long sleep of a shared clock follows a change of speed


class SharedClock:
    """Simulated time ``start + (time.time() - anchor) * speed``, identical in every process.

    A :class:`ScaledClock` starts counting when it is created, so two processes each with their
    own would disagree. Here ``anchor`` is a Unix time fixed once (e.g. by the test that starts the
    simulator and the dispatcher subprocess) and passed to every process with :meth:`to_args`.
    """

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
        """Wait ``seconds`` of simulated time, following a change of speed (:meth:`set_speed`)
        within :data:`RESPEED_S` of wall time: a wait begun at 10x and run on at 200x ends when
        the simulated time comes, not twenty times later."""
        until = self.now() + timedelta(seconds=max(0.0, seconds))
        wall = max(0.0, seconds) / self.speed
        while True:
            speed = self.speed
            await asyncio.sleep(min(wall, RESPEED_S))
            if wall <= RESPEED_S and self.speed == speed:
                return  # all of it slept at one speed
            left = (until - self.now()).total_seconds()
            if left <= 0:
                return
            wall = left / self.speed

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


def add_clock_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--clock-speed``, ``--clock-start`` and ``--clock-anchor`` (strings; check them with
    :func:`shared_clock`): the simulated time ``start + (unix_now - anchor) * speed`` that the
    dispatcher, the API and the simulator share when they are given the same three values."""
    group = parser.add_argument_group("simulated time (all three together; the same in every process)")
    group.add_argument("--clock-speed", metavar="S", help="simulated seconds per real second")
    group.add_argument("--clock-start", metavar="ISO_TIME", help="simulated time at the anchor (with offset)")
    group.add_argument(
        "--clock-anchor", metavar="UNIX_TIME", help="Unix time at which the clock read --clock-start"
    )


def clock_speed(value: str | float | datetime) -> float:
    """A clock speed (simulated seconds per real second) from its text: a finite number > 0."""
    speed = _number(value, "clock speed")
    if not 0 < speed < float("inf"):
        raise ValueError(f"clock speed must be a finite number > 0, got {value!r}")
    return speed


def clock_start(value: str | float | datetime) -> datetime:
    """A clock start from ISO 8601 text (or a datetime); it must carry a zone offset."""
    try:
        start = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"clock start {value!r} is not an ISO 8601 time") from None
    if start.utcoffset() is None:
        raise ValueError(f"clock start {value!r} needs a zone offset, e.g. +08:00")
    return start


def clock_anchor(value: str | float | datetime) -> float:
    """A clock anchor (a Unix time) from its text: a finite number."""
    anchor = _number(value, "clock anchor")
    if anchor != anchor or anchor in (float("inf"), float("-inf")):
        raise ValueError(f"clock anchor must be a finite number, got {value!r}")
    return anchor


def _number(value: str | float | datetime, name: str) -> float:
    if isinstance(value, bool | datetime):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def shared_clock(
    speed: str | float | None, start: str | datetime | None, anchor: str | float | None
) -> Clock:
    """The clock of the :func:`add_clock_arguments` options: real time when none is given, a
    :class:`SharedClock` when all three are; ValueError naming the options otherwise."""
    given = (speed, start, anchor)
    if all(v is None for v in given):
        return RealClock()
    if any(v is None for v in given):
        raise ValueError("give --clock-speed, --clock-start and --clock-anchor together")
    assert speed is not None and start is not None and anchor is not None
    return SharedClock(
        _checked("--clock-speed", clock_speed, speed),
        _checked("--clock-start", clock_start, start),
        _checked("--clock-anchor", clock_anchor, anchor),
    )


def _checked(option: str, check: Callable[[V], T], value: V) -> T:
    try:
        return check(value)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None
