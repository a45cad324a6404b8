"""The wind the simulated drones fly in: a constant wind, or the hourly forecast the dispatcher
reads (:mod:`airspace.weather`, so the planned and the flown weather are the same), plus gusts
injected as faults.

The simulator keeps each drone's ground track and speed as commanded and charges the battery for
the air it flies through (``simulator.flight``): a head wind costs energy, not time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from airspace.weather import Forecast


def wind_vector(speed_mps: float, from_deg: float) -> tuple[float, float]:
    """The (east, north) velocity of a wind of ``speed_mps`` blowing *from* ``from_deg`` (0 = north)."""
    rad = math.radians(from_deg)
    return (-speed_mps * math.sin(rad), -speed_mps * math.cos(rad))


@dataclass(frozen=True, slots=True)
class Gust:
    """An injected gust: a wind added to the drone's for a while."""

    xy: tuple[float, float]
    until: datetime


@dataclass(slots=True)
class WindField:
    """The wind at a place and time: the forecast's (strongest height, where it comes from) or a
    constant one, plus any gust injected at a drone."""

    constant: tuple[float, float] = (0.0, 0.0)
    forecast: Forecast | None = None
    gusts: dict[str, Gust] = field(default_factory=dict)

    def at(self, drone_id: str, lon: float, lat: float, now: datetime) -> tuple[float, float]:
        """The wind a drone meets at (lon, lat) at ``now``, as (east, north) m/s."""
        x, y = self.constant
        if self.forecast is not None:
            c = self.forecast.conditions([(lon, lat)], now, now)
            if c.wind_mps is not None:
                x, y = wind_vector(c.wind_mps, c.wind_from_deg or 0.0)
        gust = self.gusts.get(drone_id)
        if gust is not None:
            if now < gust.until:
                x, y = x + gust.xy[0], y + gust.xy[1]
            else:
                del self.gusts[drone_id]
        return (x, y)

    def gust(self, drone_id: str, speed_mps: float, from_deg: float, now: datetime, seconds: float) -> None:
        """Add a gust of ``speed_mps`` from ``from_deg`` at the drone for ``seconds`` from ``now``."""
        if not (speed_mps > 0 and seconds > 0 and math.isfinite(from_deg)):
            raise ValueError(f"a gust needs a speed and a duration > 0, got {speed_mps} m/s, {seconds} s")
        self.gusts[drone_id] = Gust(wind_vector(speed_mps, from_deg), now + timedelta(seconds=seconds))
