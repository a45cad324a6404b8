"""``abort_mission`` on the simulated drone (no I/O): cleared on the ground, no more stops in the air."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airspace.frame import LocalFrame
from fleet.description import Fleet, load_fleet
from fleet.messages import (
    AbortMission,
    HandoverStop,
    LandNow,
    PickupStop,
    ProtocolError,
    Resume,
    Start,
    UploadMission,
    decode,
    encode,
)
from simulator.drone import SimDrone
from tests.conftest import EXAMPLES
from tests.fleet_helpers import ALT, PICKUP, SERVICE_CENTRE_PORT

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
EXP = T0 + timedelta(hours=3)
EAST = (114.4155, 36.1052)  # about 1.8 km east of the service centre port


@pytest.fixture
def fleet() -> Fleet:
    return load_fleet(EXAMPLES / "fleet.json")


def drone(fleet: Fleet) -> SimDrone:
    d = fleet.drones[0]
    frame = LocalFrame.for_points([(p.lon, p.lat) for p in fleet.ports])
    sim = SimDrone.at_home(d, fleet.model_of(d), fleet.port(d.port), frame, ports=fleet.ports)
    sim.advance_to(T0)
    return sim


def upload(sim: SimDrone, mission_id: str = "M1") -> None:
    """Pick up R1 at the service centre pad, hand it over 1.8 km east, back to the port."""
    stops = [
        PickupStop(at=0, request_id="R1", pickup_code="1111", payload_kg=0.3),
        HandoverStop(at=1, request_id="R1", recipient_code="2222"),
    ]
    up = UploadMission(
        drone_id=sim.id,
        cmd_id=f"{mission_id}.up",
        expires_at=EXP,
        mission_id=mission_id,
        waypoints=[(*PICKUP, ALT), (*EAST, ALT), (*SERVICE_CENTRE_PORT, ALT)],
        stops=stops,
        lost_link="hold",
    )
    assert sim.apply(up, sim.sim_time or T0) == (True, None)


def start(sim: SimDrone, mission_id: str = "M1", cmd_id: str = "M1.go") -> tuple[bool, str | None]:
    go = Start(drone_id=sim.id, cmd_id=cmd_id, expires_at=EXP, mission_id=mission_id)
    return sim.apply(go, sim.sim_time or T0)


def abort(sim: SimDrone, mission_id: str = "M1", cmd_id: str = "M1.abort") -> tuple[bool, str | None]:
    cmd = AbortMission(drone_id=sim.id, cmd_id=cmd_id, expires_at=EXP, mission_id=mission_id)
    return sim.apply(cmd, sim.sim_time or T0)


def run(sim: SimDrone, seconds: float) -> list[str]:
    """Simulate ``seconds`` more (1 s steps); the names of the events that happened."""
    assert sim.sim_time is not None
    until = sim.sim_time + timedelta(seconds=seconds)
    while sim.sim_time < until:
        sim.advance_to(min(until, sim.sim_time + timedelta(seconds=1)))
    return [type(e).__name__ for e in sim.drain_events()]


def test_the_wire_form() -> None:
    cmd = AbortMission(drone_id="D01", cmd_id="M-1.ab", expires_at=EXP, mission_id="M-1")
    body = encode(cmd)
    assert b'"type":"abort_mission"' in body and decode("cmd", body, "D01") == cmd
    with pytest.raises(ProtocolError, match="malformed"):
        decode("cmd", body.replace(b'"mission_id":"M-1"', b'"mission_id":"../x"'), "D01")
    with pytest.raises(ProtocolError, match="malformed"):
        decode("cmd", body.replace(b"{", b'{"extra":1,', 1), "D01")


def test_an_abort_during_the_battery_swap_cancels_the_pending_start(fleet: Fleet) -> None:
    sim = drone(fleet)
    sim.swap_until = T0 + timedelta(minutes=10)  # landed a moment ago: the start waits for the swap
    upload(sim)
    assert start(sim) == (True, None) and sim.start_pending
    assert abort(sim) == (True, None)
    assert sim.state == "idle" and sim.mission is None and not sim.start_pending
    assert run(sim, 3600) == []  # never takes off with it
    assert sim.alt == 0.0 and sim.payload == {}
    assert start(sim, "M1", "M1.go2") == (False, "unknown mission 'M1'")


def test_an_abort_is_accepted_after_a_fault_and_for_a_mission_the_drone_does_not_hold(fleet: Fleet) -> None:
    sim = drone(fleet)
    upload(sim)
    assert abort(sim, "M0", "M0.abort") == (True, None)  # another mission: nothing changes
    assert sim.state == "ready" and sim.mission is not None
    sim.motor_fault(T0)  # on the ground: every other command is refused now, not the abort
    assert abort(sim) == (True, None)
    assert sim.mission is None and sim.state == "fault"
    assert abort(sim) == (True, None)  # the same cmd_id: the same answer, once


def test_an_abort_in_the_air_makes_no_more_stops_and_hovers_until_told(fleet: Fleet) -> None:
    sim = drone(fleet)
    upload(sim)
    start(sim)
    events = run(sim, 150)  # picked up at the pad, on the way east
    assert "PickedUp" in events and sim.state == "en_route" and sim.payload == {"R1": 0.3}
    assert abort(sim) == (True, None)
    assert sim.state == "holding" and sim.mission is None
    x, y = sim.x, sim.y
    assert run(sim, 600) == [] and (sim.x, sim.y) == (x, y)  # no hand-over, no move
    resume = Resume(drone_id=sim.id, cmd_id="r", expires_at=EXP)
    assert sim.apply(resume, sim.sim_time) == (False, "nothing to resume in state holding")  # type: ignore[arg-type]
    assert sim.apply(LandNow(drone_id=sim.id, cmd_id="land", expires_at=EXP), sim.sim_time)[0]  # type: ignore[arg-type]
    run(sim, 120)
    assert sim.state == "idle" and sim.payload == {"R1": 0.3}  # the document stayed on board
    landed = sim.telemetry(sim.sim_time)  # type: ignore[arg-type]
    assert landed.mission_id is None


def test_an_abort_mid_pickup_makes_no_pickup(fleet: Fleet) -> None:
    sim = drone(fleet)
    upload(sim)
    start(sim)
    while sim.state != "servicing":
        run(sim, 1)
    assert abort(sim) == (True, None)
    assert "PickedUp" not in run(sim, 600) and sim.payload == {}


def test_a_lost_link_while_hovering_after_an_abort_flies_back_the_way_it_came(fleet: Fleet) -> None:
    sim = drone(fleet)
    upload(sim)
    start(sim)
    run(sim, 150)
    abort(sim)
    assert sim.link_lost(sim.sim_time)  # type: ignore[arg-type]
    assert sim.state == "returning"
    events = run(sim, 900)
    assert events[-1] == "Landed" and sim.state == "idle"
    home = sim.frame.to_xy(*SERVICE_CENTRE_PORT)
    assert abs(sim.x - home[0]) < 30 and abs(sim.y - home[1]) < 30
