"""Weather go/no-go in the running system (real broker, SQLite and PostgreSQL): with a forecast
beyond the drones' limits nothing takes off, the accepted request says why (the quantity, the limit
and the value, audited once), and when a new forecast says the wind has dropped it is flown. The
gate's policy for unknown weather and an operator's grounding are checked on the gate itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airspace.weather import Forecast
from dispatch.harness import SIM_START, request, running_system
from dispatch.service.solver_pool import SolverPool
from dispatch.service.weather_gate import WeatherGate
from dispatch.settings.model import WeatherSettings
from dispatch.store import Store
from dispatch.weather_feed import weather_watching
from fleet.connection import BrokerAddress
from fleet.description import WeatherLimits
from fleet.messages import Landed
from tests.dispatcher_fixtures import states


def forecast(wind_120m_kmh: float, *, start: datetime = SIM_START, hours: int = 6) -> dict[str, Any]:
    """An Open-Meteo response for the sample area, in UTC, wind in km/h."""
    return {
        "latitude": 36.10,
        "longitude": 114.39,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "hourly_units": {
            "time": "iso8601",
            "wind_speed_120m": "km/h",
            "wind_gusts_10m": "km/h",
            "precipitation": "mm",
            "temperature_2m": "°C",
        },
        "hourly": {
            "time": [(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M") for h in range(hours)],
            "wind_speed_120m": [wind_120m_kmh] * hours,
            "wind_gusts_10m": [30.0] * hours,
            "precipitation": [0.0] * hours,
            "temperature_2m": [8.0] * hours,
        },
    }


async def test_wind_beyond_the_limit_holds_the_take_off_until_it_drops(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, tmp_path: Path
) -> None:
    source = tmp_path / "forecast.json"
    source.write_text(json.dumps(forecast(wind_120m_kmh=72.0)))  # 20 m/s at cruise height
    async with running_system(store, broker, prefix, drones=2, speed=60.0, pool=solver_pool) as system:
        d = system.dispatcher
        settings = WeatherSettings(source=str(source), refresh_s=3600.0)
        async with weather_watching(d, settings) as feed:
            assert feed is not None and d.weather.status().problem is None
            filed = await d.submit(request("service-centre", "intermediate-court"))

            async def held() -> bool:
                return (await store.requests.get(filed.id)).state_reason is not None

            await d.wait_until(held, timeout_s=30)
            view = await store.requests.get(filed.id)
            assert view.state == "accepted"
            assert view.state_reason == "weather_hold: wind 20.0 m/s > limit 12.0 m/s"
            assert not d.missions and d.stats.weather_holds >= 1
            d.wake()  # another round, same weather: no second audit entry
            rounds = d.stats.plan_rounds

            async def another_round() -> bool:
                return d.stats.plan_rounds > rounds

            await d.wait_until(another_round, timeout_s=30)
            timeline = await store.requests.timeline(filed.id)
            assert [e.action for e in timeline.entries].count("held") == 1

            source.write_text(json.dumps(forecast(wind_120m_kmh=18.0)))  # 5 m/s
            await feed.read_once()

            async def delivered() -> bool:
                return (await states(store, [filed.id]))[filed.id] == "delivered"

            await d.wait_until(delivered, timeout_s=90)
            assert (await store.verify_audit()).ok


LIMITS = WeatherLimits()
PLACES = [(114.39, 36.10)]


def test_unknown_weather_follows_the_area_policy() -> None:
    start = SIM_START + timedelta(hours=1)
    end = start + timedelta(minutes=20)
    gate = WeatherGate()
    assert gate.hold(LIMITS, PLACES, start, end) is None  # no source: the weather is not checked
    gate.configure("forecast.json", "hold")
    assert gate.hold(LIMITS, PLACES, start, end) == "weather_hold: weather unknown (no forecast read yet)"
    gate.update(Forecast.from_open_meteo(forecast(18.0, hours=3)), SIM_START)
    assert gate.hold(LIMITS, PLACES, start, end) is None
    beyond = gate.hold(LIMITS, PLACES, start + timedelta(hours=3), end + timedelta(hours=3))
    assert beyond is not None and "unknown for the flight" in beyond
    gate.failed("weather source forecast.json: OSError: gone", stale=False)
    assert gate.hold(LIMITS, PLACES, start, end) is None  # the last forecast is still fresh
    assert gate.status().warning is not None and gate.status().problem is None
    gate.failed("weather source forecast.json: OSError: gone", stale=True)
    assert gate.hold(LIMITS, PLACES, start, end) == (
        "weather_hold: weather unknown (weather source forecast.json: OSError: gone)"
    )
    gate.unknown = "fly"
    assert gate.hold(LIMITS, PLACES, start, end) is None


def test_a_grounded_area_holds_every_take_off() -> None:
    gate = WeatherGate()
    gate.grounded = "typhoon In-fa"
    start = datetime(2026, 12, 1, 1, tzinfo=UTC)
    why = gate.hold(LIMITS, PLACES, start, start + timedelta(minutes=10))
    assert why == "weather_hold: area grounded by an operator (typhoon In-fa)"


async def test_a_drone_in_the_air_turns_back_when_the_weather_ahead_turns(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, tmp_path: Path
) -> None:
    source = tmp_path / "forecast.json"
    source.write_text(json.dumps(forecast(wind_120m_kmh=18.0)))
    async with running_system(store, broker, prefix, drones=1, speed=30.0, pool=solver_pool) as system:
        d = system.dispatcher
        async with weather_watching(d, WeatherSettings(source=str(source), refresh_s=3600.0)) as feed:
            assert feed is not None
            # The pickup is 6 km from the drone's port: minutes of flight before anything is on board.
            filed = await d.submit(request("anyang-east", "service-centre"))

            async def flying() -> bool:
                return any(m.state == "flying" for m in d.missions.values())

            await d.wait_until(flying, timeout_s=60)
            (mission_id,) = d.missions
            source.write_text(json.dumps(forecast(wind_120m_kmh=72.0)))
            await feed.read_once()
            assert d.stats.weather_returns == 1
            notes = [e for e in await store.history("flight", mission_id) if e.action == "weather_return"]
            assert notes and notes[0].payload["reason"] == "weather_hold: wind 20.0 m/s > limit 12.0 m/s"

            async def back_and_waiting() -> bool:
                view = await store.requests.get(filed.id)
                return (
                    not d.missions
                    and view.state == "accepted"
                    and (view.state_reason or "").startswith("weather_hold")
                )

            await d.wait_until(back_and_waiting, timeout_s=90)
            assert (await store.flights.get(mission_id)).state == "aborted"
            landed = await system.sim.wait_for(lambda e: isinstance(e, Landed) and e.port_id is not None, 120)
            assert landed.port_id is not None, "sent to a port, not landed in the open"
            assert not system.sim.breaches and system.sim.separation.count == 0


async def test_a_request_held_past_its_deadline_ends_unserved_naming_the_hold(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, tmp_path: Path
) -> None:
    source = tmp_path / "forecast.json"
    source.write_text(json.dumps(forecast(wind_120m_kmh=72.0)))  # 20 m/s: nothing takes off
    async with running_system(store, broker, prefix, drones=1, speed=60.0, pool=solver_pool) as system:
        d = system.dispatcher
        async with weather_watching(d, WeatherSettings(source=str(source), refresh_s=3600.0)):
            filed = await d.submit(request("service-centre", "intermediate-court", deadline_min=12))
            assert (await store.requests.get(filed.id)).state == "accepted"

            async def given_up() -> bool:  # planning rounds go on every tick while it waits
                return (await store.requests.get(filed.id)).state == "unserved"

            await d.wait_until(given_up, timeout_s=60)
            view = await store.requests.get(filed.id)
            assert view.state_reason == "deadline_infeasible"
            entries = (await store.requests.timeline(filed.id)).entries
            actions = [e.action for e in entries]
            assert "held" in actions and actions.index("held") < len(actions) - 1
            last = entries[-1].payload
            assert last["details"]["reason"] == "deadline_infeasible"
            assert (
                "held on the ground: weather_hold: wind 20.0 m/s > limit 12.0 m/s"
                in last["details"]["detail"]
            )
            assert not d.missions
            assert (await store.verify_audit()).ok


def windy(wind_120m_kmh: float, from_deg: float, *, hours: int = 6) -> dict[str, Any]:
    """:func:`forecast` with the wind's direction."""
    doc = forecast(wind_120m_kmh, hours=hours)
    doc["hourly_units"]["wind_direction_10m"] = "°"
    doc["hourly"]["wind_direction_10m"] = [from_deg] * hours
    return doc


