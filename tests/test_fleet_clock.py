"""The injectable clock."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from fleet.clock import RESPEED_S, Clock, RealClock, ScaledClock, SharedClock


async def test_scaled_clock_runs_faster_from_its_start() -> None:
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = ScaledClock(600, start)
    assert isinstance(clock, Clock) and isinstance(RealClock(), Clock)
    t0 = time.monotonic()
    await clock.sleep(60)  # a simulated minute
    real = time.monotonic() - t0
    simulated = (clock.now() - start).total_seconds()
    assert simulated >= 60 and real < 60  # a simulated minute passed, in far less than a real one
    clock.set_start(start)
    assert abs((clock.now() - start).total_seconds()) < 60
    assert clock.now().tzinfo is not None


def test_bad_clocks_are_refused() -> None:
    for speed in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            ScaledClock(speed)
    with pytest.raises(ValueError):
        ScaledClock(10, datetime(2026, 12, 1))


def test_real_clock_is_utc() -> None:
    assert RealClock().now().utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    asyncio.run(RealClock().sleep(0))


def test_anchored_clocks_read_start_plus_scaled_wall_time_since_the_anchor() -> None:
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    anchor = time.time() - 2.0  # set two real seconds ago, e.g. by the process that started us
    before = time.time()
    clock = SharedClock(60, start, anchor)  # any process given these three values
    reading = (clock.now() - start).total_seconds()
    after = time.time()
    # Bounds, not a tolerance: the reading lies between the scaled wall times around it.
    assert (before - anchor) * 60 - 1e-3 <= reading <= (after - anchor) * 60 + 1e-3


async def test_a_shared_clock_sleeper_follows_a_change_of_speed() -> None:
    # Begun at 1x, a 100-second wait would take 100 s of wall time; run on at 1,000x it ends when
    # the simulated time comes (within RESPEED_S), as planning waits do when a test speeds up.
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = SharedClock.starting_now(1.0, start)
    sleeper = asyncio.ensure_future(clock.sleep(100.0))
    await asyncio.sleep(0)  # the sleeper is waiting, at 1x
    clock.set_speed(1000.0)
    async with asyncio.timeout(10 * RESPEED_S):
        await sleeper
    assert (clock.now() - start).total_seconds() >= 100.0
    # Slowed down, it does not end early either.
    clock.set_speed(1.0)
    begun = clock.now()
    sleeper = asyncio.ensure_future(clock.sleep(0.3))
    await asyncio.sleep(0)
    clock.set_speed(0.5)
    await sleeper
    assert (clock.now() - begun).total_seconds() >= 0.3
