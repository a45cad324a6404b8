"""How late the dispatcher's event loop runs: a timer that asks to wake every ``period_s`` and
records by how much it woke late.

A late wake-up means something held the loop (a long synchronous step, a burst of messages): every
other task on it (telemetry, events, commands, the HTTP API) was late by as much. The lags go into
fixed buckets (a Prometheus histogram, ``/metrics``) and a running maximum; nothing grows with time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds (seconds) of the lag histogram's buckets; lags above the last count in +Inf only."""


@dataclass(slots=True)
class LoopLag:
    """Lags measured so far: cumulative bucket counts (as in :data:`LAG_BUCKETS`), sum, count, max."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(LAG_BUCKETS))
    count: int = 0
    sum_s: float = 0.0
    max_s: float = 0.0

    def record(self, lag_s: float) -> None:
        """Count one wake-up that came ``lag_s`` seconds late."""
        self.count += 1
        self.sum_s += lag_s
        self.max_s = max(self.max_s, lag_s)
        for i, bound in enumerate(LAG_BUCKETS):
            if lag_s <= bound:
                self.buckets[i] += 1


async def probe_loop_lag(lag: LoopLag, period_s: float = 0.05) -> None:
    """Record into ``lag`` how late each ``period_s`` sleep wakes, until cancelled."""
    while True:
        t = time.perf_counter()
        await asyncio.sleep(period_s)
        lag.record(max(0.0, time.perf_counter() - t - period_s))
