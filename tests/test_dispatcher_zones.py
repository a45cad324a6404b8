"""A temporary zone added mid-flight: the dispatcher re-routes the flight it blocks, no breach."""

from __future__ import annotations

import math
from typing import Any

from dispatch.service.solver_pool import SolverPool
from dispatch.store import Store
from fleet.connection import BrokerAddress
from fleet.messages import PickedUp
from tests.db_fixtures import db_url_fixture, store_fixture  # noqa: F401
from tests.dispatcher_fixtures import (
    System,
    parse_zone,
    request,
    running_system,
    solver_pool_fixture,  # noqa: F401
    states,
)
from tests.mqtt_fixtures import broker_fixture, prefix_fixture  # noqa: F401


def longest_leg(
    system: System, mission_id: str, after_request: str | None = None
) -> tuple[float, tuple[float, float]]:
    """Length and middle (lon, lat) of the longest segment the mission flies after the pickup of
    ``after_request`` (default: its first stop)."""
    m = system.dispatcher.missions[mission_id]
    first = min(s.at for s in m.stops if after_request is None or s.request_id == after_request)
    frame = system.sim.frame
    best, mid = -1.0, (0.0, 0.0)
    for a, b in zip(m.waypoints[first:], m.waypoints[first + 1 :], strict=False):
        ax, ay = frame.to_xy(a[0], a[1])
        bx, by = frame.to_xy(b[0], b[1])
        length = math.hypot(bx - ax, by - ay)
        if length > best:
            lon, lat = frame.to_lonlat((ax + bx) / 2, (ay + by) / 2)
            best, mid = length, (float(lon), float(lat))
    return best, mid


def blocking_zone(
    system: System, mission_id: str, zone_id: str, radius_m: float = 150.0, after_request: str | None = None
) -> dict[str, Any]:
    """A disc on the middle of the longest segment the mission still has to fly after a pickup."""
    best, mid = longest_leg(system, mission_id, after_request)
    assert best > 6 * radius_m, "the test needs a long leg after the pickup"
    return {
        "type": "Feature",
        "properties": {"id": zone_id, "kind": "no_fly", "radius_m": radius_m, "reason": "test: pop-up zone"},
        "geometry": {"type": "Point", "coordinates": list(mid)},
    }


async def test_zone_added_mid_flight_reroutes_without_breach(
    store: Store, broker: BrokerAddress, prefix: str, solver_pool: SolverPool
) -> None:
    async with running_system(store, broker, prefix, pool=solver_pool) as system:
        d = system.dispatcher
        view = await d.submit(request("manan-gu-office", "indeokwon"))
        assert view.state == "accepted"
        picked = await system.sim.wait_for(
            lambda e: isinstance(e, PickedUp) and e.request_id == view.id, timeout_s=30
        )
        assert picked.mission_id is not None
        feature = blocking_zone(system, picked.mission_id, "pop-up")
        system.watch_zone(parse_zone(feature))
        hit = await d.add_zone(feature, actor="operator-test")
        assert hit == [picked.mission_id]

        async def done() -> bool:
            return (await states(store, [view.id]))[view.id] == "delivered" and not d.missions

        await d.wait_until(done, timeout_s=60)
        assert not system.sim.breaches
        flight = await store.flights.get(picked.mission_id)
        reroutes = [c for c in flight.commands if c.kind == "Reroute" and c.result == "ack"]
        assert len(reroutes) == 1
        assert [c.kind for c in flight.commands if c.result == "ack"][-3:] == ["Hold", "Reroute", "Resume"]
        history = await store.history("flight", picked.mission_id)
        assert "rerouted" in [e.action for e in history]
        print(
            "reroute reaction wall s",
            d.stats.reroute_reaction_wall_s,
            "sim s",
            d.stats.reroute_reaction_sim_s,
        )
        report = await store.verify_audit()
        assert report.ok
