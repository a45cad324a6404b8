"""The sample system for tests and benchmarks: the Anyang sample area (examples/anyang) run whole in
one process over a real broker, and builders for its requests.

:func:`running_system` seeds a store, starts the simulated fleet, the fleet link and the dispatcher
on one shared clock, and yields them as a :class:`System`; :func:`request` files from pad to pad,
:func:`point_ahead` finds where a pop-up zone cuts a flight's path. The end-to-end tests and
``bench/bench_dispatch.py`` both run on it (the demo's whole system, with the API and an embedded
broker, is :mod:`dispatch.live_system`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shapely.geometry import Point

from airspace.terrain import AreaTerrain
from airspace.zones import Zone, load_zones
from dispatch.sample_area import SAMPLE_DIR
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.inbox import StoreJournal
from dispatch.service.reroute import next_waypoint
from dispatch.service.solver_pool import SolverPool
from dispatch.settings import DispatcherSettings
from dispatch.store import NewRequest, Place, Store
from dispatch.store.directory import load_pads
from fleet.clock import SharedClock
from fleet.connection import BrokerAddress
from fleet.description import Fleet, load_fleet, parse_fleet
from fleet.link import FleetLink
from fleet.signing import FleetSecret
from simulator.fleet_sim import SimulatedFleet

SIM_START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Anyang (Asia/Shanghai, UTC+8)
# :func:`point_ahead` keeps a pop-up zone's centre this far from other zones' margins: a drone fits
# between them, so the detour stays short (closing the gap would force one around both, which the
# battery may not allow).
ZONE_CLEARANCE_M = 250.0
SAMPLE_LAG_M = 150.0  # point_ahead: the dispatcher's last sample at most this far behind the drone


def zone_features() -> list[dict[str, Any]]:
    """The sample zones as GeoJSON features."""
    data = json.loads((SAMPLE_DIR / "zones.geojson").read_text(encoding="utf-8"))
    return list(data["features"])


def sample_fleet(drones: int = 6) -> Fleet:
    """The sample fleet with ``drones`` drones: its first ones, or grown (extra ones spread over
    the ports)."""
    fleet = load_fleet(SAMPLE_DIR / "fleet.json")
    if drones == len(fleet.drones):
        return fleet
    doc = fleet.to_dict()
    ports = doc["ports"]
    if drones < len(fleet.drones):
        keep = {d.id for d in fleet.drones[:drones]}
        for port in ports:
            port["drones"] = [d for d in port["drones"] if d["id"] in keep]
        return parse_fleet(doc, source="test")
    for i in range(len(fleet.drones), drones):
        ports[i % len(ports)]["drones"].append({"id": f"D{i + 1:02d}", "model": "courier-s"})
    return parse_fleet(doc, source="test")


def pads() -> dict[str, Place]:
    """The sample pads by id."""
    return {pid: place for pid, (_, place) in load_pads(SAMPLE_DIR / "pads.json").items()}


def request(
    src: str,
    dst: str,
    *,
    weight: float = 0.3,
    deadline_min: float = 90.0,
    now: datetime = SIM_START,
    key: str | None = None,
) -> NewRequest:
    """A request from pad ``src`` (its office) to pad ``dst``, ready now, due in ``deadline_min``."""
    p = pads()
    return NewRequest(
        office_id=src,
        pickup=p[src],
        dropoff=p[dst],
        weight_kg=weight,
        ready_at=now,
        deadline=now + timedelta(minutes=deadline_min),
        idempotency_key=key,
    )


@dataclass
class System:
    """Everything a dispatcher test needs, running."""

    store: Store
    clock: SharedClock
    sim: SimulatedFleet
    link: FleetLink
    dispatcher: Dispatcher
    fleet: Fleet
    secret: FleetSecret  # what the drones sign with (each with its own key derived from it)

    def watch_zone(self, zone: Zone) -> None:
        """Make the simulator's breach monitor (the safety oracle) watch one more zone."""
        self.sim.watch_zone(zone)


async def seed(store: Store, fleet: Fleet) -> None:
    """Seed the store with the fleet, pads and offices, and the sample zones."""
    await store.directory.seed(fleet, load_pads(SAMPLE_DIR / "pads.json"), actor="test-seed")
    for feature in zone_features():
        await store.zones.upsert(feature, actor="test-seed")


