"""A drone held in the air is resumed with hover in hand, and never left to hover until empty
(:meth:`dispatch.service.resumes.Resumes.resume`).

Fast tests on the real fleet picture, intents and store, no broker: a fake commander stands for
the drone's answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airspace.zones import load_zones
from dispatch.service.resumes import RESUME_ATTEMPTS, Resumes
from dispatch.service.state import ActiveMission
from dispatch.service.timing import hover_kept_s
from dispatch.settings.model import DispatcherSettings
from dispatch.store import Store
from fleet.messages import RESUME_WINDOW_PASSED, Ack, Resume, Telemetry
from tests.conftest import EXAMPLES
from tests.test_flight_intents_resume import ALT, T0, FixedClock, _setup


class _Drone:
    """Answers every resume: accepted, or refused as reaching it ``late_s`` after ``T0``."""

    def __init__(self, late_s: float | None = None) -> None:
        self.late_s = late_s
        self.sent: list[Resume] = []

    def expiry(self) -> datetime:
        return T0 + timedelta(hours=2)

    async def send_new(self, cmd: Resume, mission_id: str | None) -> Ack:
        self.sent.append(cmd)
        if self.late_s is None:
            return Ack(drone_id=cmd.drone_id, cmd_id=cmd.cmd_id, ts=T0, accepted=True)
        ts = T0 + timedelta(seconds=self.late_s)
        reason = f"{RESUME_WINDOW_PASSED}: it is past resume_by"
        return Ack(drone_id=cmd.drone_id, cmd_id=cmd.cmd_id, ts=ts, accepted=False, reason=reason)


class _Flights:
    def spawn(self, coro: Any, name: str) -> None:
        raise AssertionError(f"no flight in the air gives way here ({name})")

    async def abort(self, m: ActiveMission, reason: str) -> None:
        raise AssertionError("the resume gives nothing up itself")


def _battery(
    resumes: Resumes, m: ActiveMission, where: tuple[float, float], rest: Any, hover_s: float
) -> None:
    """Leave the drone of ``m`` the battery to hover ``hover_s`` at ``where`` and fly ``rest``."""
    picture, intents = resumes.picture, resumes.intents
    model = picture.model(m.drone_id)
    per_s = model.leg_energy_wh(model.cruise_speed_mps, 0.0)
    now = intents.affordable_hold_s(m, where, rest)
    energy = picture.energy(m.drone_id) - (now - hover_s) * per_s
    tele = Telemetry(
        drone_id=m.drone_id,
        ts=T0,
        lon=where[0],
        lat=where[1],
        alt_m=ALT,
        ground_speed_mps=0.0,
        heading_deg=0.0,
        battery_pct=100.0 * energy / model.battery_wh,
        energy_wh=energy,
        state="holding",
        mission_id=m.mission_id,
    )
    picture.registry.on_telemetry(tele, T0)
    assert abs(intents.affordable_hold_s(m, where, rest) - hover_s) < 1.0


async def test_a_resume_keeps_hover_in_hand_for_the_reaction_still_to_come(store: Store) -> None:
    # Another drone hovers on the way for two minutes: waiting that out would clear the route.
    intents, picture, m, where, rest = _setup(store)
    picture.set_zones(load_zones(EXAMPLES / "zones.geojson"), {})  # the airspace's metric frame
    drone = _Drone()
    resumes = Resumes(store, FixedClock(), picture, drone, _Flights(), intents, DispatcherSettings())  # type: ignore[arg-type]
    kept = hover_kept_s(resumes.clock)
    _battery(resumes, m, where, rest, kept + 300.0)
    assert 5.0 < await resumes.resume(m, 1, where) <= 130.0  # it affords the wait, and keeps `kept`
    # With the battery for only a minute more than it keeps in hand, it does not wait two: it goes
    # on after the lead, and the conflict is audited (those it meets give way).
    _battery(resumes, m, where, rest, kept + 60.0)
    assert await resumes.resume(m, 2, where) == resumes.lead_s
    actions = [e.action for e in await store.history("flight", m.mission_id)]
    assert actions[-1] == "intent_conflict", actions


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
    assert ("resume_failed", {"attempts": RESUME_ATTEMPTS, "lead_s": 448.0}) in notes
