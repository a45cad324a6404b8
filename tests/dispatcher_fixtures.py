"""Helpers for the dispatcher tests: a whole system (store, simulated fleet, link, dispatcher) on one
shared clock, over the real broker, and request/zone builders for the Anyang sample."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airspace.frame import LocalFrame
from airspace.zones import Zone, load_zones, parse_zones
from dispatch.service.dispatcher import Dispatcher
from dispatch.service.missions import StopSpec, Waypoint
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
from simulator.monitor import AirspaceMonitor
from tests.conftest import EXAMPLES

SIM_START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 09:00 in Anyang


@pytest.fixture(name="solver_pool", scope="session")
def solver_pool_fixture() -> Iterator[SolverPool]:
    """One pair of solver worker processes for the whole session (they take seconds to start)."""
    pool = SolverPool()
    try:
        yield pool
    finally:
        pool.close()


def zone_features() -> list[dict[str, Any]]:
    """The sample zones as GeoJSON features."""
    data = json.loads((EXAMPLES / "zones.geojson").read_text(encoding="utf-8"))
    return list(data["features"])


def sample_fleet(drones: int = 6) -> Fleet:
    """The sample fleet with ``drones`` drones: its first ones, or grown (extra ones spread over
    the ports)."""
    fleet = load_fleet(EXAMPLES / "fleet.json")
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
    return {pid: place for pid, (_, place) in load_pads(EXAMPLES / "pads.json").items()}


def request(src: str, dst: str, *, weight: float = 0.3, deadline_min: float = 90.0, now: datetime = SIM_START,
            key: str | None = None) -> NewRequest:  # fmt: skip
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
        assert self.sim.monitor is not None
        zones = [*self.sim.monitor.zones, zone]
        monitor = AirspaceMonitor(zones, self.sim.frame)
        self.sim.monitor = monitor
        for agent in self.sim.agents.values():
            agent.monitor = monitor


def parse_zone(feature: dict[str, Any]) -> Zone:
    """One zone from a GeoJSON feature."""
    return parse_zones({"type": "FeatureCollection", "features": [feature]})[0]


def longest_leg(
    frame: LocalFrame,
    waypoints: Sequence[Waypoint],
    stops: Sequence[StopSpec],
    after_request: str | None = None,
    along: float = 0.5,
) -> tuple[float, tuple[float, float]]:
    """Length of the longest segment of a mission's ``waypoints`` after the pickup of
    ``after_request`` (default: its first stop), and the (lon, lat) ``along`` its length."""
    first = min(s.at for s in stops if after_request is None or s.request_id == after_request)
    best, point = -1.0, (0.0, 0.0)
    for a, b in zip(waypoints[first:], waypoints[first + 1 :], strict=False):
        ax, ay = frame.to_xy(a[0], a[1])
        bx, by = frame.to_xy(b[0], b[1])
        length = math.hypot(bx - ax, by - ay)
        if length > best:
            lon, lat = frame.to_lonlat(ax + along * (bx - ax), ay + along * (by - ay))
            best, point = length, (float(lon), float(lat))
    return best, point


def zone_across(
    frame: LocalFrame,
    waypoints: Sequence[Waypoint],
    stops: Sequence[StopSpec],
    zone_id: str,
    radius_m: float = 150.0,
    after_request: str | None = None,
    along: float = 0.5,
) -> dict[str, Any]:
    """A no-fly disc (GeoJSON feature) on the longest segment a mission flies after a pickup,
    ``along`` its length (the middle by default): a zone its drone enters unless re-routed."""
    best, point = longest_leg(frame, waypoints, stops, after_request, along)
    assert best * min(along, 1.0 - along) > 3 * radius_m, "the test needs a long leg after the pickup"
    return {
        "type": "Feature",
        "properties": {"id": zone_id, "kind": "no_fly", "radius_m": radius_m, "reason": "test: pop-up zone"},
        "geometry": {"type": "Point", "coordinates": list(point)},
    }


def blocking_zone(
    system: System, mission_id: str, zone_id: str, radius_m: float = 150.0, after_request: str | None = None
) -> dict[str, Any]:
    """:func:`zone_across` the rest of a mission of the system's (in-process) dispatcher."""
    m = system.dispatcher.missions[mission_id]
    return zone_across(system.sim.frame, m.waypoints, m.stops, zone_id, radius_m, after_request)


async def seed(store: Store, fleet: Fleet) -> None:
    """Seed the store with the fleet, pads and offices, and the sample zones."""
    await store.directory.seed(fleet, load_pads(EXAMPLES / "pads.json"), actor="test-seed")
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
) -> AsyncIterator[System]:
    """Seed ``store``, start the simulated fleet, the link and the dispatcher on one shared clock;
    the drones sign what they report and the link checks it, as in production."""
    fleet = sample_fleet(drones)
    secret = FleetSecret.generate()
    await seed(store, fleet)
    clock = SharedClock.starting_now(speed, SIM_START)
    sim = SimulatedFleet(
        fleet,
        broker,
        clock=clock,
        prefix=prefix,
        zones=load_zones(EXAMPLES / "zones.geojson"),
        telemetry_period_s=telemetry_period_s,
        fleet_secret=secret,
    )
    link = FleetLink(
        broker, client_id=f"disp-{prefix.split('/')[0]}", prefix=prefix, clock=clock,
        max_telemetry_age_s=60.0, fleet_secret=secret,
    )  # fmt: skip
    async with sim, link:
        # Silence is judged on the shared clock: at 150-200x, the default 90 simulated seconds would
        # be under half a wall second, which a busy 2-core machine can stall for.
        settings = DispatcherSettings(plan_seconds=plan_seconds, silent_after_s=5.0 * speed)
        dispatcher = Dispatcher(store, link, clock, settings, pool=pool)
        async with dispatcher:
            yield System(store, clock, sim, link, dispatcher, fleet, secret)


async def states(store: Store, ids: list[str]) -> dict[str, str]:
    """The state of each request."""
    return {rid: (await store.requests.get(rid)).state for rid in ids}
