"""The simulated drone's physics without a network: timing, energy, wind, swaps, idempotency."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from airspace.frame import LocalFrame
from fleet.description import Fleet, load_fleet
from fleet.messages import RESUME_WINDOW_PASSED, Hold, Resume, Start, UploadMission
from routing.wind_energy import TAIL_WIND_FLOOR
from simulator.drone import SimDrone
from simulator.wind import wind_vector
from tests.conftest import EXAMPLES
from tests.fleet_helpers import ALT, SERVICE_CENTRE_PORT

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
EAST = (114.4155, 36.1052)  # about 1.8 km east of the service centre port


@pytest.fixture
def fleet() -> Fleet:
    return load_fleet(EXAMPLES / "fleet.json")


def drone(fleet: Fleet, **kw: object) -> SimDrone:
    d = fleet.drones[0]
    frame = LocalFrame.for_points([(p.lon, p.lat) for p in fleet.ports])
    return SimDrone.at_home(d, fleet.model_of(d), fleet.port(d.port), frame, ports=fleet.ports, **kw)


def out_and_back(sim: SimDrone, at: datetime, n: int = 1) -> None:
    exp = at + timedelta(hours=1)
    wps = [(*EAST, ALT), (*SERVICE_CENTRE_PORT, ALT)]
    up = UploadMission(
        drone_id=sim.id, cmd_id=f"u{n}", expires_at=exp, mission_id=f"M{n}", waypoints=wps, lost_link="hold"
    )
    assert sim.apply(up, at) == (True, None)
    assert sim.apply(Start(drone_id=sim.id, cmd_id=f"s{n}", expires_at=exp, mission_id=f"M{n}"), at)[0]


def run(sim: SimDrone, until: datetime, step_s: float = 1.0) -> None:
    t = sim.sim_time or T0
    while t < until:
        t = min(until, t + timedelta(seconds=step_s))
        sim.advance_to(t)


def leg_m(sim: SimDrone) -> float:
    a = sim.frame.to_xy(*SERVICE_CENTRE_PORT)
    b = sim.frame.to_xy(*EAST)
    return math.dist(a, b)


def test_flight_time_and_energy_follow_the_model_whatever_the_step(fleet: Fleet) -> None:
    for step in (0.37, 1.0, 7.0):
        sim = drone(fleet)
        sim.advance_to(T0)
        out_and_back(sim, T0)
        run(sim, T0 + timedelta(hours=1), step)
        landed = sim.drain_events()[-1]
        flight_s = 2 * leg_m(sim) / sim.model.cruise_speed_mps
        assert (landed.ts - T0).total_seconds() == pytest.approx(flight_s, abs=1e-6)
        assert sim.energy_used_wh == pytest.approx(sim.model.leg_energy_wh(2 * leg_m(sim), 0.0), rel=1e-9)


def test_a_head_wind_costs_energy_not_time(fleet: Fleet) -> None:
    calm, windy = drone(fleet), drone(fleet, wind_xy=wind_vector(8.0, 90.0))  # 8 m/s from the east
    for sim in (calm, windy):
        sim.advance_to(T0)
        out_and_back(sim, T0)
        run(sim, T0 + timedelta(hours=1))
    v = calm.model.cruise_speed_mps
    # Out against the wind: air speed v + 8; back with it: v - 8, which saves no more than the
    # floor lets it (routing.wind_energy: the square of the airspeed ratio).
    expected = calm.energy_used_wh / 2 * (((v + 8) / v) ** 2 + max(TAIL_WIND_FLOOR, ((v - 8) / v) ** 2))
    assert windy.energy_used_wh == pytest.approx(expected, rel=1e-6)
    assert windy.drain_events()[-1].ts == calm.drain_events()[-1].ts


def test_a_start_during_the_battery_swap_takes_off_when_it_ends(fleet: Fleet) -> None:
    sim = drone(fleet)
    sim.advance_to(T0)
    out_and_back(sim, T0)
    flight_s = 2 * leg_m(sim) / sim.model.cruise_speed_mps
    run(sim, T0 + timedelta(seconds=flight_s + 10))
    landed = sim.drain_events()[-1]
    assert sim.state == "idle" and sim.energy_wh < sim.model.battery_wh  # swapping now
    at = sim.sim_time
    assert at is not None
    out_and_back(sim, at, n=2)  # accepted: the energy check counts the fresh battery
    assert sim.state == "ready"
    run(sim, at + timedelta(hours=1))
    took_off = next(e for e in sim.drain_events() if type(e).__name__ == "TookOff")
    assert took_off.ts == landed.ts + timedelta(seconds=sim.model.turnaround_s)


def test_a_start_with_a_take_off_time_waits_on_the_ground_until_then(fleet: Fleet) -> None:
    sim = drone(fleet)
    sim.advance_to(T0)
    exp = T0 + timedelta(hours=1)
    wps = [(*EAST, ALT), (*SERVICE_CENTRE_PORT, ALT)]
    up = UploadMission(
        drone_id=sim.id, cmd_id="u", expires_at=exp, mission_id="M", waypoints=wps, lost_link="hold"
    )
    assert sim.apply(up, T0) == (True, None)
    when = T0 + timedelta(seconds=42.5)
    go = Start(drone_id=sim.id, cmd_id="s", expires_at=exp, mission_id="M", take_off_at=when)
    assert sim.apply(go, T0) == (True, None) and sim.start_pending
    run(sim, T0 + timedelta(seconds=40))
    assert sim.state == "ready" and sim.alt == 0.0 and not sim.drain_events()
    run(sim, T0 + timedelta(seconds=60))
    took_off = next(e for e in sim.drain_events() if type(e).__name__ == "TookOff")
    assert took_off.ts == when and sim.state == "en_route"
    # A start whose time has passed takes off at once.
    late = drone(fleet)
    late.advance_to(T0)
    assert late.apply(up, T0) == (True, None)
    before = T0 - timedelta(seconds=9)
    past = Start(drone_id=late.id, cmd_id="s", expires_at=exp, mission_id="M", take_off_at=before)
    assert late.apply(past, T0) == (True, None) and late.state == "en_route"


def test_a_start_that_cannot_take_off_by_its_window_is_refused(fleet: Fleet) -> None:
    """A drone never flies its route after the time its intent holds: a start received after
    ``take_off_by``, or one a battery swap would delay past it, is refused and nothing flies."""
    exp = T0 + timedelta(hours=1)
    wps = [(*EAST, ALT), (*SERVICE_CENTRE_PORT, ALT)]
    up = UploadMission(
        drone_id="D01", cmd_id="u", expires_at=exp, mission_id="M", waypoints=wps, lost_link="hold"
    )
    depart = T0 - timedelta(seconds=9)

    def start(by_s: float) -> Start:
        by = depart + timedelta(seconds=by_s)
        return Start(  # a drone answers a command id once: one id per window
            drone_id="D01",
            cmd_id=f"s{by_s:g}",
            expires_at=exp,
            mission_id="M",
            take_off_at=depart,
            take_off_by=by,
        )

    late = drone(fleet)
    late.advance_to(T0)
    assert late.apply(up, T0) == (True, None)
    ok, reason = late.apply(start(5.0), T0)
    assert not ok and reason is not None and reason.startswith("take_off_window_passed")
    assert late.state == "ready" and not late.start_pending
    assert late.alt == 0.0 and not [e for e in late.drain_events() if type(e).__name__ == "TookOff"]
    # Within the window it takes off at once.
    assert late.apply(start(10.0), T0) == (True, None) and late.state == "en_route"
    # A battery swap that ends after the window: refused as well, even though the start is on time.
    swapping = drone(fleet)
    swapping.advance_to(T0)
    assert swapping.apply(up, T0) == (True, None)
    swapping.swap_until = T0 + timedelta(seconds=30)
    ok, reason = swapping.apply(start(20.0), T0)
    assert not ok and reason is not None and "take_off_window_passed" in reason


def test_a_motor_fault_during_the_swap_cancels_the_pending_start(fleet: Fleet) -> None:
    sim = drone(fleet)
    sim.advance_to(T0)
    out_and_back(sim, T0)
    run(sim, T0 + timedelta(seconds=2 * leg_m(sim) / sim.model.cruise_speed_mps + 10))
    at = sim.sim_time
    assert at is not None
    out_and_back(sim, at, n=2)  # the start waits for the battery swap
    sim.drain_events()
    sim.motor_fault(at)
    run(sim, at + timedelta(hours=1))
    assert [type(e).__name__ for e in sim.drain_events()] == ["Fault"]
    assert sim.state == "fault" and sim.alt == 0.0


def test_hold_hovers_at_cruise_power_and_repeats_are_applied_once(fleet: Fleet) -> None:
    sim = drone(fleet)
    sim.advance_to(T0)
    out_and_back(sim, T0)
    run(sim, T0 + timedelta(seconds=30))
    exp = T0 + timedelta(hours=1)
    hold = Hold(drone_id=sim.id, cmd_id="h", expires_at=exp)
    assert sim.apply(hold, sim.sim_time) == (True, None)  # type: ignore[arg-type]
    x, y, e = sim.x, sim.y, sim.energy_wh
    run(sim, T0 + timedelta(seconds=90))
    assert (sim.x, sim.y) == (x, y)
    hover_wh = sim.model.wh_per_km * sim.model.cruise_speed_mps / 1000 * 60
    assert e - sim.energy_wh == pytest.approx(hover_wh)
    assert sim.apply(hold, sim.sim_time) == (True, None)  # type: ignore[arg-type]  # same answer again
    resume = Resume(drone_id=sim.id, cmd_id="r", expires_at=exp)
    assert sim.apply(resume, sim.sim_time) == (True, None)  # type: ignore[arg-type]
    assert sim.apply(resume, sim.sim_time) == (True, None)  # type: ignore[arg-type]  # not "nothing to resume"
    assert sim.state == "en_route"


def test_a_resume_waits_for_its_time_and_one_after_its_window_is_refused(fleet: Fleet) -> None:
    sim = drone(fleet)
    sim.advance_to(T0)
    out_and_back(sim, T0)
    run(sim, T0 + timedelta(seconds=30))
    exp = T0 + timedelta(hours=1)
    now = sim.sim_time
    assert now is not None
    assert sim.apply(Hold(drone_id=sim.id, cmd_id="h1", expires_at=exp), now) == (True, None)
    # Received after its window: refused, the drone holds on.
    late = Resume(
        drone_id=sim.id,
        cmd_id="c1",
        expires_at=exp,
        resume_at=now - timedelta(seconds=9),
        resume_by=now - timedelta(seconds=4),
    )
    ok, reason = sim.apply(late, now)
    assert not ok and reason is not None and reason.startswith(RESUME_WINDOW_PASSED), reason
    run(sim, now + timedelta(seconds=5))
    assert sim.state == "holding"
    # Received before its time: hovers until then (whatever the step), then flies on.
    at = now + timedelta(seconds=20.5)
    ok, _ = sim.apply(
        Resume(
            drone_id=sim.id, cmd_id="c2", expires_at=exp, resume_at=at, resume_by=at + timedelta(seconds=5)
        ),
        sim.sim_time,  # type: ignore[arg-type]
    )
    assert ok
    x, y = sim.x, sim.y
    run(sim, at - timedelta(seconds=0.5), step_s=7.0)
    assert sim.state == "holding" and (sim.x, sim.y) == (x, y)
    run(sim, at + timedelta(seconds=2), step_s=7.0)
    assert sim.state == "en_route"
    moved = math.hypot(sim.x - x, sim.y - y)
    assert moved == pytest.approx(2.0 * sim.model.cruise_speed_mps, rel=0.01)  # from ``at`` on
    # A hold called while a resume waits for its time calls it off.
    assert sim.apply(Hold(drone_id=sim.id, cmd_id="h3", expires_at=exp), sim.sim_time)[0]  # type: ignore[arg-type]
    t = sim.sim_time
    assert t is not None
    assert sim.apply(
        Resume(drone_id=sim.id, cmd_id="c3", expires_at=exp, resume_at=t + timedelta(seconds=10)), t
    )[0]
    assert sim.apply(Hold(drone_id=sim.id, cmd_id="h4", expires_at=exp), t) == (True, None)
    run(sim, t + timedelta(seconds=30))
    assert sim.state == "holding" and sim.resume_at is None
