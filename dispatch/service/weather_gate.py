"""Weather go/no-go for the dispatcher: whether a trip may take off, and if not, why.

The gate holds what the dispatcher knows of the weather: the latest forecast read from the
source (``dispatch.weather_feed`` reads it), whether that source is healthy, and an operator's
grounding of the whole area (a typhoon). It does no I/O: planning asks it about each trip before
committing it, and a trip whose flight window meets conditions beyond its model's limits (or
unknown weather, where the area's policy is to hold) stays on the ground, its requests accepted
and saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from airspace.weather import Forecast, Verdict, assess
from fleet.description import WeatherLimits

UnknownPolicy = Literal["hold", "fly"]
HOLD_REASON = "weather_hold"


@dataclass(frozen=True, slots=True)
class WeatherStatus:
    """What the dashboard and ``/health`` show of the weather."""

    source: str | None  # None: no weather source configured
    read_at: datetime | None  # clock time of the last good read
    covers_until: datetime | None  # the end of the forecast read
    problem: str | None  # why the weather is unknown (source unreadable or stale), or None
    warning: str | None  # the last read failed, but the forecast before it is still fresh
    grounded: str | None  # the operator's reason while the area is grounded


class WeatherGate:
    """The dispatcher's weather knowledge and its go/no-go for trips."""

    def __init__(self, unknown: UnknownPolicy = "hold") -> None:
        self.unknown: UnknownPolicy = unknown
        self.source: str | None = None
        self.forecast: Forecast | None = None
        self.read_at: datetime | None = None
        self.problem: str | None = None
        self.warning: str | None = None
        self.grounded: str | None = None

    def configure(self, source: str, unknown: UnknownPolicy) -> None:
        """Go/no-go from now on uses the forecast of ``source`` (none read yet: unknown)."""
        self.source, self.unknown = source, unknown
        self.problem = "no forecast read yet"

    def update(self, forecast: Forecast, now: datetime) -> None:
        """A forecast was read at ``now``."""
        self.forecast, self.read_at, self.warning = forecast, now, None
        self.problem = None if forecast.covers_until > now else "the forecast read has no hour left"

    def failed(self, problem: str, *, stale: bool) -> None:
        """The source could not be read or understood. While the last forecast is fresh it is
        still used (a warning); once ``stale``, the weather is unknown."""
        if stale:
            self.problem, self.warning = problem, None
        else:
            self.warning = problem

    def energy_forecast(self) -> Forecast | None:
        """The forecast whose wind goes into the legs' energy (:mod:`routing.wind_energy`); None
        without a source or while the weather is unknown (calm air: the gate decides whether
        anything flies in it)."""
        return self.forecast if self.source is not None and self.problem is None else None

    def status(self) -> WeatherStatus:
        """The weather as the operators see it."""
        until = self.forecast.covers_until if self.forecast is not None else None
        return WeatherStatus(self.source, self.read_at, until, self.problem, self.warning, self.grounded)

    def hold(
        self, limits: WeatherLimits, places: Iterable[tuple[float, float]], start: datetime, end: datetime
    ) -> str | None:
        """Why a flight over ``places`` (lon, lat) from ``start`` to ``end`` may not take off
        (``weather_hold: ...``), or None when it may."""
        if self.grounded is not None:
            return f"{HOLD_REASON}: area grounded by an operator ({self.grounded})"
        if self.source is None:
            return None  # no weather source: the weather is not part of the decision
        verdict = self._verdict(limits, places, start, end)
        if verdict is not None:
            if verdict.exceeded:
                return _exceeded(verdict)
            if not verdict.unknown or self.unknown == "fly":
                return None
            return f"{HOLD_REASON}: {', '.join(verdict.unknown)} unknown for the flight"
        if self.unknown == "fly":
            return None
        return f"{HOLD_REASON}: weather unknown ({self.problem})"

    def ahead(
        self, limits: WeatherLimits, places: Iterable[tuple[float, float]], start: datetime, end: datetime
    ) -> str | None:
        """Why a drone in the air should turn back: the forecast for the rest of its flight is beyond
        its model's limits (``weather_hold: ...``), or None. Unknown weather and a grounding keep
        drones on the ground but never call back one in the air."""
        verdict = self._verdict(limits, places, start, end) if self.source is not None else None
        return _exceeded(verdict) if verdict is not None and verdict.exceeded else None

    def _verdict(
        self, limits: WeatherLimits, places: Iterable[tuple[float, float]], start: datetime, end: datetime
    ) -> Verdict | None:
        """The forecast's verdict for the flight, or None while the weather is unknown."""
        if self.forecast is None or self.problem is not None:
            return None
        conditions = self.forecast.conditions(list(places), start, end)
        return assess(limits, conditions, self.forecast.quantities)


def _exceeded(verdict: Verdict) -> str:
    return f"{HOLD_REASON}: " + "; ".join(e.describe() for e in verdict.exceeded)
