"""The dispatcher's event-loop lag probe: a blocked loop shows as a late wake-up."""

from __future__ import annotations

import asyncio
import contextlib
import time

from dispatch.service.loop_lag import LAG_BUCKETS, LoopLag, probe_loop_lag


def test_lags_fall_into_cumulative_buckets_and_the_maximum() -> None:
    lag = LoopLag()
    for s in (0.001, 0.03, 0.3, 7.0):
        lag.record(s)
    assert lag.count == 4 and lag.max_s == 7.0 and abs(lag.sum_s - 7.331) < 1e-9
    by_bound = dict(zip(LAG_BUCKETS, lag.buckets, strict=True))
    assert (by_bound[0.005], by_bound[0.025], by_bound[0.05], by_bound[0.5], by_bound[5.0]) == (1, 1, 2, 3, 3)


async def test_a_blocked_loop_is_measured_as_lag() -> None:
    lag = LoopLag()
    probe = asyncio.create_task(probe_loop_lag(lag, period_s=0.01))
    try:
        while lag.count == 0:  # the probe is sleeping, not blocked: it records small lags
            await asyncio.sleep(0)
        time.sleep(0.3)  # holds the loop: what the probe must see (not a wait for anything)
        seen = lag.count
        while lag.count == seen:
            await asyncio.sleep(0)
    finally:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
    assert lag.max_s >= 0.25
