"""Committing a planned trip: flown back to back, placed clear of the intents in force, stored."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from dispatch.service.commander import Commander
from dispatch.service.missions import MissionSpec, mission_from_trip
from fleet.clock import ScaledClock
from routing.deconflict import flown, place_trip
from routing.intents import intent_from_json, intent_to_json, trip_intent
from routing.problem import DROPOFF, PICKUP, PORT, Trip
from routing.route_intent import hold_intent, route_trip
from routing.separation import IntentIndex
from tests.planner_fixtures import T0
from tests.test_deconfliction import FRAME, _trip

SERVICE_S = 60.0


def _with_wait(wait_s: float) -> Trip:
    """Port P -> pickup R1 -> its drop-off -> port Q, the drone planned to wait ``wait_s`` before
    the pickup's service (the document is not ready before)."""
    base = _trip([(0, 0), (2000, 0), (2000, 2000), (0, 0)], depart=0).legs
    d = timedelta(seconds=wait_s)
    legs = (
        replace(base[0], to_kind=PICKUP, to_id="R1"),
        replace(
            base[1],
            from_kind=PICKUP,
            from_id="R1",
            to_kind=DROPOFF,
            to_id="R1",
            depart=base[1].depart + d,
            arrive=base[1].arrive + d,
        ),
        replace(
            base[2], from_kind=DROPOFF, from_id="R1", depart=base[2].depart + d, arrive=base[2].arrive + d
        ),
    )
    return Trip(legs)


def test_a_trip_is_flown_back_to_back() -> None:
    trip = _with_wait(100.0)
    out = flown(trip, SERVICE_S, trip.legs[0].depart)
    for a, b in zip(out.legs, out.legs[1:], strict=False):
        assert b.depart - a.arrive == timedelta(seconds=SERVICE_S)
    for a, b in zip(trip.legs, out.legs, strict=True):
        assert a.arrive - a.depart == b.arrive - b.depart and a.waypoints == b.waypoints


def test_placing_waits_on_the_ground_for_the_pickup_and_keeps_the_deadline() -> None:
    trip = _with_wait(100.0)
    deadlines = {"R1": trip.legs[1].arrive + timedelta(minutes=30)}
    index = IntentIndex(FRAME, {"P": 1, "Q": 1})
    placed = place_trip("A", 1, trip, service_s=SERVICE_S, earliest=T0, deadlines=deadlines, index=index)
    assert not isinstance(placed, str)
    out, intent = placed
    # The wait moved to the ground before take-off: the pickup's service starts when planned.
    assert out.legs[0].depart == trip.legs[0].depart + timedelta(seconds=100)
    assert out.legs[0].arrive == trip.legs[1].depart - timedelta(seconds=SERVICE_S)
    assert intent.start < out.legs[0].depart.timestamp() < intent.end
    assert [g.to_kind for g in out.legs] == [PICKUP, DROPOFF, PORT]


def test_placing_delays_past_an_intent_in_force_or_says_why_it_cannot() -> None:
    trip = _trip([(-3000, 0), (3000, 0), (3000, 1000)], depart=0)  # drops R0 at (3000, 0)
    crossing = _trip([(0, -3000), (0, 3000)], depart=0, ports=("P2", "Q2"))
    index = IntentIndex(FRAME, {"P": 1, "Q": 1, "P2": 1, "Q2": 1})
    index.add(trip_intent("B", 1, crossing, FRAME))
    late = {"R0": trip.legs[0].arrive + timedelta(hours=1)}
    placed = place_trip("A", 1, trip, service_s=SERVICE_S, earliest=T0, deadlines=late, index=index)
    assert not isinstance(placed, str)
    out, intent = placed
    assert out.legs[0].depart > trip.legs[0].depart
    assert index.conflicts(intent) == []
    # The same with a deadline that leaves no room for the delay.
    tight = {"R0": trip.legs[0].arrive + timedelta(seconds=5)}
    why = place_trip("A", 1, trip, service_s=SERVICE_S, earliest=T0, deadlines=tight, index=index)
    assert isinstance(why, str) and "deadline" in why
    # And a trip that can no longer be flown in time at all.
    past = {"R0": trip.legs[0].arrive - timedelta(seconds=1)}
    why = place_trip(
        "A",
        1,
        trip,
        service_s=SERVICE_S,
        earliest=T0 + timedelta(minutes=5),
        deadlines=past,
        index=IntentIndex(FRAME, {}),
    )
    assert isinstance(why, str) and "late by" in why


