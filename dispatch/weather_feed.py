"""Reading the weather source for the dispatcher's go/no-go, at start and periodically after.

The source is a file or an http(s) URL answering Open-Meteo's hourly JSON
(:mod:`airspace.weather` reads it). A read that fails, or a document that cannot be understood,
is logged as a warning and shown on ``/health``; the last good forecast is used until it is
``max_age_s`` old, and the weather is unknown after that (the area's policy decides).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal, cast

import httpx

from airspace.weather import Forecast, WeatherFormatError
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.weather_returns import turn_back_for_weather
from dispatch.settings.model import WeatherSettings

log = logging.getLogger(__name__)


async def read_forecast(source: str) -> Forecast:
    """Read and parse the forecast at ``source`` (a path or an http(s) URL).

    Raises OSError, httpx.HTTPError or :class:`~airspace.weather.WeatherFormatError`."""
    if source.startswith(("http://", "https://")):
        async with httpx.AsyncClient(timeout=10.0) as http:
            reply = await http.get(source)
            reply.raise_for_status()
            text = reply.text
    else:
        text = await asyncio.to_thread(Path(source).read_text, encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WeatherFormatError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    return Forecast.from_open_meteo(data)


class WeatherFeed:
    """Keeps the dispatcher's :class:`~dispatch.service.weather_gate.WeatherGate` fed."""

    def __init__(self, dispatcher: Dispatcher, settings: WeatherSettings) -> None:
        assert settings.source is not None
        self.dispatcher = dispatcher
        self.settings = settings
        self.source = settings.source
        self.reads = 0
        self.failures = 0
        self._good_at: float | None = None  # monotonic time of the last good read

    async def read_once(self) -> None:
        """Read the source now and update the gate (a failure is recorded, never raised)."""
        gate = self.dispatcher.weather
        try:
            forecast = await read_forecast(self.source)
        except (OSError, httpx.HTTPError, WeatherFormatError, UnicodeDecodeError) as exc:
            self.failures += 1
            problem = f"weather source {self.source}: {type(exc).__name__}: {exc}"
            stale = self._good_at is None or time.monotonic() - self._good_at > self.settings.max_age_s
            gate.failed(problem, stale=stale)
            log.warning("%s%s", problem, " (weather unknown)" if stale else " (last forecast still used)")
            return
        self.reads += 1
        self._good_at = time.monotonic()
        gate.update(forecast, self.dispatcher.clock.now())
        self.dispatcher.wake()  # held work may fly now
        try:  # drones in the air now heading into weather beyond their limits turn back at once
            await turn_back_for_weather(self.dispatcher)
        except Exception:  # the next tick tries again; the feed must go on
            log.exception("weather: turning drones back failed")

    async def run(self) -> None:
        """Re-read every ``refresh_s`` wall seconds until cancelled."""
        while True:
            await asyncio.sleep(self.settings.refresh_s)  # a refresh period, not synchronisation
            await self.read_once()


@contextlib.asynccontextmanager
async def weather_watching(
    dispatcher: Dispatcher, settings: WeatherSettings
) -> AsyncIterator[WeatherFeed | None]:
    """Feed the dispatcher's weather gate from ``settings.source`` while the block runs (None: off)."""
    if settings.source is None:
        yield None
        return
    dispatcher.weather.configure(settings.source, cast(Literal["hold", "fly"], settings.unknown))
    feed = WeatherFeed(dispatcher, settings)
    await feed.read_once()
    task = asyncio.create_task(feed.run(), name="weather-feed")
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