async def test_a_trip_out_of_range_in_the_forecast_wind_waits_for_the_wind_to_drop(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, tmp_path: Path
) -> None:
    source = tmp_path / "forecast.json"
    # 5 m/s from the east, within the drones' 12 m/s: the trip to tiexi, on to anyang-east and
    # home fits a courier-s's 280 Wh in calm air, and needs 302 Wh in it.
    source.write_text(json.dumps(windy(18.0, 90.0)))
    async with running_system(store, broker, prefix, drones=2, speed=60.0, pool=solver_pool) as system:
        d = system.dispatcher
        async with weather_watching(d, WeatherSettings(source=str(source), refresh_s=3600.0)) as feed:
            assert feed is not None
            filed = await d.submit(request("tiexi", "anyang-east"))
            assert (await store.requests.get(filed.id)).state == "accepted"  # in range in calm air

            async def held() -> bool:
                return (await store.requests.get(filed.id)).state_reason is not None

            await d.wait_until(held, timeout_s=30)
            view = await store.requests.get(filed.id)
            assert view.state == "accepted" and not d.missions
            assert view.state_reason is not None
            assert view.state_reason.startswith("weather_hold: out of range in the forecast wind (needs ")
            assert "usable 280 Wh" in view.state_reason

            source.write_text(json.dumps(windy(0.0, 90.0)))  # calm
            await feed.read_once()

            async def flying() -> bool:
                return (await store.requests.get(filed.id)).state != "accepted"

            await d.wait_until(flying, timeout_s=30)
            view = await store.requests.get(filed.id)
            assert view.state in ("planned", "picked_up", "delivered") and view.state_reason is None
            actions = [e.action for e in (await store.requests.timeline(filed.id)).entries]
            assert actions.count("held") == 1 and "released" in actions
            assert (await store.verify_audit()).ok


