"""A simulated drone flies real missions over a real broker, commanded through the fleet link."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import pytest

from airspace.zones import load_zones
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import Fleet, load_fleet
from fleet.link import FleetLink
from fleet.messages import (
    Delivered,
    GeofenceBreach,
    HandoverStop,
    Landed,
    PickedUp,
    PickupStop,
    Start,
    UploadMission,
)
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES

SPEED = 300.0
PICKUP = (114.3968, 36.1043)  # service centre pad
DROPOFF = (114.416, 36.1115)  # Zhangde Road, behind the Huan river corridor
DETOUR = (114.4130, 36.1075)  # south-east of the facility: a path around it
ALT = 120.0


def wp(p: tuple[float, float]) -> tuple[float, float, float]:
    return (p[0], p[1], ALT)


@pytest.fixture
def fleet() -> Fleet:
    return load_fleet(EXAMPLES / "fleet.json")


def mission(
    link: FleetLink, drone: str, path: list[tuple[float, float]], n: int = 1
) -> tuple[UploadMission, Start]:
    clock = link.clock
    cmd = UploadMission(
        drone_id=drone,
        cmd_id=f"up-{n}",
        expires_at=clock.now() + timedelta(minutes=10),
        mission_id=f"M{n}",
        waypoints=[wp(p) for p in path],
        stops=[
            PickupStop(at=0, request_id="R001", pickup_code="1234", payload_kg=0.3),
            HandoverStop(at=2, request_id="R001", recipient_code="5678"),
        ],
        lost_link="hold",
    )
    start = Start(
        drone_id=drone, cmd_id=f"go-{n}", expires_at=clock.now() + timedelta(minutes=10), mission_id=f"M{n}"
    )
    return cmd, start


async def fly(
    fleet: Fleet,
    address: BrokerAddress,
    prefix: str,
    path: list[tuple[float, float]],
    code: str = "",
) -> tuple[SimulatedFleet, FleetLink]:
    clock = ScaledClock(SPEED)
    zones = load_zones(EXAMPLES / "zones.geojson")
    sim = SimulatedFleet(fleet, address, clock=clock, prefix=prefix, zones=zones, drone_ids=["D01"])
    async with (
        FleetLink(address, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock) as link,
        sim,
    ):
        if code:
            sim.present_code("D01", "R001", code)
        upload, start = mission(link, "D01", path)
        ack = await link.send(upload)
        assert ack.accepted, ack.reason
        ack = await link.send(start)
        assert ack.accepted, ack.reason
        await sim.wait_event("D01", Landed, timeout_s=20)
        status = link.registry.get("D01")
        assert status is not None and status.telemetry_count > 10
    return sim, link


async def test_mission_with_pickup_and_handover(fleet: Fleet, broker: BrokerAddress, prefix: str) -> None:
    port = fleet.port("port-service-centre")
    home = (port.lon, port.lat)
    path = [PICKUP, DETOUR, DROPOFF, DETOUR, home]
    sim, _ = await fly(fleet, broker, prefix, path)
    drone = sim.drone("D01")
    kinds = [type(e).__name__ for e in sim.events]
    assert kinds == ["TookOff", "ReachedStop", "PickedUp", "ReachedStop", "Delivered", "Landed"], kinds
    picked = next(e for e in sim.events if isinstance(e, PickedUp))
    delivered = next(e for e in sim.events if isinstance(e, Delivered))
    landed = next(e for e in sim.events if isinstance(e, Landed))
    assert picked.code_ok and delivered.code_ok
    assert landed.port_id == "port-service-centre"
    assert drone.payload == {} and drone.state == "idle"
    assert not sim.breaches

    # Battery drain follows the planner's energy model leg by leg (payload on board after the pickup).
    model = fleet.model_of(fleet.drones[0])
    xy = [sim.frame.to_xy(*p) for p in [home, *path]]
    legs = [math.dist(a, b) for a, b in itertools.pairwise(xy)]
    loads = [0.0, 0.3, 0.3, 0.0, 0.0]
    expected = sum(model.leg_energy_wh(d, w) for d, w in zip(legs, loads, strict=True))
    assert drone.energy_used_wh == pytest.approx(expected, rel=1e-3)
    assert drone.distance_flown_m == pytest.approx(sum(legs), rel=1e-6)

    # Timing follows the planner: legs at cruise speed, service_s per pad stop.
    took_off = sim.events[0].ts
    expected_s = sum(legs) / model.cruise_speed_mps + 2 * model.service_s
    assert (landed.ts - took_off).total_seconds() == pytest.approx(expected_s, abs=0.01)
    at_drop = sum(legs[:3]) / model.cruise_speed_mps + model.service_s
    stop2 = [e for e in sim.events if type(e).__name__ == "ReachedStop"][1]
    assert (stop2.ts - took_off).total_seconds() == pytest.approx(at_drop, abs=0.01)


async def test_wrong_recipient_code_is_refused(fleet: Fleet, broker: BrokerAddress, prefix: str) -> None:
    port = fleet.port("port-service-centre")
    path = [PICKUP, DETOUR, DROPOFF, DETOUR, (port.lon, port.lat)]
    sim, _ = await fly(fleet, broker, prefix, path, code="0000")
    delivered = next(e for e in sim.events if isinstance(e, Delivered))
    assert not delivered.code_ok
    assert sim.drone("D01").payload == {"R001": 0.3}  # the document came back


async def test_breach_monitor_fires_through_a_zone(fleet: Fleet, broker: BrokerAddress, prefix: str) -> None:
    port = fleet.port("port-service-centre")
    # Straight from the pickup to the drop-off crosses the Huan river corridor.
    path = [PICKUP, PICKUP, DROPOFF, DETOUR, (port.lon, port.lat)]
    sim, _ = await fly(fleet, broker, prefix, path)
    assert [b.zone_id for b in sim.breaches] == ["huan-river-corridor"]
    breach = sim.breaches[0]
    assert isinstance(breach, GeofenceBreach) and breach.drone_id == "D01"
