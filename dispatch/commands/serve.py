"""``dronedispatch serve``: the dispatcher, its fleet link and the HTTP API in one process.

::

    dronedispatch serve [--config FILE] [--host 127.0.0.1] [--port 8000] [--db URL]
                        [--broker mqtt[s]://HOST:PORT [--tls-ca PEM ...]] [--prefix dd/v1]
                        [--client-id dispatcher] [--area default] [--seed-dir DIR]
                        [--rate-limit "20/s burst 40"] [--plan-seconds 0.5] [--tick-s 30]
                        [--silent-after-s 90] [--timezone IANA_ZONE] [-v]
                        [--clock-speed S --clock-start ISO_TIME --clock-anchor UNIX_TIME]
                        [--fleet-secret FILE | --insecure-unsigned-fleet]

Its settings are ``run``'s plus the API's (:mod:`dispatch.settings`), from the same options, else
the environment (``DATABASE_URL``, ``MQTT_URL``, ``MQTT_PREFIX``, ``API_RATE_LIMIT``,
``DRONEDISPATCH_*``), else the TOML file ``--config FILE``, else their defaults; a bad value exits
with status 2 and names it. The fleet secret is required, as for ``dronedispatch run``. When the
database has no fleet yet it is seeded from the service area directory ``--seed-dir`` (default:
the sample area ``examples/anyang``: its ``fleet.json``, ``pads.json``, optional ``offices.json``,
and ``zones.geojson``), and says so. The area's time zone (``GET /api/v1/area``, the dashboard's
times) is ``--timezone``, else the ``timezone`` of the seed directory's ``fleet.json``, else UTC.
``-v`` logs one access line per HTTP call and one line per request state change
(:mod:`dispatch.logs`).

Standard output prints ``serving on http://HOST:PORT (dashboard: http://HOST:PORT/dashboard)``
once everything runs; SIGTERM or Ctrl-C stops it cleanly (exit status 0).

Like ``dronedispatch run``, it first takes the leadership of the service area ``--area``
(:mod:`dispatch.service.leadership`): on PostgreSQL a second ``serve`` waits as a standby (printing
``standby: ...``, serving nothing) and takes over when the leader dies; on SQLite it is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from airspace.terrain import AreaTerrain, TerrainError
from airspace.zones import ZoneFormatError, load_zones, wgs84_feature
from dispatch.api import ApiContext, AppServer, RateLimit, create_app
from dispatch.authority.wiring import authority_approvals, authority_reporting
from dispatch.commands.run import dispatcher_link, stop_on_signals
from dispatch.logs import configure_logging
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.leadership import LeadershipError, Lease, run_as_leader
from dispatch.settings import Settings, SettingsError, add_settings_arguments, load_settings
from dispatch.settings.specs import SERVE
from dispatch.store import NotFound, Store, StoreError, open_store
from dispatch.store.directory import load_offices, load_pads
from dispatch.store.engine import StoreConfigError
from dispatch.terrain_file import terrain_of_settings
from dispatch.weather_feed import weather_watching
from fleet.description import FleetFormatError, load_fleet

ACTOR = "cli:serve"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dronedispatch serve", description="Run the dispatcher and the HTTP API."
    )
    add_settings_arguments(parser, SERVE)
    return parser


async def seed_if_empty(store: Store, area: Path) -> str | None:
    """Seed the fleet, pads, offices and zones of ``area`` when the database has no fleet yet.

    Returns what was seeded (None when the database already had a fleet).
    """
    try:
        await store.directory.fleet()
        return None
    except NotFound:
        pass
    fleet = load_fleet(area / "fleet.json")
    pads = load_pads(area / "pads.json")
    offices_file = area / "offices.json"
    offices = load_offices(offices_file, set(pads)) if offices_file.exists() else None
    zones_file = area / "zones.geojson"
    zones = load_zones(zones_file) if zones_file.exists() else []  # validated before anything is written
    summary = await store.directory.seed(fleet, pads, offices, actor=ACTOR)
    if zones:
        features = json.loads(zones_file.read_text(encoding="utf-8"))["features"]
        for zone, feature in zip(zones, features, strict=True):
            stored = wgs84_feature(feature, zone)  # in WGS-84, whatever datum the file declares
            await store.zones.upsert(
                stored, actor=ACTOR, valid_from=zone.valid_from, valid_until=zone.valid_to
            )
    return (
        f"{summary.offices} offices, {summary.pads} pads, {summary.ports} ports, {summary.drones} drones,"
        f" {len(zones)} zones from {area}"
    )


def area_timezone(settings: Settings) -> str:
    """The configured time zone, else the one the seed directory's fleet description names, else UTC."""
    if settings.api.timezone:
        return settings.api.timezone
    fleet_file = settings.store.seed_dir / "fleet.json"
    return load_fleet(fleet_file).timezone if fleet_file.exists() else "UTC"


async def _serve(settings: Settings, terrain: AreaTerrain | None = None) -> int:
    clock = settings.clock.clock()
    api = settings.api
    rate = RateLimit.parse(api.rate_limit)
    zone = area_timezone(settings)
    stop = stop_on_signals()
    db = settings.store.url

    async def lead(_lease: Lease) -> int:
        # Seeding, the broker session and the HTTP port belong to the leader: a standby waits.
        store = await open_store(db, now=clock.now)
        try:
            seeded = await seed_if_empty(store, settings.store.seed_dir)
            if seeded is not None:
                print(f"the database had no fleet: seeded {seeded}", flush=True)
            link = dispatcher_link(settings.link, clock, store)
            dispatcher = Dispatcher(store, link, clock, settings.dispatcher, terrain=terrain)
            async with (
                link,
                authority_approvals(dispatcher, settings.authority, ceiling_m=settings.terrain.ceiling_m),
                dispatcher,
                authority_reporting(dispatcher, settings.authority) as authority,
                weather_watching(dispatcher, settings.weather),
            ):
                ctx = ApiContext(
                    store,
                    dispatcher,
                    clock=clock,
                    rate_limit=rate,
                    timezone=zone,
                    map_style=api.map_style,
                    authority=authority,
                )
                app = create_app(ctx)
                async with AppServer(app, api.host, api.port) as server:
                    dashboard = f"{server.url}/dashboard"
                    print(f"serving on {server.url} (dashboard: {dashboard})", flush=True)
                    await stop.wait()
        finally:
            await store.close()
        return 0

    return await run_as_leader(db, lead, stop, area=settings.leadership.area, program="dronedispatch serve")


def main(argv: list[str]) -> int:
    """Serve until SIGTERM/SIGINT; exit 0, 1 when it cannot start (database, broker, port), 2 usage."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        settings = load_settings(args, SERVE)
        terrain = terrain_of_settings(settings.terrain)
    except (SettingsError, TerrainError) as exc:
        print(f"dronedispatch serve: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.logging.verbose)
    try:
        return asyncio.run(_serve(settings, terrain))
    except (
        StoreError,
        StoreConfigError,
        SQLAlchemyError,
        FleetFormatError,
        ZoneFormatError,
        LeadershipError,
    ) as exc:
        print(f"dronedispatch serve: error: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        # The link waits for its first connection; anything else here times out on its own terms.
        broker = settings.link.address().url  # never print a password
        print(f"dronedispatch serve: error: no connection to the broker at {broker}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as exc:
        print(f"dronedispatch serve: error: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return 1
