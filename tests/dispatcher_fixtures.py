"""Helpers for the dispatcher tests: the ``solver_pool`` fixture and zone builders. The whole system
(store, simulated fleet, link, dispatcher on one shared clock) and the request builders are the
supported :mod:`dispatch.harness`, which the benchmarks use too."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from airspace.frame import LocalFrame
from airspace.zones import Zone, parse_zones
from dispatch.harness import System
from dispatch.service.missions import StopSpec, Waypoint
from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store


@pytest.fixture(name="solver_pool", scope="session")
def solver_pool_fixture() -> Iterator[SolverPool]:
    """One pair of solver worker processes for the whole session (they take seconds to start)."""
    pool = SolverPool()
    try:
        yield pool
    finally:
        pool.close()


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


async def states(store: Store, ids: list[str]) -> dict[str, str]:
    """The state of each request."""
    return {rid: (await store.requests.get(rid)).state for rid in ids}