def test_a_mission_keeps_its_intent_through_the_store_form() -> None:
    trip = _trip([(0, 0), (2000, 0), (0, 0)], depart=30)
    intent = trip_intent("D01", 1, trip, FRAME)
    spec = mission_from_trip("M-1", "D01", trip, {"R1": 0.5}, intent)
    again = MissionSpec.from_plan("M-1", "D01", spec.to_plan())
    assert again.intent == intent and again == spec
    old = spec.to_plan()
    del old["intent"]
    assert MissionSpec.from_plan("M-1", "D01", old).intent is None
    bad = intent_to_json(intent) | {"volumes": [[1, 2, 3]]}
    with pytest.raises(ValueError, match="10 members"):
        intent_from_json(bad)
    assert math.isclose(intent_from_json(intent_to_json(intent)).end, intent.end)


def test_a_replacement_route_gets_an_intent_like_a_planned_trip() -> None:
    # A drone holding 1 km west of a pad is sent on: the pad (a drop-off), then port Q.
    here = FRAME.to_lonlat(-1000.0, 0.0)
    pad, port = FRAME.to_lonlat(1000.0, 0.0), FRAME.to_lonlat(1000.0, 2000.0)
    waypoints = [(*pad, 120.0), (*port, 120.0)]
    trip = route_trip(
        here, waypoints, [(0, "dropoff", "R1")], "Q", T0, speed_mps=10.0, service_s=SERVICE_S, frame=FRAME
    )
    assert [(g.from_kind, g.to_kind) for g in trip.legs] == [("start", "dropoff"), ("dropoff", "port")]
    assert trip.legs[0].arrive == T0 + timedelta(seconds=200)
    assert trip.legs[1].depart == trip.legs[0].arrive + timedelta(seconds=SERVICE_S)
    intent = trip_intent("A", 1, trip, FRAME)
    assert any(v.resource == "port:Q" for v in intent.volumes)  # it lands at Q
    assert not any(v.resource == "port:P" for v in intent.volumes)  # and took off long ago
    # A hold is a column over where the drone hovers, for the time it may hover.
    hold = hold_intent("B", here, 120.0, T0, 600.0, FRAME)
    (v,) = hold.volumes
    assert v.is_column and v.t1 - v.t0 > 600.0 and v.hi_m > 120.0
    index = IntentIndex(FRAME, {})
    index.add(hold)
    assert index.conflicts(intent), "leaving from where another drone hovers conflicts"


def test_a_replacement_route_services_each_stop_at_one_pad_in_turn() -> None:
    # Two drop-offs and a pickup at one pad: the simulator (and the planner) services each in
    # turn, so the intent keeps the drone there three services long, not one.
    here = FRAME.to_lonlat(-1000.0, 0.0)
    pad, port = FRAME.to_lonlat(1000.0, 0.0), FRAME.to_lonlat(1000.0, 2000.0)
    waypoints = [(*pad, 120.0), (*port, 120.0)]
    stops = [(0, "dropoff", "R1"), (0, "dropoff", "R2"), (0, "pickup", "R3")]
    trip = route_trip(here, waypoints, stops, "Q", T0, speed_mps=10.0, service_s=SERVICE_S, frame=FRAME)
    kinds = [(g.from_kind, g.from_id, g.to_kind, g.to_id) for g in trip.legs]
    assert kinds == [
        ("start", "start", "dropoff", "R1"),
        ("dropoff", "R1", "dropoff", "R2"),
        ("dropoff", "R2", "pickup", "R3"),
        ("pickup", "R3", "port", "Q"),
    ]
    assert [g.distance_m for g in trip.legs[1:3]] == [0.0, 0.0]
    assert trip.legs[-1].depart == T0 + timedelta(seconds=200 + 3 * SERVICE_S)
    assert math.isclose(trip.distance_m, 4000.0, rel_tol=1e-3)


def test_the_start_names_the_latest_take_off_its_intent_allows() -> None:
    """A start carries ``take_off_by`` = planned departure + the take-off window, so a drone that
    gets it late refuses it instead of flying outside its intent; a mission without an intent has
    neither time."""
    trip = _trip([(0, 0), (2000, 0), (0, 0)], depart=30)
    intent = trip_intent("D01", 1, trip, FRAME)
    spec = mission_from_trip("M-1", "D01", trip, {"R1": 0.5}, intent)
    commander = Commander(None, None, ScaledClock(1.0, T0), expiry_s=600, take_off_window_s=6.0)  # type: ignore[arg-type]
    go = commander.start(spec)
    assert go.take_off_at == spec.depart
    assert go.take_off_by == spec.depart + timedelta(seconds=6.0)
    bare = commander.start(replace(spec, intent=None))
    assert bare.take_off_at is None and bare.take_off_by is None
