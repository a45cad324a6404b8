"""The simulator's wind: the forecast the dispatcher reads (at the drone's height, from where it
blows), a constant wind where there is no forecast, and gusts injected at one drone for a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airspace.weather import Forecast
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress
from fleet.description import load_fleet
from simulator.fleet_sim import SimulatedFleet
from simulator.wind import WindField, wind_vector
from tests.conftest import EXAMPLES
from tests.fleet_helpers import wait_until

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def forecast(kmh: float, from_deg: float, around: datetime = T0) -> Forecast:
    hours = [(around + timedelta(hours=h)).strftime("%Y-%m-%dT%H:00") for h in range(-1, 3)]
    return Forecast.from_open_meteo(
        {
            "latitude": 36.1,
            "longitude": 114.39,
            "utc_offset_seconds": 0,
            "hourly_units": {"wind_speed_10m": "km/h", "wind_speed_120m": "km/h", "wind_direction_10m": "°"},
            "hourly": {
                "time": hours,
                "wind_speed_10m": [kmh / 2] * 4,
                "wind_speed_120m": [kmh] * 4,
                "wind_direction_10m": [from_deg] * 4,
            },
        }
    )


def test_wind_vector_points_where_the_wind_blows_to() -> None:
    east, north = wind_vector(10.0, 270.0)  # from the west: blows east
    assert east == pytest.approx(10.0) and north == pytest.approx(0.0, abs=1e-9)


def test_the_forecast_wind_replaces_the_constant_one() -> None:
    field = WindField(constant=(1.0, 1.0), forecast=forecast(36.0, 0.0))  # 10 m/s from the north
    east, north = field.at("D01", 114.39, 36.1, 120.0, T0)
    assert east == pytest.approx(0.0, abs=1e-9) and north == pytest.approx(-10.0)
    assert WindField(constant=(1.0, 2.0)).at("D01", 114.39, 36.1, 120.0, T0) == (1.0, 2.0)
    # Beyond the forecast the wind is unknown there: the constant one applies.
    assert field.at("D01", 114.39, 36.1, 120.0, T0 + timedelta(hours=5)) == (1.0, 1.0)


def test_a_gust_adds_to_the_wind_for_its_time_at_its_drone_only() -> None:
    field = WindField(forecast=forecast(36.0, 0.0))
    field.gust("D01", 8.0, 90.0, T0, seconds=30)  # 8 m/s from the east
    assert field.at("D01", 114.39, 36.1, 120.0, T0 + timedelta(seconds=10)) == pytest.approx((-8.0, -10.0))
    assert field.at("D02", 114.39, 36.1, 120.0, T0 + timedelta(seconds=10)) == pytest.approx((0.0, -10.0))
    assert field.at("D01", 114.39, 36.1, 120.0, T0 + timedelta(seconds=31)) == pytest.approx((0.0, -10.0))
    with pytest.raises(ValueError, match="a gust needs"):
        field.gust("D01", 0.0, 90.0, T0, seconds=30)


async def test_simulated_drones_fly_in_the_forecast_wind_and_a_gust(
    broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(1.0)
    fleet = load_fleet(EXAMPLES / "fleet.json")
    sim = SimulatedFleet(
        fleet, broker, clock=clock, prefix=prefix, drone_ids=["D01"], weather=forecast(36.0, 0.0, clock.now())
    )
    async with sim:
        drone = sim.drone("D01")
        await wait_until(lambda: drone.wind_xy != (0.0, 0.0), what="the forecast wind at the drone")
        assert drone.alt == 0.0  # on its pad: the wind of the lowest level, 10 m
        assert drone.wind_xy == pytest.approx((0.0, -5.0), abs=1e-6)
        sim.inject_gust("D01", 8.0, 90.0, seconds=600)
        await wait_until(lambda: drone.wind_xy[0] < -7.9, what="the gust at the drone")
        assert drone.wind_xy == pytest.approx((-8.0, -5.0), abs=1e-6)
