"""The decisions of events and steering, apart from the broker and the store (fast).

Silence (a drone unheard for ``silent_after_s``, not counting the time our own link was down) and
the zone scan's choice of the missions to re-route are pure functions the dispatcher's
collaborators call; the end-to-end tests check what follows from them on the real broker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airspace.frame import LocalFrame
from airspace.paths import Airspace
from dispatch.lifecycle import FlightState
from dispatch.service.events import went_silent
from dispatch.service.missions import MissionSpec, StopSpec
from dispatch.service.reroute import paths_home, pick_return
from dispatch.service.state import ActiveMission
from dispatch.service.steering import REROUTE_SLACK, must_reroute
from tests.dispatcher_fixtures import parse_zone

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ALT = 120.0
PORT, A, B = (114.3900, 36.1000), (114.4100, 36.1000), (114.4100, 36.1150)


def test_a_drone_is_silent_only_when_unheard_for_longer_than_the_limit_while_our_link_is_up() -> None:
    heard = NOW - timedelta(seconds=91)
    assert went_silent(heard, None, True, NOW, 90.0)
    assert not went_silent(NOW - timedelta(seconds=89), None, True, NOW, 90.0)
    assert not went_silent(heard, None, False, NOW, 90.0)  # our link is down: nobody is heard
    assert not went_silent(None, None, True, NOW, 90.0)  # never heard: not judged
    # Our link came back 30 s ago: the drone had no chance to be heard before.
    assert not went_silent(heard, NOW - timedelta(seconds=30), True, NOW, 90.0)
    assert went_silent(heard, NOW - timedelta(seconds=120), True, NOW, 90.0)


def zone_at(lonlat: tuple[float, float], zone_id: str = "pop-up") -> Airspace:
    feature = {
        "type": "Feature",
        "properties": {"id": zone_id, "kind": "no_fly", "radius_m": 120.0},
        "geometry": {"type": "Point", "coordinates": list(lonlat)},
    }
    return Airspace([parse_zone(feature)])


def mission(state: str = FlightState.FLYING) -> ActiveMission:
    spec = MissionSpec(
        "M-D01-1",
        "D01",
        ((*PORT, ALT), (*A, ALT), (*B, ALT), (*PORT, ALT)),
        (StopSpec(1, "pickup", "r1", 0.3), StopSpec(2, "handover", "r1", 0.3)),
        "P",
        NOW,
        NOW + timedelta(minutes=20),
    )
    return ActiveMission.of(spec, state)


def test_a_zone_scan_reroutes_a_live_mission_whose_rest_of_path_enters_the_zone() -> None:
    on_second_leg = zone_at(((A[0] + B[0]) / 2, (A[1] + B[1]) / 2))
    m = mission()
    assert must_reroute(on_second_leg, m, PORT, ["pop-up"], NOW)
    assert not must_reroute(on_second_leg, m, PORT, ["another-zone"], NOW)
    assert not must_reroute(on_second_leg, m, None, ["pop-up"], NOW)  # position unknown
    assert must_reroute(on_second_leg, mission(FlightState.ACKED), PORT, ["pop-up"], NOW)  # on the ground
    # Past the zone (flying the last leg home): nothing ahead of it enters the zone.
    m.reached_at = 2
    assert not must_reroute(on_second_leg, m, B, ["pop-up"], NOW)


def test_a_zone_scan_leaves_missions_over_steered_or_aborting_alone() -> None:
    airspace = zone_at(((A[0] + B[0]) / 2, (A[1] + B[1]) / 2))
    for state in (FlightState.COMPLETED, FlightState.ABORTED):
        assert not must_reroute(airspace, mission(state), PORT, ["pop-up"], NOW)
    steered, aborting = mission(), mission()
    steered.rerouting = True
    aborting.aborting = "low battery"
    assert not must_reroute(airspace, steered, PORT, ["pop-up"], NOW)
    assert not must_reroute(airspace, aborting, PORT, ["pop-up"], NOW)


def test_a_zone_that_starts_after_the_missions_expected_end_and_slack_is_not_crossed() -> None:
    later = NOW + timedelta(minutes=20) + REROUTE_SLACK + timedelta(minutes=5)
    feature = {
        "type": "Feature",
        "properties": {"id": "later", "kind": "no_fly", "radius_m": 120.0, "valid_from": later.isoformat()},
        "geometry": {"type": "Point", "coordinates": [(A[0] + B[0]) / 2, (A[1] + B[1]) / 2]},
    }
    airspace = Airspace([parse_zone(feature)])
    assert not must_reroute(airspace, mission(), PORT, ["later"], NOW)


def test_a_drone_sent_home_takes_the_nearest_port_its_return_keeps_clear_of_the_others() -> None:
    airspace = Airspace([], frame=LocalFrame(*PORT))
    ports = [("near", *A), ("far", *B), ("farthest", 114.3400, 36.1500)]
    here = (114.4100, 36.1065)  # 0.72 km from "near", 0.94 km from "far"
    options = paths_home(airspace, here, ports, altitude_m=ALT, at=NOW, until=NOW + timedelta(hours=1))
    assert [p for p, _ in options] == ["near", "far", "farthest"]  # nearest first
    everywhere = pick_return(options, lambda port, path: True, lambda path: True)
    assert everywhere is not None and everywhere[0] == "near" and everywhere[2]
    # The nearest return would cross another drone's intent: the next one clear, within the detour.
    busy = {"near"}
    chosen = pick_return(options, lambda port, path: port not in busy, lambda path: True)
    assert chosen is not None and chosen[0] == "far" and chosen[2]
    # None clear within the detour limit (the farthest is too far) or the battery: the nearest,
    # flagged, so that its conflict is audited.
    busy = {"near", "far"}
    chosen = pick_return(options, lambda port, path: port not in busy, lambda path: True)
    assert chosen is not None and chosen[0] == "near" and not chosen[2]
    short = options[0][1].length_m
    chosen = pick_return(options, lambda port, path: port != "near", lambda path: path.length_m <= short)
    assert chosen is not None and chosen[0] == "near" and not chosen[2]
    assert pick_return([], lambda port, path: True, lambda path: True) is None


def test_a_later_departure_is_bounded_by_the_drop_offs_deadlines_not_by_the_return_to_port() -> None:
    # The ten-minute licence's trip: delivered at 01:09:40, due 01:12, back at its port at 01:18.
    t0 = datetime(2026, 12, 1, 1, 1, tzinfo=UTC)
    spec = MissionSpec(
        "M-D01-x",
        "D01",
        ((114.3968, 36.1043, 120.0), (114.409, 36.049, 120.0), (114.3955, 36.1052, 120.0)),
        (StopSpec(0, "pickup", "R013", 0.5), StopSpec(1, "handover", "R013")),
        "port-service-centre",
        t0,
        t0 + timedelta(minutes=17),
        dropoff_at=(("R013", t0 + timedelta(minutes=8, seconds=40)),),
    )
    due = {"R013": datetime(2026, 12, 1, 1, 12, tzinfo=UTC)}
    assert spec.slack_s(due) == 140.0  # not -360 s, as counted to the port
    moved = spec.later(timedelta(seconds=60), None)
    assert moved.depart == t0 + timedelta(seconds=60) and moved.slack_s(due) == 80.0
    assert MissionSpec.from_plan(moved.mission_id, "D01", moved.to_plan()).dropoff_at == moved.dropoff_at
    # a mission stored before drop-off times were kept falls back to its end
    old = MissionSpec.from_plan(spec.mission_id, "D01", {**spec.to_plan(), "dropoff_at": None})
    assert old.slack_s(due) == (due["R013"] - spec.arrive).total_seconds()
    assert spec.slack_s({}) is None