@asynccontextmanager
async def running_system(
    store: Store,
    broker: BrokerAddress,
    prefix: str,
    *,
    drones: int = 6,
    speed: float = 150.0,
    telemetry_period_s: float = 2.0,
    plan_seconds: float = 0.3,
    pool: SolverPool | None = None,
    start_lead_s: float | None = None,
    terrain: AreaTerrain | None = None,
) -> AsyncIterator[System]:
    """Seed ``store``, start the simulated fleet, the link and the dispatcher on one shared clock;
    the drones sign what they report and the link checks it, as in production. ``start_lead_s``:
    the dispatcher's start lead, if not its default (a long one keeps each drone on the ground
    with its start acknowledged until the planned departure). ``terrain``: the dispatcher and the
    drones fly over it."""
    fleet = sample_fleet(drones)
    secret = FleetSecret.generate()
    await seed(store, fleet)
    clock = SharedClock.starting_now(speed, SIM_START)
    sim = SimulatedFleet(
        fleet,
        broker,
        clock=clock,
        prefix=prefix,
        zones=load_zones(SAMPLE_DIR / "zones.geojson"),
        telemetry_period_s=telemetry_period_s,
        fleet_secret=secret,
        terrain=terrain,
    )
    client_id = f"disp-{prefix.split('/')[0]}"
    link = FleetLink(
        broker,
        client_id=client_id,
        prefix=prefix,
        clock=clock,
        max_telemetry_age_s=60.0,
        fleet_secret=secret,
        event_journal=StoreJournal(store, client_id),
    )
    async with sim, link:
        # Silence is judged on the shared clock: at 150-200x, the default 90 simulated seconds would
        # be under half a wall second, which a busy 2-core machine can stall for.
        settings = DispatcherSettings(plan_seconds=plan_seconds, silent_after_s=5.0 * speed)
        if start_lead_s is not None:
            settings = dataclasses.replace(settings, start_lead_s=start_lead_s)
        dispatcher = Dispatcher(store, link, clock, settings, pool=pool, terrain=terrain)
        async with dispatcher:
            yield System(store, clock, sim, link, dispatcher, fleet, secret)


def point_ahead(
    system: System, mission_id: str, distance_m: float, keep_clear_m: float
) -> tuple[float, float] | None:
    """The point ``distance_m`` ahead of the drone along the rest of its path, if at least
    ``keep_clear_m`` of that path remains beyond it, no pad or port lies within ``keep_clear_m``
    of it and no zone margin within ``ZONE_CLEARANCE_M`` (lon, lat); else None. Measured on the
    path the dispatcher sees from its last sample of the drone (the one its zone scan checks), and
    ahead of that by as far as the simulated drone truly is from it. None unless the simulated
    drone is en route and that sample at most ``SAMPLE_LAG_M`` behind it: on a loaded machine the
    sample can be kilometres behind, or the drone already landed while the dispatcher has not yet
    heard it (its position at the port then lies on its route's first leg, and the "rest of the
    path" would be the whole route: two loaded runs put the zone there)."""
    d = system.dispatcher
    m = d.missions[mission_id]
    pos = d.picture.position(m.drone_id)
    drone = system.sim.drone(m.drone_id)
    if pos is None or drone.state != "en_route":
        return None
    frame = system.sim.frame
    true = drone.lonlat()
    lag = math.dist(frame.to_xy(*pos), frame.to_xy(*true))
    if lag > SAMPLE_LAG_M:
        return None
    distance_m += lag
    k = next_waypoint(d.airspace, pos, m.waypoints, max(1, m.reached_at))
    path = [frame.to_xy(pos[0], pos[1])] + [frame.to_xy(w[0], w[1]) for w in m.waypoints[k:]]
    lengths = [math.dist(a, b) for a, b in itertools.pairwise(path)]
    if sum(lengths) < distance_m + keep_clear_m:
        return None
    walked = 0.0
    for (a, b), length in zip(itertools.pairwise(path), lengths, strict=True):
        if walked + length >= distance_m:
            f = (distance_m - walked) / length
            x, y = a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])
            # Not over a pad or a port: the pop-up zone must cut the path, not close a stop.
            stops = [(p.lon, p.lat) for p in pads().values()] + [(p.lon, p.lat) for p in system.fleet.ports]
            if any(math.dist((x, y), frame.to_xy(px, py)) < keep_clear_m for px, py in stops):
                return None
            lon, lat = frame.to_lonlat(x, y)
            # Nor next to another zone (see ZONE_CLEARANCE_M).
            assert d.airspace.frame is not None
            here = Point(d.airspace.frame.to_xy(float(lon), float(lat)))
            margins = [d.airspace.buffered_shape(z.id) for z in d.airspace.zones]
            if any(shape.distance(here) < ZONE_CLEARANCE_M for shape in margins):
                return None
            return float(lon), float(lat)
        walked += length
    return None
