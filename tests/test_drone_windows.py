"""Idle windows between planned trips as drones of their own: planned in, folded back, checked."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from routing.drone_windows import folded, windows_after
from routing.planner import plan
from routing.prepared import ProblemError, prepare
from routing.problem import PORT, DroneState
from routing.round_fleet import round_fleet
from routing.synthetic_city import city_problem
from routing.validate import validate_plan
from tests.planner_fixtures import T0, at_m, fleet, problem, request


def _two_trips_apart():  # type: ignore[no-untyped-def]
    """One drone, a request now and one two hours later, too far apart for one battery (20 km):
    two trips with an idle window between."""
    first = [
        request("A", at_m(6000, 0), at_m(8000, 0), ready=0, deadline=40),
        request("B", at_m(0, 6000), at_m(0, 8000), ready=120, deadline=160),
    ]
    late = request("C", at_m(-2000, 0), at_m(-4000, 0), ready=60, deadline=90)
    return problem([], fleet(1), first), problem([], fleet(1), [*first, late])


def test_a_request_in_the_idle_window_between_two_trips_is_flown_there() -> None:
    before, whole = _two_trips_apart()
    base = plan(before, seconds=0.5, workers=1)
    assert set(base.served) == {"A", "B"}
    (d0,) = base.drones
    assert len(d0.trips) == 2
    windows = windows_after(before, base)
    swap = timedelta(seconds=300)
    (wid,) = windows.owner
    assert windows.owner == {wid: "D0"} and wid.startswith("D0~")
    state = windows.problem.state_of(wid)
    assert state is not None and state.port == "P"
    assert state.at == d0.trips[0].legs[-1].arrive + swap
    assert state.until == d0.trips[1].legs[0].depart - swap
    after = windows.problem.state_of("D0")  # the drone itself flies on after its last trip
    assert after is not None and after.until is None and after.at == d0.trips[1].legs[-1].arrive + swap

    sub = dataclasses.replace(windows.problem, requests=(whole.request("C"),))
    part = plan(sub, seconds=0.5, workers=1, active_intents=base.intents)
    assert part.served == ("C",) and part.etas["C"].drone_id == wid
    (window_trip,) = part.drone(wid).trips  # type: ignore[union-attr]
    assert window_trip.legs[-1].to_kind == PORT and window_trip.legs[-1].to_id == "P"
    assert window_trip.legs[-1].arrive <= state.until

    both = folded(base, part, windows.owner)
    assert validate_plan(whole, both) == []
    (d0,) = both.drones
    assert [t.legs[1].to_id for t in d0.trips] == ["A", "C", "B"]  # in order of departure
    assert both.etas["C"].drone_id == "D0"
    numbers = {(i.drone_id, i.trip): i for i in both.intents}
    assert sorted(numbers) == [("D0", 1), ("D0", 2), ("D0", 3)]
    # Each intent was renumbered with its trip: trip 2's intent covers the window's flight.
    departs = d0.trips[1].legs[0].depart.timestamp()
    assert numbers[("D0", 2)].start <= departs <= numbers[("D0", 2)].end
    assert numbers[("D0", 3)].start > numbers[("D0", 2)].end


def test_a_window_too_short_for_a_request_leaves_it_out() -> None:
    _, whole = _two_trips_apart()
    state = DroneState("D0", *at_m(0, 0), T0 + timedelta(minutes=60), 300.0, port="P")
    tight = dataclasses.replace(
        whole, requests=(whole.request("C"),), drone_states=(dataclasses.replace(state, until=state.at),)
    )
    assert plan(tight, seconds=0.3, workers=1).served == ()
    hour = dataclasses.replace(state, until=state.at + timedelta(hours=1))
    roomy = dataclasses.replace(tight, drone_states=(hour,))
    result = plan(roomy, seconds=0.3, workers=1)
    assert result.served == ("C",)
    assert result.drones[0].trips[-1].legs[-1].arrive <= state.at + timedelta(hours=1)


def test_the_validator_refuses_a_drone_back_after_its_window() -> None:
    _, whole = _two_trips_apart()
    state = DroneState("D0", *at_m(0, 0), T0 + timedelta(minutes=60), 300.0, port="P")
    free = dataclasses.replace(whole, requests=(whole.request("C"),), drone_states=(state,))
    result = plan(free, seconds=0.3, workers=1)
    back = result.drones[0].trips[-1].legs[-1].arrive
    assert validate_plan(free, result) == []
    early = dataclasses.replace(state, until=back - timedelta(minutes=1))
    short = dataclasses.replace(free, drone_states=(early,))
    kinds = [v.kind for v in validate_plan(short, result)]
    assert kinds == ["window_end"]


@pytest.mark.parametrize(
    ("change", "message"),
    [({"port": None}, "needs a port"), ({"until": T0.replace(tzinfo=None)}, "timezone-aware")],
)
def test_a_window_needs_a_port_and_an_aware_end(change: dict[str, object], message: str) -> None:
    _, whole = _two_trips_apart()
    state = DroneState("D0", *at_m(0, 0), T0, 300.0, port="P", until=T0 + timedelta(hours=1))
    bad = dataclasses.replace(whole, drone_states=(dataclasses.replace(state, **change),))  # type: ignore[arg-type]
    with pytest.raises(ProblemError, match=message):
        prepare(bad)


def test_a_round_offers_no_drone_whose_window_ends_before_it_could_fly_a_request() -> None:
    big = city_problem(1, n_requests=10, n_drones=300)
    ports = {p.id: p for p in big.fleet.ports}
    closing = tuple(
        DroneState(d.id, ports[d.port].lon, ports[d.port].lat, big.at, 400.0, port=d.port, until=big.at)
        for d in big.fleet.drones[::2]
    )
    kept = round_fleet(dataclasses.replace(big, drone_states=closing))
    assert kept.fleet.drones
    assert not {d.id for d in kept.fleet.drones} & {s.drone_id for s in closing}
