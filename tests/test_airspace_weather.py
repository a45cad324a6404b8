"""The weather core: Open-Meteo hourly forecasts read in their own units, the worst conditions of a
flight window, go/no-go against a model's limits, and clear errors for documents it cannot read."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from airspace.weather import Conditions, Forecast, WeatherFormatError, assess
from fleet.description import FleetFormatError, WeatherLimits, parse_fleet

CST = timezone(timedelta(hours=8))


def open_meteo(
    *, lon: float = 114.39, lat: float = 36.1, wind_kmh: list[float | None] | None = None, **extra: Any
) -> dict[str, Any]:
    """An Open-Meteo response as the API sends it (wind in km/h, local times, UTC+8), six hours."""
    hours = [f"2026-12-01T{h:02d}:00" for h in range(8, 14)]
    doc: dict[str, Any] = {
        "latitude": lat,
        "longitude": lon,
        "generationtime_ms": 0.1,
        "utc_offset_seconds": 28800,
        "timezone": "Asia/Shanghai",
        "timezone_abbreviation": "GMT+8",
        "elevation": 75.0,
        "hourly_units": {
            "time": "iso8601",
            "wind_speed_10m": "km/h",
            "wind_speed_120m": "km/h",
            "wind_gusts_10m": "km/h",
            "wind_direction_10m": "°",
            "precipitation": "mm",
            "temperature_2m": "°C",
        },
        "hourly": {
            "time": hours,
            "wind_speed_10m": [10.0] * 6,
            "wind_speed_120m": wind_kmh if wind_kmh is not None else [18.0, 18.0, 36.0, 72.0, 18.0, 18.0],
            "wind_gusts_10m": [20.0] * 6,
            "wind_direction_10m": [90] * 6,
            "precipitation": [0.0, 0.0, 0.0, 4.0, 0.0, 0.0],
            "temperature_2m": [5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        },
    }
    doc.update(extra)
    return doc


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 1, hour, minute, tzinfo=CST)


HERE = [(114.39, 36.1)]


def test_units_and_local_times_are_read_as_open_meteo_sends_them() -> None:
    f = Forecast.from_open_meteo(open_meteo())
    assert f.starts == at(8).astimezone(UTC)
    assert f.covers_until == at(14)
    c = f.conditions(HERE, at(8, 10), at(8, 50))  # the hours 08:00 and 09:00
    assert c.wind_mps == pytest.approx(5.0)  # 18 km/h at 120 m, the strongest height
    assert c.gust_mps == pytest.approx(20 / 3.6)
    assert (c.temp_min_c, c.temp_max_c) == (5.0, 6.0)
    assert c.precip_mm_h == 0.0 and c.wind_from_deg == 90


def test_a_window_takes_the_worst_hour_it_touches() -> None:
    f = Forecast.from_open_meteo(open_meteo())
    calm = f.conditions(HERE, at(8), at(9))
    storm = f.conditions(HERE, at(10, 30), at(10, 40))  # between the 10:00 and 11:00 samples
    assert calm.wind_mps == pytest.approx(5.0)
    assert storm.wind_mps == pytest.approx(20.0) and storm.precip_mm_h == 4.0


def test_go_no_go_names_the_quantity_the_limit_and_the_value() -> None:
    f = Forecast.from_open_meteo(open_meteo())
    limits = WeatherLimits()
    assert assess(limits, f.conditions(HERE, at(8), at(9))).go
    verdict = assess(limits, f.conditions(HERE, at(10, 30), at(11, 10)))
    assert not verdict.go
    by = {e.quantity: e for e in verdict.exceeded}
    assert set(by) == {"wind", "precipitation"}
    assert (by["wind"].limit, by["wind"].value) == (12.0, pytest.approx(20.0))
    assert by["wind"].describe() == "wind 20.0 m/s > limit 12.0 m/s"
    cold = assess(WeatherLimits(min_temp_c=6.5), f.conditions(HERE, at(8), at(9)))
    assert [e.describe() for e in cold.exceeded] == ["cold 5.0 °C < limit 6.5 °C"]


def test_beyond_the_forecast_or_a_null_hour_is_unknown_not_calm() -> None:
    f = Forecast.from_open_meteo(open_meteo(wind_kmh=[18.0, None, 18.0, 18.0, 18.0, 18.0]))
    assert f.conditions(HERE, at(9), at(9, 30)).wind_mps is None
    late = f.conditions(HERE, at(13, 30), at(14, 30))
    assert late == Conditions()
    verdict = assess(WeatherLimits(), late)
    assert verdict.go and set(verdict.unknown) == {"wind", "gust", "precipitation", "heat", "cold"}


def test_a_grid_answers_from_the_point_nearest_each_place() -> None:
    west = open_meteo(lon=114.2, wind_kmh=[72.0] * 6)
    east = open_meteo(lon=114.5)
    f = Forecast.from_open_meteo([west, east])
    assert f.conditions([(114.45, 36.1)], at(8), at(9)).wind_mps == pytest.approx(5.0)
    assert f.conditions([(114.25, 36.1)], at(8), at(9)).wind_mps == pytest.approx(20.0)
    # A flight over both takes the worse.
    assert f.conditions([(114.45, 36.1), (114.25, 36.1)], at(8), at(9)).wind_mps == pytest.approx(20.0)


def test_other_units_and_unix_times() -> None:
    doc = open_meteo()
    doc["hourly_units"].update({"wind_speed_10m": "m/s", "wind_speed_120m": "kn", "temperature_2m": "°F"})
    doc["hourly"]["wind_speed_10m"] = [2.0] * 6
    doc["hourly"]["wind_speed_120m"] = [10.0] * 6
    doc["hourly"]["temperature_2m"] = [32.0] * 6
    doc["hourly"]["time"] = [int(at(8 + i).timestamp()) for i in range(6)]
    c = Forecast.from_open_meteo(doc).conditions(HERE, at(8), at(9))
    assert c.wind_mps == pytest.approx(10 * 0.514444)
    assert c.temp_max_c == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(minutely_15={}), "unknown member"),
        (lambda d: d["hourly"].update(cloud_cover=[0] * 6), "unknown variable"),
        (lambda d: d.pop("hourly_units"), "units of the values are unknown"),
        (lambda d: d["hourly_units"].update(wind_speed_10m="beaufort"), "unknown speed unit"),
        (lambda d: d["hourly"]["precipitation"].pop(), "as long as 'time'"),
        (lambda d: d["hourly"]["time"].reverse(), "one hour apart"),
        (lambda d: d["hourly"]["temperature_2m"].__setitem__(2, "warm"), r"temperature_2m\[2\]"),
        (lambda d: d.update(latitude=95), "'latitude' must be a number"),
    ],
)
def test_a_document_it_cannot_read_is_a_clear_error(change: Any, message: str) -> None:
    doc = copy.deepcopy(open_meteo())
    change(doc)
    with pytest.raises(WeatherFormatError, match=message):
        Forecast.from_open_meteo(doc)


def fleet_with(**limits: Any) -> dict[str, Any]:
    model = {
        "cruise_speed_mps": 15,
        "cruise_altitude_m": 120,
        "max_payload_kg": 2,
        "battery_wh": 350,
        "reserve_fraction": 0.2,
        "wh_per_km": 14,
        "wh_per_km_per_kg": 3,
        "service_s": 60,
        "turnaround_s": 300,
    }
    return {
        "models": {"m": model | limits},
        "ports": [{"id": "P", "lon": 114.39, "lat": 36.1, "drones": [{"id": "D", "model": "m"}]}],
    }


def test_fleet_weather_limits_default_validate_and_round_trip() -> None:
    assert parse_fleet(fleet_with()).models["m"].weather == WeatherLimits()
    fleet = parse_fleet(fleet_with(max_wind_mps=10, max_gust_mps=12, max_precip_mm_h=0))
    assert fleet.models["m"].weather == WeatherLimits(10.0, 12.0, 0.0)
    assert parse_fleet(fleet.to_dict()) == fleet
    assert "max_temp_c" not in fleet.to_dict()["models"]["m"]  # defaults stay implicit
    with pytest.raises(FleetFormatError, match=r"'max_gust_mps' .* must be >= max_wind_mps"):
        parse_fleet(fleet_with(max_wind_mps=14, max_gust_mps=12))
    with pytest.raises(FleetFormatError, match=r"'min_temp_c' .* must be below"):
        parse_fleet(fleet_with(min_temp_c=20, max_temp_c=10))
    with pytest.raises(FleetFormatError, match="'max_wind_mps' must be a finite number"):
        parse_fleet(fleet_with(max_wind_mps="strong"))


def test_a_quantity_the_forecast_does_not_give_is_not_checked() -> None:
    doc = open_meteo()
    for name in ("temperature_2m", "precipitation", "wind_gusts_10m"):
        del doc["hourly"][name]
    f = Forecast.from_open_meteo(doc)
    assert f.quantities == {"wind"}
    verdict = assess(WeatherLimits(), f.conditions(HERE, at(8), at(9)), f.quantities)
    assert verdict.go and verdict.unknown == ()
    stormy = assess(WeatherLimits(), f.conditions(HERE, at(10, 30), at(10, 40)), f.quantities)
    assert [e.quantity for e in stormy.exceeded] == ["wind"]
    # Given but null for an hour: unknown, not calm.
    doc["hourly"]["wind_speed_10m"][0] = None
    f = Forecast.from_open_meteo(doc)
    assert assess(WeatherLimits(), f.conditions(HERE, at(8), at(9)), f.quantities).unknown == ("wind",)
