"""The request and flight life cycles: every allowed transition passes, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from dispatch.lifecycle import (
    FLIGHT_TERMINAL,
    FLIGHT_TRANSITIONS,
    REQUEST_TERMINAL,
    REQUEST_TRANSITIONS,
    FlightState,
    InvalidTransition,
    RequestState,
    check_flight_transition,
    check_request_transition,
    required_details,
)

R = RequestState
ALLOWED = [(src, dst) for src, targets in REQUEST_TRANSITIONS.items() for dst in sorted(targets)]
FORBIDDEN = [
    (s, d) for s, d in itertools.product(RequestState, RequestState) if d not in REQUEST_TRANSITIONS[s]
]


def full_details(src: RequestState, dst: RequestState) -> dict[str, object]:
    """Details satisfying whatever the transition requires."""
    return {key: "x" for key in required_details(src, dst)}


def test_the_table_is_the_documented_one() -> None:
    assert {
        (R.SUBMITTED, R.ACCEPTED),
        (R.SUBMITTED, R.REJECTED),
        (R.ACCEPTED, R.PLANNED),
        (R.PLANNED, R.DISPATCHED),
        (R.DISPATCHED, R.PICKED_UP),
        (R.PICKED_UP, R.DELIVERED),
        (R.FAILED, R.RETURNED),
        (R.PICKED_UP, R.FAILED),
        (R.PLANNED, R.ACCEPTED),
        (R.DISPATCHED, R.ACCEPTED),
        (R.ACCEPTED, R.UNSERVED),
        (R.PLANNED, R.UNSERVED),
    } <= set(ALLOWED)
    assert len(ALLOWED) == 16
    assert {R.DELIVERED, R.REJECTED, R.CANCELLED, R.UNSERVED, R.RETURNED} == REQUEST_TERMINAL


@pytest.mark.parametrize(("src", "dst"), ALLOWED, ids=[f"{s}->{d}" for s, d in ALLOWED])
def test_every_allowed_transition_passes(src: RequestState, dst: RequestState) -> None:
    check_request_transition(src, dst, full_details(src, dst))


@pytest.mark.parametrize(("src", "dst"), FORBIDDEN, ids=[f"{s}->{d}" for s, d in FORBIDDEN])
def test_every_other_transition_raises(src: RequestState, dst: RequestState) -> None:
    with pytest.raises(InvalidTransition, match=f"cannot go from {src} to {dst}"):
        check_request_transition(
            src, dst, {"reason": "r", "drone_id": "D", "lon": 1, "lat": 1, "location": "p"}
        )


def test_cancel_is_only_possible_before_pickup() -> None:
    can_cancel = {s for s, targets in REQUEST_TRANSITIONS.items() if R.CANCELLED in targets}
    assert can_cancel == {R.SUBMITTED, R.ACCEPTED, R.PLANNED, R.DISPATCHED}


def test_unserved_is_only_possible_before_the_drone_acknowledged() -> None:
    can_give_up = {s for s, targets in REQUEST_TRANSITIONS.items() if R.UNSERVED in targets}
    assert can_give_up == {R.ACCEPTED, R.PLANNED}


@pytest.mark.parametrize(
    ("src", "dst", "missing"),
    [
        (R.SUBMITTED, R.REJECTED, "reason"),
        (R.DISPATCHED, R.ACCEPTED, "reason"),
        (R.PICKED_UP, R.DELIVERED, "drone_id, lon, lat"),
        (R.PICKED_UP, R.FAILED, "reason"),
        (R.FAILED, R.RETURNED, "location"),
        (R.ACCEPTED, R.CANCELLED, "reason"),
        (R.ACCEPTED, R.UNSERVED, "reason"),
        (R.PLANNED, R.UNSERVED, "reason"),
    ],
)
def test_transitions_that_need_details_refuse_without_them(src: R, dst: R, missing: str) -> None:
    with pytest.raises(InvalidTransition, match=f"requires detail\\(s\\) {missing}"):
        check_request_transition(src, dst, {})
    with pytest.raises(InvalidTransition):
        check_request_transition(src, dst, dict.fromkeys(required_details(src, dst), ""))


def test_unknown_state_is_named() -> None:
    with pytest.raises(InvalidTransition, match="unknown RequestState 'lost'"):
        check_request_transition("lost", "accepted")


def test_flight_life_cycle() -> None:
    path = [
        FlightState.PLANNED,
        FlightState.COMMANDED,
        FlightState.ACKED,
        FlightState.FLYING,
        FlightState.COMPLETED,
    ]
    for src, dst in itertools.pairwise(path):
        check_flight_transition(src, dst)
    for src in set(FlightState) - FLIGHT_TERMINAL:
        check_flight_transition(src, FlightState.ABORTED)
    for src, dst in itertools.product(FlightState, FlightState):
        if dst not in FLIGHT_TRANSITIONS[src]:
            with pytest.raises(InvalidTransition):
                check_flight_transition(src, dst)
    assert {FlightState.COMPLETED, FlightState.ABORTED} == FLIGHT_TERMINAL
