"""``dronedispatch simulate``: run a simulated fleet that speaks the MQTT protocol.

Watch it with any MQTT client, e.g. ``mosquitto_sub -h 127.0.0.1 -t 'dd/v1/#' -v``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

from airspace.terrain import AreaTerrain, Terrain, TerrainError
from airspace.weather import Forecast
from airspace.zones import ZoneFormatError, load_zones
from fleet.acl import parse_passwords
from fleet.clock import Clock, RealClock, ScaledClock, add_clock_arguments, shared_clock
from fleet.connection import add_tls_arguments, address_from_args
from fleet.dem import DemError, read_dem
from fleet.description import Fleet, FleetFormatError, load_fleet
from fleet.embedded_broker import EmbeddedBroker
from fleet.hub import Subscription
from fleet.messages import AnyEvent
from fleet.signing import add_fleet_secret_arguments, fleet_secret_from_args
from fleet.topics import DEFAULT_PREFIX
from routing.intents import SeparationMinima
from simulator.faults import FAULT_VALUES, FaultSpec, run_schedule
from simulator.fleet_sim import SimulatedFleet
from simulator.separation import checked_minima

log = logging.getLogger("simulator")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dronedispatch simulate``."""
    p = argparse.ArgumentParser(
        prog="dronedispatch simulate",
        description="Run every drone of FLEET.json as its own MQTT client (commands, telemetry, events).",
    )
    p.add_argument(
        "--broker", required=True, help="mqtt[s]://[user:pass@]host[:port], or 'embedded' to start one here"
    )
    p.add_argument("--fleet", required=True, help="FLEET.json")
    p.add_argument("--zones", help="ZONES.geojson: the airspace monitor reports geofence breaches")
    p.add_argument(
        "--terrain",
        default=None,
        metavar="DEM.tif",
        help="terrain model, a GeoTIFF DEM on EPSG:4326 in metres above sea level (default: flat ground, "
        "even if the fleet file names one: give the dispatcher the same --terrain): the drones fly "
        "altitudes above sea level over it and the terrain monitor reports a cruise below the clearance "
        "or above the true-height ceiling",
    )
    p.add_argument(
        "--speed", type=float, default=None, help="time acceleration (60: a minute per second; default 1)"
    )
    p.add_argument("--start", help="simulated start time, ISO 8601 with offset (default: now)")
    add_clock_arguments(p)  # instead of --speed/--start: the dispatcher's own simulated time
    p.add_argument("--duration", type=float, help="stop after this many simulated seconds (default: never)")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"topic prefix (default {DEFAULT_PREFIX})")
    p.add_argument("--drones", help="comma-separated drone ids to simulate (default: all)")
    p.add_argument("--wind", help="SPEED_MPS@FROM_DEG, e.g. 6@270 for a 6 m/s west wind")
    p.add_argument(
        "--weather",
        metavar="PATH",
        help="fly in the wind of this Open-Meteo hourly forecast (the file the dispatcher's --weather reads)",
    )
    p.add_argument("--telemetry-period", type=float, default=1.0, help="simulated seconds per sample")
    p.add_argument(
        "--lost-link-after",
        type=float,
        default=30.0,
        help="simulated seconds offline before the policy applies",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the GPS noise")
    for axis, name, default in (("h", "horizontal", 50.0), ("v", "vertical", 15.0)):
        p.add_argument(
            f"--separation-{axis}-m",
            type=float,
            default=default,
            help=f"separation monitor: {name} minimum in metres (default {default:g})",
        )
    p.add_argument("-v", "--verbose", action="store_true", help="log every event")
    add_tls_arguments(p)
    p.add_argument(
        "--passwords",
        metavar="FILE",
        help="'DRONE PASSWORD' lines (what 'dronedispatch mqtt acl' prints): each drone logs in as itself",
    )
    add_fleet_secret_arguments(p)
    faults = p.add_argument_group("faults (repeatable; @AT = simulated seconds after the start)")
    for kind, (value, _) in FAULT_VALUES.items():
        form = f"DRONE:{value}[@AT]" if value else "DRONE[@AT]"
        faults.add_argument(f"--{kind.replace('_', '-')}", action="append", default=[], metavar=form)
    return p


def _clock(args: argparse.Namespace) -> Clock:
    shared = (args.clock_speed, args.clock_start, args.clock_anchor)
    if any(v is not None for v in shared):
        if args.speed is not None or args.start is not None:
            raise ValueError("give either --speed/--start or the --clock-* options, not both")
        return shared_clock(*shared)  # the time of every process given the same three values
    speed = 1.0 if args.speed is None else args.speed
    if speed <= 0:
        raise ValueError("--speed must be > 0")
    start = None
    if args.start:
        start = datetime.fromisoformat(args.start)
        if start.tzinfo is None:
            raise ValueError(f"--start {args.start!r} needs a UTC offset, e.g. +08:00")
    if speed == 1.0 and start is None:
        return RealClock()
    return ScaledClock(speed, start)


def _wind(text: str | None) -> tuple[float, float]:
    if not text:
        return 0.0, 0.0
    speed, _, direction = text.partition("@")
    try:
        return float(speed), float(direction or 0.0)
    except ValueError:
        raise ValueError(f"--wind {text!r}: expected SPEED_MPS@FROM_DEG") from None


def _terrain(fleet: Fleet, path: str) -> AreaTerrain:
    """The DEM of ``--terrain`` with the fleet file's clearance and ceiling."""
    try:
        grid = read_dem(path)
        return AreaTerrain(
            Terrain(grid.heights, grid.transform, grid.name), fleet.clearance_m, fleet.ceiling_m
        )
    except (DemError, TerrainError) as exc:
        raise ValueError(f"--terrain: {exc}") from exc


def main(argv: list[str]) -> int:
    """Run the simulator until interrupted (or for ``--duration``); exit 1 if a geofence breach, a
    loss of separation or a terrain violation was seen."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        fleet = load_fleet(args.fleet)
        # Only when asked: the dispatcher (run, serve) flies over terrain only with its own --terrain,
        # and a simulator over terrain reports altitudes above sea level a flat dispatcher misjudges.
        terrain = _terrain(fleet, args.terrain) if args.terrain is not None else None
        zones = load_zones(args.zones) if args.zones else []
        clock = _clock(args)
        wind_mps, wind_from = _wind(args.wind)
        weather = (
            Forecast.from_open_meteo(json.loads(Path(args.weather).read_text(encoding="utf-8")))
            if args.weather
            else None
        )
        faults = [
            FaultSpec.parse(kind, text)  # type: ignore[arg-type]
            for kind in FAULT_VALUES
            for text in getattr(args, kind)
        ]
        drones = args.drones.split(",") if args.drones else None
        passwords = (
            parse_passwords(Path(args.passwords).read_text(encoding="utf-8")) if args.passwords else None
        )
        fleet_secret = fleet_secret_from_args(args)
        separation = checked_minima(SeparationMinima(args.separation_h_m, args.separation_v_m))
    except (FleetFormatError, ZoneFormatError, ValueError, OSError) as exc:
        print(f"dronedispatch simulate: {exc}", file=sys.stderr)
        return 2
    embedded: EmbeddedBroker | None = None
    try:
        if args.broker == "embedded":
            embedded = EmbeddedBroker()
            address = embedded.start()
        else:
            address = address_from_args(args.broker, args)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"dronedispatch simulate: broker: {exc}", file=sys.stderr)
        return 2
    try:
        sim = SimulatedFleet(
            fleet,
            address,
            clock=clock,
            prefix=args.prefix,
            zones=zones,
            drone_ids=drones,
            wind_mps=wind_mps,
            wind_from_deg=wind_from,
            weather=weather,
            telemetry_period_s=args.telemetry_period,
            lost_link_after_s=args.lost_link_after,
            seed=args.seed,
            passwords=passwords,
            fleet_secret=fleet_secret,
            separation=separation,
            terrain=terrain,
        )
        return asyncio.run(_run(sim, faults, args.duration, args.verbose))
    except ValueError as exc:
        print(f"dronedispatch simulate: {exc}", file=sys.stderr)
        return 2
    finally:
        if embedded is not None:
            embedded.stop()


async def _run(sim: SimulatedFleet, faults: list[FaultSpec], duration: float | None, verbose: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await sim.start()
    except TimeoutError:
        print(f"dronedispatch simulate: could not connect every drone to {sim.address.url}", file=sys.stderr)
        await sim.stop()
        return 2
    print(
        f"{len(sim.agents)} drones on {sim.address.url}, topics {sim.topics.prefix}/drones/+/#; "
        f"watch: mosquitto_sub -h {sim.address.host} -p {sim.address.port} -t '{sim.topics.prefix}/#' -v",
        flush=True,
    )
    tasks = [asyncio.create_task(run_schedule(sim, faults))]
    if duration is not None:
        tasks.append(asyncio.create_task(_after(sim, duration, stop)))
    sub = sim.subscribe()
    tasks.append(asyncio.create_task(_report(sub, verbose)))
    await stop.wait()
    for t in tasks:
        t.cancel()
    await sim.stop()
    breaches = sim.breaches
    print(f"{len(sim.events)} events, {len(breaches)} geofence breach(es)")
    for b in breaches:
        where = f"({b.lon:.5f}, {b.lat:.5f}, {b.alt_m} m)"
        print(f"  BREACH {b.drone_id} in {b.zone_id} at {b.ts.isoformat()} {where}")
    if sim.rain is not None:
        print(f"{sim.rain.count} flight(s) in rain beyond the rating")
        for r in sim.rain.exposures:
            where = f"({r.lon:.5f}, {r.lat:.5f}, {r.alt_m} m)"
            rain = f"{r.precip_mm_h:.1f} mm/h > {r.limit_mm_h:.1f}"
            print(f"  RAIN {r.drone_id} in {rain} at {r.ts.isoformat()} {where}")
    print("\n".join(sim.separation.report(sim.frame.to_lonlat)))
    violations = sim.terrain_violations
    if sim.terrain is not None:
        band = f"{sim.terrain.clearance_m:g} m clearance, {sim.terrain.ceiling_m:g} m ceiling"
        print(f"{len(violations)} terrain violation(s) ({band})")
    for v in violations:
        where = f"({v.lon:.5f}, {v.lat:.5f}, {v.alt_m} m AMSL)"
        print(
            f"  TERRAIN {v.drone_id} {v.kind}: true height {v.true_height_m} m, limit {v.limit_m:g} m, "
            f"at {v.ts.isoformat()} {where}"
        )
    return 1 if breaches or sim.separation.count or violations else 0


async def _after(sim: SimulatedFleet, duration: float, stop: asyncio.Event) -> None:
    await sim.clock.sleep(duration)
    stop.set()


async def _report(sub: Subscription[AnyEvent], verbose: bool) -> None:
    async for event in sub:
        kind = type(event).__name__
        if verbose or kind in ("GeofenceBreach", "Fault", "TerrainViolation"):
            log.warning("%s %s %s", event.ts.isoformat(), event.drone_id, kind)
