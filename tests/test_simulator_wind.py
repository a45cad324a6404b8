"""The simulator's weather: the wind of the forecast the dispatcher reads (at the drone's height,
from where it blows), a constant wind where there is no forecast, gusts injected at one drone for a
while, and the rain monitor reporting flights in more precipitation than the model is rated for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airspace.weather import Forecast
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import load_fleet
from fleet.link import FleetLink
from fleet.messages import Landed
from simulator.fleet_sim import SimulatedFleet
from simulator.rain import RainMonitor
from simulator.wind import WindField, wind_vector
from tests.conftest import EXAMPLES
from tests.fleet_helpers import wait_until
from tests.test_simulator_flight import DETOUR, DROPOFF, PICKUP, mission

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


def rainy(mm_h: list[float], around: datetime) -> Forecast:
    """Four hours from the hour before ``around``, dry wind, ``mm_h`` of precipitation."""
    hours = [(around + timedelta(hours=h)).strftime("%Y-%m-%dT%H:00") for h in range(-1, 3)]
    return Forecast.from_open_meteo(
        {
            "latitude": 36.1,
            "longitude": 114.39,
            "utc_offset_seconds": 0,
            "hourly_units": {"wind_speed_120m": "m/s", "precipitation": "mm"},
            "hourly": {"time": hours, "wind_speed_120m": [0.0] * 4, "precipitation": mm_h},
        }
    )


def test_the_rain_monitor_reports_each_exposure_once() -> None:
    monitor = RainMonitor(rainy([0.0, 0.0, 3.0, 0.2], T0 + timedelta(minutes=30)))
    rain_at = T0 + timedelta(minutes=10)  # the hour up to 02:00 has 3 mm
    args = {"limit_mm_h": 0.5, "mission_id": "M1"}
    assert monitor.check("D01", 114.39, 36.1, 0.0, rain_at, flying=False, **args) is None  # on the ground
    first = monitor.check("D01", 114.39, 36.1, 120.0, rain_at, flying=True, **args)
    assert first is not None and (first.precip_mm_h, first.limit_mm_h, first.mission_id) == (3.0, 0.5, "M1")
    assert (
        monitor.check("D01", 114.39, 36.1, 120.0, rain_at + timedelta(minutes=5), flying=True, **args) is None
    )
    assert monitor.check("D01", 114.39, 36.1, 120.0, rain_at, flying=True, limit_mm_h=5.0) is None  # rated
    assert monitor.check("D01", 114.39, 36.1, 120.0, rain_at, flying=True, **args) is not None  # again
    later = T0 + timedelta(hours=1, minutes=10)  # 0.2 mm: within the rating
    assert monitor.check("D02", 114.39, 36.1, 120.0, later, flying=True, **args) is None
    beyond = T0 + timedelta(hours=5)
    assert monitor.check("D02", 114.39, 36.1, 120.0, beyond, flying=True, **args) is None  # unknown
    assert monitor.count == 2 and [e.drone_id for e in monitor.exposures] == ["D01", "D01"]


async def test_a_drone_flying_in_rain_beyond_its_rating_is_reported(
    broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(300.0)
    fleet = load_fleet(EXAMPLES / "fleet.json")
    limit = fleet.model_of(fleet.drones[0]).weather.max_precip_mm_h
    now = clock.now()
    sim = SimulatedFleet(
        fleet, broker, clock=clock, prefix=prefix, drone_ids=["D01"], weather=rainy([0.0, 0.0, 3.0, 3.0], now)
    )
    port = fleet.port("port-service-centre")
    async with (
        FleetLink(broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock) as link,
        sim,
    ):
        assert sim.rain_exposures == []  # on its pad in the rain: not flying
        upload, start = mission(link, "D01", [PICKUP, DETOUR, DROPOFF, DETOUR, (port.lon, port.lat)])
        assert (await link.send(upload)).accepted
        assert (await link.send(start)).accepted
        await sim.wait_event("D01", Landed, timeout_s=20)
    (exposure,) = sim.rain_exposures  # once for the whole flight
    assert exposure.drone_id == "D01" and exposure.mission_id == "M1"
    assert exposure.precip_mm_h == 3.0 and exposure.limit_mm_h == limit
    assert sim.rain is not None and sim.rain.count == 1
