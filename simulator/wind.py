"""The wind the simulated drones fly in: a constant wind, or the hourly forecast the dispatcher
reads (:mod:`airspace.weather`, so the planned and the flown weather are the same), plus gusts
injected as faults.

The forecast's wind is taken at the drone's height (between Open-Meteo's 10, 80 and 120 m levels)
at the forecast point nearest to it, linear in time between the hourly samples: the wind the
planner's leg energy bounds (:mod:`routing.wind_energy`). The simulator keeps each drone's ground
track and speed as commanded and charges the battery for the air it flies through by the same law
(``simulator.flight``): a head wind costs energy, not time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from airspace.weather import Forecast, wind_vector

__all__ = ["Gust", "WindField", "wind_vector"]


@dataclass(frozen=True, slots=True)
class Gust:
    """An injected gust: a wind added to the drone's for a while."""

    xy: tuple[float, float]
    until: datetime


@dataclass(slots=True)
class WindField:
    """The wind at a place, height and time: the forecast's or a constant one, plus any gust
    injected at a drone."""

    constant: tuple[float, float] = (0.0, 0.0)
    forecast: Forecast | None = None
    gusts: dict[str, Gust] = field(default_factory=dict)

    def at(
        self, drone_id: str, lon: float, lat: float, height_m: float, now: datetime
    ) -> tuple[float, float]:
        """The wind a drone meets at (lon, lat) ``height_m`` above the ground at ``now``, as
        (east, north) m/s (where the forecast does not know it: the constant wind)."""
        x, y = self.constant
        if self.forecast is not None:
            known = self.forecast.wind_at(lon, lat, max(0.0, height_m), now)
            if known is not None:
                x, y = known
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
