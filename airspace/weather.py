"""Weather for go/no-go: an hourly forecast in Open-Meteo's JSON format, and what it means for a
flight window.

Pure: takes the decoded JSON (one location object, or a list of them for a small grid) and answers
questions about it; reading the source (a file or a URL) and re-reading it are the caller's.

The format is Open-Meteo's hourly forecast (``https://api.open-meteo.com/v1/forecast?...&hourly=``):
``hourly.time`` with any of ``wind_speed_10m``, ``wind_speed_80m``, ``wind_speed_120m``,
``wind_gusts_10m``, ``wind_direction_10m``, ``precipitation`` and ``temperature_2m``, their units
in ``hourly_units`` (wind in ``km/h`` as Open-Meteo sends by default, ``m/s``, ``mph`` or ``kn``;
precipitation in ``mm`` or ``inch``; temperature in ``°C`` or ``°F``), times as ISO local times
with ``utc_offset_seconds`` or as Unix seconds. Every value is converted to SI here. A ``null``
value is an hour that quantity is unknown.

Conservative by construction: a window's conditions are the worst of every forecast hour that
touches it, at the forecast point nearest each place the flight passes; the wind is the strongest
of the heights given (a drone climbs through all of them). An hour the forecast does not cover,
or a ``null`` value, is *unknown*, and the caller's policy decides what unknown means; a quantity
the forecast does not give at all (no temperatures asked for, say) is not checked.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

HOUR = timedelta(hours=1)

WIND_SPEEDS = ("wind_speed_10m", "wind_speed_80m", "wind_speed_120m")
WIND_LEVELS_M = {"wind_speed_10m": 10.0, "wind_speed_80m": 80.0, "wind_speed_120m": 120.0}
# Above the highest level given the wind grows with height by the power law of open country
# (exponent 1/7); below the lowest it is taken as the lowest (no weaker: conservative for energy).
SHEAR_EXPONENT = 1.0 / 7.0
VARIABLES = (*WIND_SPEEDS, "wind_gusts_10m", "wind_direction_10m", "precipitation", "temperature_2m")
# Members of an Open-Meteo location object that carry no weather this module uses.
_META = {
    "latitude",
    "longitude",
    "elevation",
    "generationtime_ms",
    "utc_offset_seconds",
    "timezone",
    "timezone_abbreviation",
    "hourly",
    "hourly_units",
    "location_id",
}
_SPEED = {"km/h": 1 / 3.6, "m/s": 1.0, "mph": 0.44704, "kn": 0.514444, "kt": 0.514444}
_LENGTH = {"mm": 1.0, "inch": 25.4}


class WeatherFormatError(ValueError):
    """A forecast document is not one this module can read; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Conditions:
    """Weather over a place and time span, in SI units; None: unknown."""

    wind_mps: float | None = None  # sustained, strongest of the heights given
    gust_mps: float | None = None
    precip_mm_h: float | None = None
    temp_min_c: float | None = None
    temp_max_c: float | None = None
    wind_from_deg: float | None = None  # where the strongest wind comes from

    def worst(self, other: Conditions) -> Conditions:
        """The worse of the two on every quantity (unknown on either side stays unknown)."""
        return Conditions(
            wind_mps=_pick(max, self.wind_mps, other.wind_mps),
            gust_mps=_pick(max, self.gust_mps, other.gust_mps),
            precip_mm_h=_pick(max, self.precip_mm_h, other.precip_mm_h),
            temp_min_c=_pick(min, self.temp_min_c, other.temp_min_c),
            temp_max_c=_pick(max, self.temp_max_c, other.temp_max_c),
            wind_from_deg=(
                self.wind_from_deg
                if (self.wind_mps or 0.0) >= (other.wind_mps or 0.0)
                else other.wind_from_deg
            ),
        )


