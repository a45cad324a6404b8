"""``dronedispatch serve``: the dispatcher, its fleet link and the HTTP API in one process.

::

    dronedispatch serve [--host 127.0.0.1] [--port 8000] [--db URL] [--broker mqtt[s]://HOST:PORT]
                        [--tls-ca PEM --tls-cert PEM --tls-key PEM]
                        [--prefix dd/v1] [--client-id dispatcher] [--area DIR]
                        [--rate-limit "20/s burst 40"] [--plan-seconds 0.5] [--tick-s 30]
                        [--clock-speed S --clock-start ISO_TIME --clock-anchor UNIX_TIME]
                        [--timezone IANA_ZONE] [-v]
                        [--fleet-secret FILE | --insecure-unsigned-fleet]

Environment: ``DATABASE_URL`` (else ``DRONEDISPATCH_DB``), ``MQTT_URL``, ``MQTT_PREFIX``,
``API_RATE_LIMIT``, ``DRONEDISPATCH_FLEET_SECRET_FILE``; a flag wins over its variable. The fleet
secret is required, as for ``dronedispatch run``. When the database has no fleet yet it is
seeded from the service area ``--area`` (default: the sample area ``examples/anyang``: its
``fleet.json``, ``pads.json``, optional ``offices.json``, and ``zones.geojson``), and says so.
The area's time zone (``GET /api/v1/area``, the dashboard's times) is ``--timezone``, else
``$DRONEDISPATCH_TIMEZONE``, else the ``timezone`` of ``--area``'s ``fleet.json``, else UTC. ``-v``
logs one access line per HTTP call and one line per request state change (:mod:`dispatch.logs`).

Standard output prints ``serving on http://HOST:PORT (dashboard: http://HOST:PORT/dashboard)``
once everything runs; SIGTERM or Ctrl-C stops it cleanly (exit status 0).

Like ``dronedispatch run``, it first takes the service area's leadership
(:mod:`dispatch.service.leadership`): on PostgreSQL a second ``serve`` waits as a standby (printing
``standby: ...``, serving nothing) and takes over when the leader dies; on SQLite it is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from airspace.zones import ZoneFormatError, load_zones
from dispatch.api import ApiContext, AppServer, RateLimit, create_app
from dispatch.commands.plan import SAMPLE_DIR
from dispatch.commands.run import _clock, dispatcher_link, stop_on_signals
from dispatch.commands.store_args import add_db_argument
from dispatch.logs import configure_logging
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.leadership import LeadershipError, Lease, run_as_leader
from dispatch.store import NotFound, Store, StoreError, open_store
from dispatch.store.directory import load_offices, load_pads
from dispatch.store.engine import StoreConfigError
from fleet.connection import BrokerAddress, add_tls_arguments
from fleet.description import FleetFormatError, check_timezone, load_fleet
from fleet.signing import add_fleet_secret_arguments, fleet_secret_from_args
from fleet.topics import DEFAULT_PREFIX

ACTOR = "cli:serve"


def _timezone(name: str) -> str:
    try:
        return check_timezone(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="dronedispatch serve", description="Run the dispatcher and the HTTP API."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default 8000; 0: any free port)"
    )
    add_db_argument(p)
    p.add_argument(
        "--broker",
        default=env("MQTT_URL", "mqtt://127.0.0.1:1883"),
        help="MQTT broker URL (default: $MQTT_URL or mqtt://127.0.0.1:1883)",
    )
    add_tls_arguments(p)
    p.add_argument(
        "--prefix",
        default=env("MQTT_PREFIX", DEFAULT_PREFIX),
        help=f"topic prefix (default: $MQTT_PREFIX or {DEFAULT_PREFIX})",
    )
    p.add_argument("--client-id", default="dispatcher", help="stable MQTT client id (persistent session)")
    p.add_argument(
        "--area",
        type=Path,
        default=SAMPLE_DIR,
        help="service area seeded into an empty database: fleet.json, pads.json, zones.geojson,"
        " optional offices.json (default: examples/anyang)",
    )
    p.add_argument(
        "--rate-limit",
        default=env("API_RATE_LIMIT", "20/s burst 40"),
        help="per API key, e.g. '20/s burst 40' (default: $API_RATE_LIMIT or that)",
    )
    p.add_argument("--plan-seconds", type=float, default=0.5, help="solver time per planning round")
    p.add_argument("--tick-s", type=float, default=30.0, help="periodic round, in clock seconds")
    p.add_argument("--clock-speed", type=float, help="simulated seconds per real second")
    p.add_argument("--clock-start", help="simulated time at the anchor (ISO 8601 with offset)")
    p.add_argument("--clock-anchor", type=float, help="Unix time at which the clock read --clock-start")
    p.add_argument(
        "--timezone",
        type=_timezone,
        default=env("DRONEDISPATCH_TIMEZONE"),
        help="the area's IANA time zone, for the times people read (default: $DRONEDISPATCH_TIMEZONE, else"
        " the 'timezone' of --area's fleet.json, else UTC)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    add_fleet_secret_arguments(p)
    return p


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
            await store.zones.upsert(
                feature, actor=ACTOR, valid_from=zone.valid_from, valid_until=zone.valid_to
            )
    return (
        f"{summary.offices} offices, {summary.pads} pads, {summary.ports} ports, {summary.drones} drones,"
        f" {len(zones)} zones from {area}"
    )


def area_timezone(args: argparse.Namespace) -> str:
    """``--timezone``, else the time zone the ``--area`` fleet description names, else UTC."""
    if args.timezone:
        return str(args.timezone)
    fleet_file = args.area / "fleet.json"
    return load_fleet(fleet_file).timezone if fleet_file.exists() else "UTC"


async def _serve(args: argparse.Namespace) -> int:
    clock = _clock(args)
    rate = RateLimit.parse(args.rate_limit)
    zone = area_timezone(args)
    stop = stop_on_signals()

    async def lead(_lease: Lease) -> int:
        # Seeding, the broker session and the HTTP port belong to the leader: a standby waits.
        store = await open_store(args.db, now=clock.now)
        try:
            seeded = await seed_if_empty(store, args.area)
            if seeded is not None:
                print(f"the database had no fleet: seeded {seeded}", flush=True)
            link = dispatcher_link(args, clock)
            dispatcher = Dispatcher(store, link, clock, plan_seconds=args.plan_seconds, tick_s=args.tick_s)
            async with link, dispatcher:
                ctx = ApiContext(store, dispatcher, clock=clock, rate_limit=rate, timezone=zone)
                app = create_app(ctx)
                async with AppServer(app, args.host, args.port) as server:
                    dashboard = f"{server.url}/dashboard"
                    print(f"serving on {server.url} (dashboard: {dashboard})", flush=True)
                    await stop.wait()
        finally:
            await store.close()
        return 0

    return await run_as_leader(args.db, lead, stop, program="dronedispatch serve")


def main(argv: list[str]) -> int:
    """Serve until SIGTERM/SIGINT; exit 0, 1 when it cannot start (database, broker, port), 2 usage."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    configure_logging(args.verbose)
    try:
        RateLimit.parse(args.rate_limit)
        fleet_secret_from_args(args)
        if args.clock_start is not None:
            datetime.fromisoformat(args.clock_start)
    except ValueError as exc:
        print(f"dronedispatch serve: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args))
    except (
        StoreError, StoreConfigError, SQLAlchemyError, FleetFormatError, ZoneFormatError, LeadershipError,
    ) as exc:  # fmt: skip
        print(f"dronedispatch serve: error: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        # The link waits for its first connection; anything else here times out on its own terms.
        broker = BrokerAddress.parse(args.broker).url  # never print a password
        print(f"dronedispatch serve: error: no connection to the broker at {broker}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as exc:
        print(f"dronedispatch serve: error: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return 1
