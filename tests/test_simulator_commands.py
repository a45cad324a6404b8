"""The simulated drone obeys reroute, return-to-port, land-now and the lost-link return policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airspace.zones import load_zones
from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import Fleet, load_fleet
from fleet.link import FleetLink
from fleet.messages import (
    Delivered,
    HandoverStop,
    Hold,
    Landed,
    LandNow,
    PickedUp,
    Reroute,
    Resume,
    ReturnToPort,
    TookOff,
)
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.fleet_helpers import ALT, DETOUR, DROPOFF, PICKUP, SERVICE_CENTRE_PORT, start, upload, wait_until

EAST = (114.4000, 36.1055)  # east of the pickup; from here straight to the drop-off crosses the facility


@pytest.fixture
def fleet() -> Fleet:
    return load_fleet(EXAMPLES / "fleet.json")


def make(fleet: Fleet, broker: BrokerAddress, prefix: str, speed: float, **kw: object):  # type: ignore[no-untyped-def]
    clock = ScaledClock(speed)
    link = FleetLink(broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock)
    zones = load_zones(EXAMPLES / "zones.geojson")
    sim = SimulatedFleet(
        fleet, broker, clock=clock, prefix=prefix, zones=zones, drone_ids=["D01"], session_expiry_s=120, **kw
    )  # type: ignore[arg-type]
    return link, sim


def wp(*points: tuple[float, float]) -> list[tuple[float, float, float]]:
    return [(lon, lat, ALT) for lon, lat in points]


async def test_reroute_mid_flight_avoids_the_zone(fleet: Fleet, broker: BrokerAddress, prefix: str) -> None:
    link, sim = make(fleet, broker, prefix, speed=200)
    clock = link.clock
    drone = sim.drone("D01")
    async with link, sim:
        cmd = upload(clock, path=[PICKUP, EAST, DROPOFF, DETOUR, SERVICE_CENTRE_PORT])
        assert (await link.send(cmd)).accepted
        assert (await link.send(start(clock))).accepted
        await sim.wait_event("D01", PickedUp, timeout_s=10)
        await wait_until(lambda: drone.state == "en_route" and drone.next_wp == 1, what="flying east")
        expires = clock.now() + timedelta(hours=1)
        # Hold while the new path is decided (as a dispatcher would), so the test has no race.
        assert (await link.send(Hold(drone_id="D01", cmd_id="h", expires_at=expires))).accepted
        too_late = Reroute(
            drone_id="D01",
            cmd_id="rr-0",
            expires_at=expires,
            mission_id="M1",
            from_index=0,
            waypoints=wp(PICKUP),
            stops=[],
        )
        ack = await link.send(too_late)
        assert not ack.accepted and "already passed" in (ack.reason or "")
        around = Reroute(
            drone_id="D01",
            cmd_id="rr-1",
            expires_at=expires,
            mission_id="M1",
            from_index=2,
            waypoints=wp(DETOUR, DROPOFF, DETOUR, SERVICE_CENTRE_PORT),
            stops=[HandoverStop(at=3, request_id="R001", recipient_code="5678")],
        )
        ack = await link.send(around)
        assert ack.accepted, ack.reason
        assert (await link.send(Resume(drone_id="D01", cmd_id="r", expires_at=expires))).accepted
        delivered = await sim.wait_event("D01", Delivered, timeout_s=20)
        assert delivered.code_ok
        landed = await sim.wait_event("D01", Landed, timeout_s=20)
        assert landed.port_id == "port-service-centre"
    assert sim.breaches == []


async def test_return_to_port_and_land_now(fleet: Fleet, broker: BrokerAddress, prefix: str) -> None:
    link, sim = make(fleet, broker, prefix, speed=200)
    clock = link.clock
    drone = sim.drone("D01")
    async with link, sim:
        assert (await link.send(upload(clock))).accepted
        assert (await link.send(start(clock))).accepted
        await sim.wait_event("D01", PickedUp, timeout_s=10)
        await wait_until(lambda: drone.state == "en_route", what="en route")
        home = ReturnToPort(
            drone_id="D01",
            cmd_id="rtp",
            expires_at=clock.now() + timedelta(hours=1),
            port_id="port-service-centre",
            waypoints=wp(SERVICE_CENTRE_PORT),
        )
        assert (await link.send(home)).accepted
        landed = await sim.wait_event("D01", Landed, timeout_s=20)
        assert landed.port_id == "port-service-centre" and drone.payload == {"R001": 0.3}  # not delivered
        assert not any(isinstance(e, Delivered) for e in sim.events)

        # Off again (a new mission after the battery swap), then land where it is.
        assert (await link.send(upload(clock, mission_id="M2"))).accepted
        assert (await link.send(start(clock, mission_id="M2"))).accepted
        await wait_until(lambda: drone.state == "en_route" and drone.alt > 50, timeout_s=20, what="airborne")
        land = LandNow(drone_id="D01", cmd_id="land", expires_at=clock.now() + timedelta(hours=1))
        assert (await link.send(land)).accepted
        landed = await sim.wait_for(lambda e: isinstance(e, Landed) and e.mission_id == "M2", timeout_s=20)
        assert landed.port_id is None and drone.state == "idle"
    assert sim.breaches == []


async def test_lost_link_policy_return_retraces_the_flown_path(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    link, sim = make(fleet, broker, prefix, speed=100, lost_link_after_s=10.0)
    clock = link.clock
    drone = sim.drone("D01")
    async with link, sim:
        assert (await link.send(upload(clock, lost_link="return"))).accepted
        assert (await link.send(start(clock))).accepted
        await sim.wait_event("D01", TookOff, timeout_s=10)
        await wait_until(lambda: drone.state == "en_route" and drone.next_wp == 1, what="past the pickup")
        sim.inject_link_loss("D01", 600.0)
        landed = await sim.wait_event("D01", Landed, timeout_s=20)
        assert landed.port_id == "port-service-centre"  # where it took off
        assert not sim.agents["D01"].connected.is_set()
    assert sim.breaches == []
