"""The fleet picture: one definition of the drones planning counts on and of each drone's battery.

Fast unit tests (no broker, no database): the picture is built from a fleet description, a link
registry fed by hand and a fixed clock.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import msgspec

from dispatch.harness import sample_fleet
from dispatch.service.fleet_picture import FleetPicture
from fleet.messages import State, Telemetry
from fleet.registry import FleetRegistry

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class FixedClock:
    """A clock that stands still (nothing here waits)."""

    def now(self) -> datetime:
        return NOW

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("nothing waits in these tests")


def _picture(file_energy_wh: float) -> FleetPicture:
    """Three drones: D01 online by its retained state only (no telemetry) with ``file_energy_wh``
    in the fleet file, D02 reporting telemetry, D03 online in the middle of a battery swap."""
    fleet = sample_fleet(3)
    d01 = dataclasses.replace(fleet.drones[0], energy_wh=file_energy_wh)
    fleet = dataclasses.replace(fleet, drones=(d01, *fleet.drones[1:]))
    registry = FleetRegistry()
    picture = FleetPicture(registry, FixedClock())
    picture.load_fleet(fleet)
    for d in ("D01", "D03"):
        registry.on_state(State(drone_id=d, ts=NOW, online=True, state="idle"))
    port = next(p for p in fleet.ports if p.id == fleet.drones[1].port)
    tele = Telemetry(
        drone_id="D02",
        ts=NOW,
        lon=port.lon,
        lat=port.lat,
        alt_m=0.0,
        ground_speed_mps=0.0,
        heading_deg=0.0,
        battery_pct=40.0,
        energy_wh=123.0,
        state="idle",
    )
    registry.on_telemetry(tele, NOW)
    picture.drones["D03"].available_at = NOW + timedelta(minutes=5)
    return picture


def test_a_quote_and_a_plan_count_each_drones_battery_the_same() -> None:
    picture = _picture(file_energy_wh=150.0)
    full = {d: picture.model(d).battery_wh for d in ("D01", "D02", "D03")}
    usable = picture.usable_fleet()
    assert usable is not None and [d.id for d in usable.drones] == ["D01", "D02", "D03"]
    plan = {s.drone_id: s.energy_wh for s in picture.planning_states(usable)}  # the planning round
    quote = {s.drone_id: s.energy_wh for s in picture.planning_states(picture.planning_fleet())}
    commit = {d: picture.planning_energy(d, NOW) for d in full}  # the round's commit check
    # The fleet file's battery when no telemetry came, the telemetry's, full during a swap.
    assert plan == quote == commit == {"D01": 150.0, "D02": 123.0, "D03": full["D03"]}


def test_intake_and_quotes_judge_against_every_drone_when_none_is_usable() -> None:
    picture = _picture(file_energy_wh=150.0)
    for view in picture.drones.values():
        view.returning = True  # none may be given new work
    assert picture.usable_fleet() is None
    assert picture.fleet is not None and picture.planning_fleet() == picture.fleet


def test_a_drone_in_the_air_without_one_of_our_missions_is_not_planned() -> None:
    picture = _picture(file_energy_wh=150.0)
    status = picture.registry.get("D02")
    assert status is not None and status.telemetry is not None
    flying = msgspec.structs.replace(status.telemetry, state="en_route", mission_id="M-elsewhere", alt_m=80.0)
    picture.registry.on_telemetry(flying, NOW)
    usable = picture.usable_fleet()
    assert usable is not None and [d.id for d in usable.drones] == ["D01", "D03"]
    picture.drones["D02"].mission = "M-ours"  # one of ours in the air: planned from its end
    usable = picture.usable_fleet()
    assert usable is not None and [d.id for d in usable.drones] == ["D01", "D02", "D03"]
