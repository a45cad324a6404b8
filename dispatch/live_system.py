"""The whole system in one process on embedded defaults: what the demo and the load benchmarks run.

A SQLite file (or any store URL), an embedded MQTT 5 broker, the simulated fleet (every drone its
own MQTT client), the dispatcher and the HTTP API with the dashboard, all on one accelerated clock.
Nothing needs to be installed or running beforehand.

Secure by default as far as the embedded broker allows: it admits only the dispatcher and the
drones, each with its own random login, and every drone signs its states, acks and events with its
key from a fleet secret made for this run (:mod:`fleet.signing`), which the dispatcher checks.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from airspace.terrain import AreaTerrain
from airspace.weather import Forecast
from airspace.zones import load_zones, wgs84_feature
from dispatch.api.app import AppServer, create_app
from dispatch.api.context import ApiContext
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.inbox import StoreJournal
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import DispatcherSettings, LinkSettings
from dispatch.store import Store, open_store
from dispatch.store.directory import load_pads
from fleet.acl import broker_access
from fleet.clock import SharedClock
from fleet.description import Fleet
from fleet.embedded_broker import EmbeddedBroker
from fleet.link import FleetLink
from fleet.signing import FleetSecret
from simulator.fleet_sim import SimulatedFleet

PREFIX = "dd/v1"
LIVE_DISPATCHER = DispatcherSettings(plan_seconds=1.0)
"""The live system's dispatcher: the service's defaults, a second per planning round."""


@dataclass(frozen=True, slots=True)
class LiveSystem:
    """The running parts, and the keys to reach the API."""

    store: Store
    clock: SharedClock
    sim: SimulatedFleet
    dispatcher: Dispatcher
    server: AppServer
    operator_token: str
    office_tokens: dict[str, str]  # office id -> token

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the API and the dashboard."""
        return self.server.url

    @property
    def dashboard_url(self) -> str:
        """The dashboard, with the operator key in the fragment (never sent to the server)."""
        return f"{self.server.url}/dashboard#key={self.operator_token}"


@asynccontextmanager
async def live_system(
    fleet: Fleet,
    zones_path: Path,
    pads_path: Path,
    start: datetime,
    *,
    db_url: str,
    speed: float = 60.0,
    host: str = "127.0.0.1",
    port: int = 0,
    dispatcher_settings: DispatcherSettings = LIVE_DISPATCHER,
    offices: Iterable[str] | None = None,
    startup_s: float = 3.0,
    weather: Forecast | None = None,
    terrain: AreaTerrain | None = None,
) -> AsyncIterator[LiveSystem]:
    """Seed the store (fleet, pads with one office each, zones), start everything, create an
    operator key and a key per office (default: every office), and yield the running system.

    Simulated time reads ``start`` ``startup_s`` wall seconds after the slow start-up (solver
    processes) is done, and a little earlier meanwhile: the broker, the drones, the dispatcher and
    the HTTP server start before it (about a second, a simulated minute at 60x), so that requests
    filed at ``start`` go in at ``start`` and not after a minute of start-up. The
    dispatcher runs with ``dispatcher_settings`` and the link with the service's default settings.
    """
    zones = load_zones(zones_path)
    directory = load_pads(pads_path)
    features = json.loads(zones_path.read_text(encoding="utf-8"))["features"]
    # The store reads the simulated clock; until that clock runs, everything is stamped ``start``.
    now = [lambda: start]
    store = await open_store(db_url, now=lambda: now[0]())
    pool = SolverPool()
    try:
        await store.directory.seed(fleet, directory, actor="live-system")
        for zone, feature in zip(zones, features, strict=True):  # in WGS-84, whatever the file's datum
            await store.zones.upsert(wgs84_feature(feature, zone), actor="live-system")
        operator = await store.api_keys.create("operator", actor="live-system", label="dashboard")
        tokens = {}
        for office in sorted(directory if offices is None else set(offices)):
            key = await store.api_keys.create("office", actor="live-system", office_id=office)
            tokens[office] = key.token
        await pool.warm_up()  # solver processes take seconds to start: not on the simulated clock
        # nor do the first paths, profiles and frames over the area
        pads = [(place.lon, place.lat) for _, place in directory.values()]
        await pool.warm_area(zones, fleet, pads, terrain, start)
        logins = broker_access([d.id for d in fleet.drones]).passwords  # the dispatcher's and each drone's
        secret = FleetSecret.generate()
        with EmbeddedBroker(users=logins) as broker:
            clock = SharedClock(speed, start, time.time() + startup_s)
            now[0] = clock.now
            sim = SimulatedFleet(
                fleet,
                broker,
                clock=clock,
                prefix=PREFIX,
                zones=zones,
                passwords=logins,
                fleet_secret=secret,
                weather=weather,  # the drones fly in the wind the dispatcher judges by
                terrain=terrain,  # and over the ground it plans over
            )
            link = FleetLink(
                replace(broker, username="dispatcher", password=logins["dispatcher"]),
                client_id="live-dispatcher",
                prefix=PREFIX,
                clock=clock,
                max_telemetry_age_s=LinkSettings().max_telemetry_age_s,
                fleet_secret=secret,
                event_journal=StoreJournal(store, "live-dispatcher"),
            )
            async with sim, link:
                dispatcher = Dispatcher(store, link, clock, dispatcher_settings, pool=pool, terrain=terrain)
                async with dispatcher:
                    ctx = ApiContext(store=store, dispatcher=dispatcher, clock=clock, timezone=fleet.timezone)
                    app = create_app(ctx)
                    # Library chatter (every HTTP call, the broker's start and stop) only from
                    # WARNING up: the caller's terminal shows progress.
                    for name in ("", "httpx", "iotcore"):
                        logging.getLogger(name).setLevel(logging.WARNING)
                    async with AppServer(app, host, port) as server:
                        yield LiveSystem(store, clock, sim, dispatcher, server, operator.token, tokens)
    finally:
        pool.close()
        await store.close()
