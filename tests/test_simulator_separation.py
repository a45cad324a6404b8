"""The separation monitor watches real simulated drones flown over the real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from fleet.clock import ScaledClock
from fleet.connection import BrokerAddress, client_id_from
from fleet.description import Fleet, load_fleet
from fleet.link import FleetLink
from fleet.messages import Landed, LossOfSeparation, Start, UploadMission
from routing.intents import SeparationMinima
from simulator.fleet_sim import SimulatedFleet
from tests.conftest import EXAMPLES
from tests.fault_checks import assert_no_separation_loss

ALT = 120.0


@pytest.fixture
def fleet() -> Fleet:
    return load_fleet(EXAMPLES / "fleet.json")


async def _fly_between_ports(sim: SimulatedFleet, link: FleetLink, fleet: Fleet) -> None:
    """D01 flies service centre -> market bureau and D06 market bureau -> service centre on the same
    line at the same altitude, started together: they meet head-on. D02 stays parked at the service
    centre."""
    centre, market = fleet.port("port-service-centre"), fleet.port("port-zhonghua")
    legs = {"D01": (centre, market), "D06": (market, centre)}
    expires = link.clock.now() + timedelta(minutes=10)
    for drone, (a, b) in legs.items():
        upload = UploadMission(
            drone_id=drone,
            cmd_id=f"up-{drone}",
            expires_at=expires,
            mission_id=f"M-{drone}",
            waypoints=[(a.lon, a.lat, ALT), (b.lon, b.lat, ALT)],
            lost_link="hold",
        )
        ack = await link.send(upload)
        assert ack.accepted, ack.reason
    for drone in legs:
        ack = await link.send(
            Start(drone_id=drone, cmd_id=f"go-{drone}", expires_at=expires, mission_id=f"M-{drone}")
        )
        assert ack.accepted, ack.reason
    for drone in legs:
        await sim.wait_event(drone, Landed, timeout_s=30)


async def test_two_drones_flown_head_on_lose_separation_once(
    fleet: Fleet, broker: BrokerAddress, prefix: str
) -> None:
    clock = ScaledClock(60.0)
    sim = SimulatedFleet(fleet, broker, clock=clock, prefix=prefix, drone_ids=["D01", "D02", "D06"])
    async with (
        FleetLink(broker, client_id=client_id_from("disp", prefix), prefix=prefix, clock=clock) as link,
        sim,
    ):
        with link.subscribe() as updates:
            await _fly_between_ports(sim, link, fleet)

            async def reported() -> LossOfSeparation:
                async for update in updates:
                    if isinstance(update, LossOfSeparation):
                        return update
                raise AssertionError("unreachable")

            # The loss ended before either drone landed: its event is already on its way.
            event = await asyncio.wait_for(reported(), timeout=10)
    losses = sim.separation_losses
    assert [loss.pair for loss in losses] == [("D01", "D06")], [loss.describe() for loss in losses]
    loss = losses[0]
    assert loss.ended and loss.closest_m < 1.0  # same line, same altitude: they pass through each other
    # The parked D02 at service centre is never in a loss: D01 left beside it and D06 landed beside it.
    assert sim.separation.per_pair == {("D01", "D06"): 1}
    with pytest.raises(AssertionError, match="D01 and D06"):
        assert_no_separation_loss(sim)
    # Reported once over the protocol, by the first drone of the pair, as the simulator saw it.
    assert [e for e in sim.events if isinstance(e, LossOfSeparation)] == [event]
    assert (event.drone_id, event.other_drone_id, event.mission_id) == ("D01", "D06", "M-D01")
    assert (event.started_at, event.ts) == (loss.start, loss.end)
    assert event.closest_m == round(loss.closest_m, 2) and event.alt_m == pytest.approx(ALT, abs=1)


def test_configured_minima_are_the_monitors(fleet: Fleet, broker: BrokerAddress) -> None:
    sim = SimulatedFleet(fleet, broker, separation=SeparationMinima(horizontal_m=70.0, vertical_m=20.0))
    assert sim.separation.minima == SeparationMinima(70.0, 20.0)
    assert all(agent.separation is sim.separation for agent in sim.agents.values())
    assert SimulatedFleet(fleet, broker).separation.minima == SeparationMinima(50.0, 15.0)


def test_a_late_tick_still_gives_the_monitor_one_sample_per_period(
    fleet: Fleet, broker: BrokerAddress
) -> None:
    """A drone turning a corner during a tick 20 s late: the straight line between the two samples
    would cut the corner through a hovering drone 75 m from the true path (a false loss)."""
    sim = SimulatedFleet(fleet, broker, drone_ids=["D01"])
    agent = sim.agents["D01"]
    drone = agent.sim
    px, py = drone.x, drone.y
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    route = [(px, py), (px + 600, py), (px + 600, py + 600), (px, py)]
    waypoints = [(*sim.frame.to_lonlat(x, y), ALT) for x, y in route]
    expires = t0 + timedelta(minutes=10)
    drone.advance_to(t0)
    upload = UploadMission(
        drone_id="D01",
        cmd_id="up",
        expires_at=expires,
        mission_id="M1",
        waypoints=waypoints,
        lost_link="hold",
    )
    assert (
        drone.apply(upload, t0)[0]
        and drone.apply(Start(drone_id="D01", cmd_id="go", expires_at=expires, mission_id="M1"), t0)[0]
    )
    previous = drone.position
    for s in range(1, 31):  # on time: 15 m/s east, climbing to 120 m by 24 s
        previous = agent._simulate(t0 + timedelta(seconds=s), previous)
    hover = (px + 525, py + 75, ALT)  # the midpoint of the corner's chord, 75 m from the true path
    sim.separation.observe("X", t0 + timedelta(seconds=30), hover, True)
    agent._simulate(t0 + timedelta(seconds=50), previous)  # one late tick round the corner at 40 s
    sim.separation.observe("X", t0 + timedelta(seconds=50), hover, True)
    assert drone.position == pytest.approx((px + 600, py + 150, ALT))
    assert sim.separation_losses == []
