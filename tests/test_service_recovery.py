"""Recovery's decisions on a flight read back from the store (fast: no broker, no database).

A restarted dispatcher rebuilds each active flight from its stored plan and commands: the route the
drone acknowledged last, a steering counter past every command id already used, and whether the
drone was left holding between a re-route's hold and its resume.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dispatch.lifecycle import FlightState
from dispatch.service.commander import ground_reroute_id, hold_id, reroute_id, resume_id, start_id, upload_id
from dispatch.service.missions import MissionSpec, StopSpec
from dispatch.service.recovery import held_without_resume, rebuild
from dispatch.store.views import CommandView, FlightView

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MISSION = "M-D01-0123456789"
SPEC = MissionSpec(
    MISSION,
    "D01",
    waypoints=((114.44, 36.11, 0.0), (114.45, 36.11, 120.0), (114.46, 36.12, 120.0), (114.47, 36.12, 0.0)),
    stops=(StopSpec(1, "pickup", "R1", 0.3), StopSpec(2, "handover", "R1", 0.3)),
    end_port="P2",
    depart=T0,
    arrive=T0 + timedelta(minutes=20),
)


def command(
    n: int, cmd_id: str, kind: str, result: str | None, payload: dict[str, Any] | None = None
) -> CommandView:
    """The ``n``-th command of the flight (created a second after the one before)."""
    at = T0 + timedelta(seconds=n)
    return CommandView(
        cmd_id=cmd_id,
        mission_id=MISSION,
        drone_id="D01",
        kind=kind,
        payload=payload or {},
        created_at=at,
        sent_at=at,
        acked_at=at if result else None,
        result=result,
        result_detail=None,
    )


def flight(*commands: CommandView, state: str = FlightState.FLYING) -> FlightView:
    return FlightView(MISSION, "D01", state, SPEC.to_plan(), (), ("R1",), commands, T0, T0)


DETOUR = {
    "from_index": 2,
    "waypoints": [[114.46, 36.13, 120.0], [114.47, 36.12, 0.0]],
    "stops": [{"at": 3, "action": "handover", "request_id": "R1", "payload_kg": 0.3}],
}
DISPATCHED = (
    command(0, upload_id(MISSION), "UploadMission", "ack"),
    command(1, start_id(MISSION), "Start", "ack"),
)


def test_a_rebuilt_flight_flies_the_reroute_its_drone_acknowledged_not_a_refused_one() -> None:
    refused = {**DETOUR, "waypoints": [[0.0, 0.0, 120.0]], "stops": []}
    m = rebuild(
        flight(
            *DISPATCHED,
            command(2, hold_id(MISSION, 1), "Hold", "ack"),
            command(3, reroute_id(MISSION, 1), "Reroute", "ack", DETOUR),
            command(4, reroute_id(MISSION, 2), "Reroute", "nack", refused),
        )
    )
    assert m.state == FlightState.FLYING
    assert m.waypoints == [*SPEC.waypoints[:2], (114.46, 36.13, 120.0), (114.47, 36.12, 0.0)]
    assert m.stops == [StopSpec(1, "pickup", "R1", 0.3), StopSpec(3, "handover", "R1", 0.3)]


def test_a_rebuilt_flights_next_steering_number_is_past_every_hold_and_ground_reroute() -> None:
    m = rebuild(
        flight(
            *DISPATCHED,
            command(2, ground_reroute_id(MISSION, 1), "Reroute", "ack", {**DETOUR, "from_index": 1}),
            command(3, hold_id(MISSION, 2), "Hold", "ack"),
            command(4, resume_id(MISSION, 2), "Resume", "ack"),
        )
    )
    used = {hold_id(MISSION, 2), ground_reroute_id(MISSION, 1)}
    assert (
        hold_id(MISSION, m.reroutes + 1) not in used
        and ground_reroute_id(MISSION, m.reroutes + 1) not in used
    )


def test_a_flight_is_held_without_resume_only_when_its_last_steering_is_a_hold() -> None:
    hold = command(2, hold_id(MISSION, 1), "Hold", "ack")
    assert held_without_resume(flight(*DISPATCHED, hold))
    assert held_without_resume(flight(*DISPATCHED, hold, command(3, hold_id(MISSION, 2), "Hold", None)))
    assert not held_without_resume(
        flight(*DISPATCHED, hold, command(3, resume_id(MISSION, 1), "Resume", "ack"))
    )
    detour = command(3, reroute_id(MISSION, 1), "Reroute", "ack", DETOUR)
    assert not held_without_resume(flight(*DISPATCHED, hold, detour))
    # A refused resume does not end the hold; a flight never held is not held.
    assert held_without_resume(flight(*DISPATCHED, hold, command(3, resume_id(MISSION, 1), "Resume", "nack")))
    # Nor does one never answered: it names a moment to go on, past after a restart.
    assert held_without_resume(
        flight(*DISPATCHED, hold, command(3, resume_id(MISSION, 1, 1), "Resume", None))
    )
    assert not held_without_resume(flight(*DISPATCHED))