def _pick(f: Any, a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else float(f(a, b))


@dataclass(frozen=True, slots=True)
class WindHour:
    """One forecast hour's sustained wind at one point, from the ground up to a height: the least
    and the strongest speed on the way (m/s), and where it blows from (None: not given)."""

    low_mps: float
    high_mps: float
    from_deg: float | None


def speed_at_height(levels: Sequence[tuple[float, float]], height_m: float) -> float:
    """The sustained wind at ``height_m`` from the speeds at the forecast's ``levels`` ((height,
    m/s), sorted by height): linear between two levels, the lowest below it, and above the
    highest the power law ``v(h) = v_top (h / h_top) ** (1/7)``."""
    if not levels:
        raise ValueError("no wind level")
    if height_m <= levels[0][0]:
        return levels[0][1]
    for (h0, v0), (h1, v1) in itertools.pairwise(levels):
        if height_m <= h1:
            return v0 + (v1 - v0) * (height_m - h0) / (h1 - h0)
    top_h, top_v = levels[-1]
    return top_v * (height_m / top_h) ** SHEAR_EXPONENT


class Limits(Protocol):
    """What a drone model is rated for (``fleet.description.WeatherLimits``, read from FLEET.json)."""

    @property
    def max_wind_mps(self) -> float: ...
    @property
    def max_gust_mps(self) -> float: ...
    @property
    def max_precip_mm_h(self) -> float: ...
    @property
    def min_temp_c(self) -> float: ...
    @property
    def max_temp_c(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Exceedance:
    """One quantity beyond its limit: ``wind``, ``gust``, ``precipitation``, ``cold`` or ``heat``."""

    quantity: str
    limit: float
    value: float

    def describe(self) -> str:
        """``wind 17.2 m/s > limit 12.0 m/s``, for people."""
        unit = {"wind": "m/s", "gust": "m/s", "precipitation": "mm/h"}.get(self.quantity, "°C")
        sign = "<" if self.quantity == "cold" else ">"
        return f"{self.quantity} {self.value:.1f} {unit} {sign} limit {self.limit:.1f} {unit}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Go or no-go for a flight window: what is exceeded, and what is not known."""

    exceeded: tuple[Exceedance, ...] = ()
    unknown: tuple[str, ...] = ()  # quantities the forecast does not give for the window

    @property
    def go(self) -> bool:
        """Nothing is beyond the limits (unknown quantities are the caller's policy)."""
        return not self.exceeded


QUANTITIES = ("wind", "gust", "precipitation", "heat", "cold")


def assess(limits: Limits, conditions: Conditions, quantities: Collection[str] = QUANTITIES) -> Verdict:
    """Compare ``conditions`` with ``limits``, for the ``quantities`` the forecast gives (a forecast
    without temperatures, say, is not held for them: see :attr:`Forecast.quantities`)."""
    checks = (
        ("wind", conditions.wind_mps, limits.max_wind_mps, 1),
        ("gust", conditions.gust_mps, limits.max_gust_mps, 1),
        ("precipitation", conditions.precip_mm_h, limits.max_precip_mm_h, 1),
        ("heat", conditions.temp_max_c, limits.max_temp_c, 1),
        ("cold", conditions.temp_min_c, limits.min_temp_c, -1),
    )
    exceeded, unknown = [], []
    for quantity, value, limit, sign in checks:
        if quantity not in quantities:
            continue
        if value is None:
            unknown.append(quantity)
        elif sign * (value - limit) > 0:
            exceeded.append(Exceedance(quantity, limit, value))
    return Verdict(tuple(exceeded), tuple(unknown))


@dataclass(frozen=True, slots=True)
class _Series:
    """One forecast point: hourly values (SI) by variable, on ``start + i hours``."""

    lon: float
    lat: float
    start: datetime  # aware, UTC
    values: dict[str, tuple[float | None, ...]]

    @property
    def hours(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)


class Forecast:
    """An hourly forecast at one or more points (Open-Meteo JSON)."""

    def __init__(self, points: Sequence[_Series]) -> None:
        if not points:
            raise WeatherFormatError("the forecast has no location")
        self._points = tuple(points)

    @classmethod
    def from_open_meteo(cls, data: Any) -> Forecast:
        """Read a decoded Open-Meteo response (a location object or a list of them)."""
        locations = data if isinstance(data, list) else [data]
        return cls(
            [
                _parse_location(loc, f"[{i}]" if isinstance(data, list) else "$")
                for i, loc in enumerate(locations)
            ]
        )

    @property
    def quantities(self) -> frozenset[str]:
        """The quantities every point of the forecast gives (of :data:`QUANTITIES`)."""
        sources = {
            "wind": WIND_SPEEDS,
            "gust": ("wind_gusts_10m",),
            "precipitation": ("precipitation",),
            "heat": ("temperature_2m",),
            "cold": ("temperature_2m",),
        }
        return frozenset(
            q for q, names in sources.items() if all(any(n in p.values for n in names) for p in self._points)
        )

    @property
    def covers_until(self) -> datetime:
        """The end of the last forecast hour every point has."""
        return min(p.start + p.hours * HOUR for p in self._points)

    @property
    def starts(self) -> datetime:
        """The first forecast hour every point has."""
        return max(p.start for p in self._points)

    def _nearest(self, lon: float, lat: float) -> _Series:
        k = math.cos(math.radians(lat))
        return min(self._points, key=lambda p: ((p.lon - lon) * k) ** 2 + (p.lat - lat) ** 2)

    def winds(self, start: datetime, end: datetime, height_m: float) -> tuple[WindHour | None, ...]:
        """The wind from the ground up to ``height_m`` at every forecast point, in every forecast
        hour that touches ``[start, end]`` (aware datetimes); None for an hour whose wind is not
        known (beyond the forecast, or a ``null`` speed)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        out: list[WindHour | None] = []
        for s in self._points:
            first = math.floor((start - s.start) / HOUR)
            last = math.ceil((end - s.start) / HOUR)
            out.extend(_wind_hour(s, i, height_m) for i in range(first, max(first, last) + 1))
        return tuple(out)

    def wind_at(self, lon: float, lat: float, height_m: float, when: datetime) -> tuple[float, float] | None:
        """The wind (east, north) in m/s at ``height_m`` at the forecast point nearest (lon, lat) at
        ``when``: linear in time between the hourly samples (None: not known then). A wind
        without a direction is taken as blowing from the north."""
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        s = self._nearest(lon, lat)
        at = (when - s.start) / HOUR
        first = math.floor(at)
        k = at - first
        samples = []
        for i in (first, first + 1) if k > 0 else (first, first):
            speed = _speed_of(s, i, height_m)
            if speed is None:
                return None
            samples.append(wind_vector(speed, _direction(s, i) or 0.0))
        (e0, n0), (e1, n1) = samples
        return (e0 + (e1 - e0) * k, n0 + (n1 - n0) * k)

    def precipitation_at(self, lon: float, lat: float, when: datetime) -> float | None:
        """The precipitation (mm/h) at the forecast point nearest (lon, lat) at ``when``: the
        value of the hour it falls in (Open-Meteo's value at a time is the hour before it); None
        where the forecast does not give it."""
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        s = self._nearest(lon, lat)
        values = s.values.get("precipitation")
        i = math.ceil((when - s.start) / HOUR)
        return None if values is None or not 0 <= i < len(values) else values[i]

    def conditions(self, places: Iterable[tuple[float, float]], start: datetime, end: datetime) -> Conditions:
        """The worst conditions at the forecast points nearest ``places`` over every forecast hour
        that touches ``[start, end]`` (aware datetimes)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end < start:
            raise ValueError("end is before start")
        series = {id(s): s for s in (self._nearest(lon, lat) for lon, lat in places)}
        if not series:
            raise ValueError("no place to look at")
        result: Conditions | None = None
        for s in series.values():
            c = _conditions_of(s, start, end)
            result = c if result is None else result.worst(c)
        assert result is not None
        return result


def wind_vector(speed_mps: float, from_deg: float) -> tuple[float, float]:
    """The (east, north) velocity of a wind of ``speed_mps`` blowing *from* ``from_deg`` (0 = north)."""
    rad = math.radians(from_deg)
    return (-speed_mps * math.sin(rad), -speed_mps * math.cos(rad))


def _speed_of(s: _Series, i: int, height_m: float) -> float | None:
    """The sustained wind at ``height_m`` in hour ``i`` of ``s`` (None: not known)."""
    if not 0 <= i < s.hours:
        return None
    levels = []
    for name, h in WIND_LEVELS_M.items():
        if name in s.values:
            v = s.values[name][i]
            if v is None:
                return None
            levels.append((h, v))
    return speed_at_height(levels, height_m) if levels else None


def _direction(s: _Series, i: int) -> float | None:
    values = s.values.get("wind_direction_10m")
    return None if values is None or not 0 <= i < len(values) else values[i]


def _wind_hour(s: _Series, i: int, height_m: float) -> WindHour | None:
    """Hour ``i`` of ``s``: the least and strongest wind between the ground and ``height_m``
    (the levels below it and the height itself: the speed is linear between levels)."""
    top = _speed_of(s, i, height_m)
    if top is None:
        return None
    speeds = [top, _speed_of(s, i, 0.0) or 0.0]
    speeds += [
        v for name, h in WIND_LEVELS_M.items() if h < height_m and (v := _speed_of(s, i, h)) is not None
    ]
    return WindHour(min(speeds), max(speeds), _direction(s, i))


def _conditions_of(s: _Series, start: datetime, end: datetime) -> Conditions:
    # Hourly values are samples on the hour (precipitation: the sum over the hour before); a window
    # between two samples takes both.
    first = math.floor((start - s.start) / HOUR)
    last = math.ceil((end - s.start) / HOUR)
    if first < 0 or last >= s.hours:
        return Conditions()  # beyond the forecast: unknown

    def worst(name: str, f: Any = max) -> float | None:
        values = s.values.get(name)
        if values is None:
            return None
        window = values[first : last + 1]
        if any(v is None for v in window):
            return None
        return float(f(window))

    winds = [worst(n) for n in WIND_SPEEDS if n in s.values]
    wind = None if not winds or None in winds else max(w for w in winds if w is not None)
    direction = None
    if wind is not None and "wind_direction_10m" in s.values:
        hours = s.values["wind_direction_10m"][first : last + 1]
        direction = next((h for h in hours if h is not None), None)
    return Conditions(
        wind_mps=wind,
        gust_mps=worst("wind_gusts_10m"),
        precip_mm_h=worst("precipitation"),
        temp_min_c=worst("temperature_2m", min),
        temp_max_c=worst("temperature_2m"),
        wind_from_deg=direction,
    )


def _parse_location(loc: Any, where: str) -> _Series:
    if not isinstance(loc, dict):
        raise WeatherFormatError(f"{where}: a location must be a JSON object")
    unknown = sorted(set(loc) - _META)
    if unknown:
        raise WeatherFormatError(f"{where}: unknown member(s) {', '.join(map(repr, unknown))}")
    lon, lat = _coord(loc, "longitude", where, 180), _coord(loc, "latitude", where, 90)
    hourly, units = loc.get("hourly"), loc.get("hourly_units")
    if not isinstance(hourly, dict):
        raise WeatherFormatError(f"{where}: 'hourly' must be an object of hourly series")
    if not isinstance(units, dict):
        raise WeatherFormatError(f"{where}: 'hourly_units' is missing: the units of the values are unknown")
    names = sorted(set(hourly) - {"time"})
    strange = [n for n in names if n not in VARIABLES]
    if strange:
        raise WeatherFormatError(
            f"{where}.hourly: unknown variable(s) {', '.join(map(repr, strange))}; "
            f"known: {', '.join(VARIABLES)}"
        )
    offset = loc.get("utc_offset_seconds", 0)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise WeatherFormatError(f"{where}: 'utc_offset_seconds' must be an integer")
    times = _times(hourly.get("time"), offset, f"{where}.hourly.time")
    values: dict[str, tuple[float | None, ...]] = {}
    for name in names:
        series = hourly[name]
        if not isinstance(series, list) or len(series) != len(times):
            raise WeatherFormatError(
                f"{where}.hourly.{name}: must be a list as long as 'time' ({len(times)})"
            )
        scale, shift = _unit(name, units.get(name), f"{where}.hourly_units.{name}")
        values[name] = tuple(
            _value(v, scale, shift, f"{where}.hourly.{name}[{i}]") for i, v in enumerate(series)
        )
    return _Series(lon, lat, times[0], values)


def _coord(loc: dict[str, Any], key: str, where: str, bound: float) -> float:
    v = loc.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or abs(v) > bound:
        raise WeatherFormatError(f"{where}: '{key}' must be a number within ±{bound:g}, got {v!r}")
    return float(v)


def _times(raw: Any, offset: int, where: str) -> list[datetime]:
    if not isinstance(raw, list) or not raw:
        raise WeatherFormatError(f"{where}: must be a non-empty list of hours")
    times: list[datetime] = []
    for i, t in enumerate(raw):
        if isinstance(t, int) and not isinstance(t, bool):
            times.append(datetime.fromtimestamp(t, UTC))
        elif isinstance(t, str):
            try:
                local = datetime.fromisoformat(t)
            except ValueError:
                raise WeatherFormatError(f"{where}[{i}]: not an ISO time: {t!r}") from None
            aware = local if local.tzinfo else local.replace(tzinfo=UTC) - timedelta(seconds=offset)
            times.append(aware.astimezone(UTC))
        else:
            raise WeatherFormatError(f"{where}[{i}]: a time is an ISO string or Unix seconds, got {t!r}")
    for i in range(1, len(times)):
        if times[i] - times[i - 1] != HOUR:
            raise WeatherFormatError(f"{where}[{i}]: hours must follow one another, one hour apart")
    return times


def _unit(name: str, unit: Any, where: str) -> tuple[float, float]:
    """(scale, shift) to SI for ``name`` given in ``unit``."""
    if name.startswith("wind_direction"):
        if unit not in ("°", "deg"):
            raise WeatherFormatError(f"{where}: a direction is in degrees ('°'), got {unit!r}")
        return 1.0, 0.0
    if name.startswith("wind_"):
        if unit not in _SPEED:
            raise WeatherFormatError(f"{where}: unknown speed unit {unit!r}; known: {', '.join(_SPEED)}")
        return _SPEED[unit], 0.0
    if name == "precipitation":
        if unit not in _LENGTH:
            raise WeatherFormatError(f"{where}: unknown precipitation unit {unit!r}; known: mm, inch")
        return _LENGTH[unit], 0.0
    if unit in ("°C", "C"):
        return 1.0, 0.0
    if unit in ("°F", "F"):
        return 5 / 9, -32 * 5 / 9
    raise WeatherFormatError(f"{where}: unknown temperature unit {unit!r}; known: °C, °F")


def _value(v: Any, scale: float, shift: float, where: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise WeatherFormatError(f"{where}: must be a number or null, got {v!r}")
    return float(v) * scale + shift