async def test_a_trip_out_of_range_in_the_wind_past_its_deadline_ends_unserved_naming_the_hold(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool, tmp_path: Path
) -> None:
    source = tmp_path / "forecast.json"
    source.write_text(json.dumps(windy(18.0, 90.0)))  # as above: out of range in it, all along
    async with running_system(store, broker, prefix, drones=2, speed=60.0, pool=solver_pool) as system:
        d = system.dispatcher
        async with weather_watching(d, WeatherSettings(source=str(source), refresh_s=3600.0)):
            # Delivered 15 minutes after it is filed in calm air: accepted with a deadline of 18.
            filed = await d.submit(request("tiexi", "anyang-east", deadline_min=18))
            assert (await store.requests.get(filed.id)).state == "accepted"

            async def given_up() -> bool:
                return (await store.requests.get(filed.id)).state == "unserved"

            await d.wait_until(given_up, timeout_s=60)
            assert (await store.requests.get(filed.id)).state_reason == "deadline_infeasible"
            entries = (await store.requests.timeline(filed.id)).entries
            assert [e.action for e in entries].count("held") == 1
            detail = entries[-1].payload["details"]["detail"]
            assert detail.startswith(
                "the deadline has passed; held on the ground: weather_hold: out of range"
            )
            assert not d.missions and (await store.verify_audit()).ok
