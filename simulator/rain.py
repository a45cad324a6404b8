"""The rain monitor: does a simulated drone fly in more precipitation than its model is rated for?

It reads the precipitation of the forecast the drones fly in (the file the dispatcher's
``--weather`` reads: :meth:`airspace.weather.Forecast.precipitation_at`, the hour at the forecast
point nearest the drone) and compares it with the model's ``max_precip_mm_h``
(``fleet.description.WeatherLimits``). Like the airspace monitor it is an oracle for the tests and
the demo, knowing nothing of the dispatcher's decisions: a drone in the air (from take-off to
touch-down) in precipitation beyond its rating is reported once per exposure, which ends when it
lands or the rain falls back within the rating.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from airspace.weather import Forecast

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RainExposure:
    """Where and when a drone began flying in precipitation beyond its model's rating."""

    drone_id: str
    ts: datetime
    lon: float
    lat: float
    alt_m: float
    mission_id: str | None
    precip_mm_h: float
    limit_mm_h: float


class RainMonitor:
    """Watches the drones' flights against the forecast's precipitation."""

    def __init__(self, forecast: Forecast) -> None:
        self.forecast = forecast
        self.exposures: list[RainExposure] = []
        self._exposed: set[str] = set()

    def check(
        self,
        drone_id: str,
        lon: float,
        lat: float,
        alt_m: float,
        now: datetime,
        *,
        flying: bool,
        limit_mm_h: float,
        mission_id: str | None = None,
    ) -> RainExposure | None:
        """The exposure that begins now, if the drone is in the air where the precipitation exceeds
        ``limit_mm_h`` and was not already (None otherwise; unknown precipitation is none)."""
        mm = self.forecast.precipitation_at(lon, lat, now) if flying else None
        if mm is None or mm <= limit_mm_h:
            self._exposed.discard(drone_id)
            return None
        if drone_id in self._exposed:
            return None
        self._exposed.add(drone_id)
        exposure = RainExposure(drone_id, now, lon, lat, round(alt_m, 2), mission_id, mm, limit_mm_h)
        self.exposures.append(exposure)
        log.error(
            "drone %s flies in %.1f mm/h of precipitation (rated for %.1f mm/h) at %s",
            drone_id,
            mm,
            limit_mm_h,
            now.isoformat(),
        )
        return exposure

    @property
    def count(self) -> int:
        """How many exposures began."""
        return len(self.exposures)
