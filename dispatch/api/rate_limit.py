"""A token bucket per API key, in memory (per process): ``rate`` requests per second, ``burst`` at once."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*s\s*(?:(?:,|\s+burst\s*|\s*:\s*)\s*(\d+))?\s*$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` tokens per second refill a bucket of ``burst`` tokens; each request takes one."""

    rate: float = 20.0
    burst: int = 40

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be > 0 per second, got {self.rate}")
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst}")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"20/s"`` (burst twice the rate), ``"20/s burst 40"``, ``"20/s,40"``."""
        m = _SPEC.match(text)
        if m is None:
            raise ValueError(f"rate limit must look like '20/s' or '20/s burst 40', got {text!r}")
        rate = float(m.group(1))
        burst = int(m.group(2)) if m.group(2) else max(1, math.ceil(2 * rate))
        return cls(rate, burst)


class RateLimiter:
    """Token buckets by key id. ``take(key)`` returns 0 when allowed, else seconds to wait."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Take one token for ``key``; 0.0 if there was one, else the wait until there is."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.limit.rate
