"""A drone held in the air that no resume reaches in time is never left to hover until empty
(:meth:`dispatch.service.resumes.Resumes.resume`).

Fast tests on the real fleet picture, intents and store, no broker: a fake commander stands for
the drone's answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airspace.zones import load_zones
from dispatch.service.reroute import rest_of_route
from dispatch.service.resumes import RESUME_ATTEMPTS, Resumes
from dispatch.service.state import ActiveMission
from dispatch.settings.model import DispatcherSettings
from dispatch.store import Store
from fleet.messages import RESUME_WINDOW_PASSED, Ack, Resume
from tests.conftest import EXAMPLES
from tests.test_flight_intents_resume import T0, FixedClock, _setup


class _Drone:
    """Refuses every resume as reaching it ``late_s`` after ``T0``."""

    def __init__(self, late_s: float) -> None:
        self.late_s = late_s
        self.sent: list[Resume] = []

    def expiry(self) -> datetime:
        return T0 + timedelta(hours=2)

    async def send_new(self, cmd: Resume, mission_id: str | None) -> Ack:
        self.sent.append(cmd)
        ts = T0 + timedelta(seconds=self.late_s)
        reason = f"{RESUME_WINDOW_PASSED}: it is past resume_by"
        return Ack(drone_id=cmd.drone_id, cmd_id=cmd.cmd_id, ts=ts, accepted=False, reason=reason)


class _Flights:
    def spawn(self, coro: Any, name: str) -> None:
        raise AssertionError(f"no flight in the air gives way here ({name})")

    async def abort(self, m: ActiveMission, reason: str) -> None:
        raise AssertionError("the resume gives nothing up itself")


async def test_a_drone_no_resume_reaches_in_time_is_sent_home_not_left_hovering(store: Store) -> None:
    intents, picture, m, where, _ = _setup(store)
    picture.set_zones(load_zones(EXAMPLES / "zones.geojson"), {})  # the airspace's metric frame
    picture.own_intents.clear()  # nothing in the way: each resume is due exactly its lead ahead
    drone = _Drone(late_s=7.0)  # every resume reaches the drone 7 s after it was worked out
    resumes = Resumes(store, FixedClock(), picture, drone, _Flights(), intents, DispatcherSettings())  # type: ignore[arg-type]
    home: list[tuple[str, tuple[float, ...], str]] = []

    async def send_home(mission: ActiveMission, at: Any, reason: str) -> None:
        home.append((mission.mission_id, tuple(at), reason))

    resumes.send_home = send_home
    await resumes.resume(m, 1, where)
    leads = [(c.resume_at - T0).total_seconds() for c in drone.sent if c.resume_at is not None]
    # The first at the least lead; each next twice the last, and at least twice the 7 s it took.
    assert leads == [5.0, 14.0, 28.0, 56.0, 112.0, 224.0][:RESUME_ATTEMPTS], leads
    assert home == [(m.mission_id, where, "no resume reached it within its window")]
    notes = [(e.action, e.payload) for e in await store.history("flight", m.mission_id)]
    failed = {
        "attempts": RESUME_ATTEMPTS,
        "lead_s": 448.0,
        "reason": "no resume reached it within its window",
    }
    assert ("resume_failed", failed) in notes
    # The next resume starts from what these took to arrive: twice 7 s, not the setting's 5 s.
    assert resumes.latency.lead() == 14.0


async def test_a_drone_whose_battery_cannot_wait_for_a_resume_that_slow_is_sent_home_at_once(
    store: Store,
) -> None:
    intents, picture, m, where, _ = _setup(store)
    picture.set_zones(load_zones(EXAMPLES / "zones.geojson"), {})
    picture.own_intents.clear()
    rest = rest_of_route(picture.airspace, where, m.waypoints, m.stops, m.reached_at)
    affordable = intents.affordable_hold_s(m, where, rest)
    assert affordable > 100.0
    # The first resume reaches the drone as late as its battery affords of hover: the next would
    # need twice that, so it is not sent; the drone goes home while it still can.
    drone = _Drone(late_s=affordable)
    resumes = Resumes(store, FixedClock(), picture, drone, _Flights(), intents, DispatcherSettings())  # type: ignore[arg-type]
    home: list[str] = []

    async def send_home(mission: ActiveMission, at: Any, reason: str) -> None:
        home.append(reason)

    resumes.send_home = send_home
    await resumes.resume(m, 1, where)
    assert len(drone.sent) == 1
    (reason,) = home
    assert (
        reason == f"a resume needs {2 * affordable:.0f} s to reach it; its battery affords {affordable:.0f} s"
    )
    notes = [(e.action, e.payload) for e in await store.history("flight", m.mission_id)]
    assert ("resume_failed", {"attempts": 1, "lead_s": round(2 * affordable, 1), "reason": reason}) in notes
