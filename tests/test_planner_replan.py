"""Re-planning: a drone in flight keeps and delivers its document; warm start from a previous plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from routing.planner import plan
from routing.prepared import ProblemError
from routing.problem import DroneState
from routing.synthetic_city import city_problem
from routing.validate import validate_plan
from tests.test_planner_reasons import T0, at_m, fleet, problem, request, solved, square


def test_a_drone_in_flight_delivers_the_document_it_carries() -> None:
    reqs = [
        request("aboard", at_m(0, 500), at_m(3000, 2000), weight=1.0, deadline=60),
        request("new", at_m(200, 0), at_m(-2000, 1000), deadline=90),
    ]
    base = problem([], fleet(drones=2), reqs)
    lon, lat = at_m(1500, 1000)
    state = DroneState("D0", lon, lat, T0 + timedelta(minutes=5), energy_wh=200.0, onboard=("aboard",))
    p = replace(base, at=T0 + timedelta(minutes=5), drone_states=(state,))
    result = solved(p)
    assert result.etas["aboard"].drone_id == "D0"
    assert result.etas["aboard"].pickup_at is None
    d0 = result.drone("D0")
    assert d0 is not None
    first = d0.trips[0].legs[0]
    assert (first.from_kind, first.from_id) == ("start", "D0")
    assert first.payload_kg == pytest.approx(1.0)
    assert first.depart >= p.at
    # The document is delivered on the first trip, before the drone lands at a port.
    kinds = [(leg.to_kind, leg.to_id) for leg in d0.trips[0].legs]
    assert ("dropoff", "aboard") in kinds
    assert ("pickup", "aboard") not in kinds


def test_warm_start_from_the_previous_plan_gives_a_valid_plan() -> None:
    reqs = [request(f"R{k}", at_m(100 * k, 0), at_m(-1500 + 600 * k, 2500), deadline=100) for k in range(6)]
    p = problem([], fleet(drones=2), reqs)
    first = solved(p)
    again = plan(replace(p, previous_plan=first), seconds=1, workers=1)
    assert validate_plan(p, again) == []
    assert "+warm" in again.solver, "the engine started from the previous routes"
    assert set(again.served) >= set(first.served)


def test_an_inconsistent_state_is_refused() -> None:
    p = problem([], fleet(drones=1), [request("a", at_m(0, 0), at_m(100, 100))])
    ghost = DroneState("D9", 127.0, 37.5, T0, 100.0)
    with pytest.raises(ProblemError, match="unknown drone 'D9'"):
        plan(replace(p, drone_states=(ghost,)), seconds=1)
    lost = DroneState("D0", 127.0, 37.5, T0, 100.0, onboard=("nope",))
    with pytest.raises(ProblemError, match="unknown request 'nope'"):
        plan(replace(p, drone_states=(lost,)), seconds=1)
    overfull = DroneState("D0", 127.0, 37.5, T0, 999.0)
    with pytest.raises(ProblemError, match=r"energy_wh 999.0 outside \[0, battery_wh=300"):
        plan(replace(p, drone_states=(overfull,)), seconds=1)
    with pytest.raises(ProblemError, match="timezone-aware"):
        plan(replace(p, at=T0.replace(tzinfo=None)), seconds=1)


def test_a_drone_caught_inside_a_zone_is_named_not_planned_silently() -> None:
    storm = square("storm", 1000, 1000, 300)
    p = problem([storm], fleet(drones=2), [request("a", at_m(0, 100), at_m(-1000, 500))])
    lon, lat = at_m(1000, 1000)
    inside = DroneState("D1", lon, lat, T0, 150.0)
    with pytest.raises(ProblemError, match=r"drone 'D1' in flight .* cannot reach any port"):
        plan(replace(p, drone_states=(inside,)), seconds=1)


def test_a_drone_in_flight_among_many_requests_still_gets_a_plan() -> None:
    # Regression: with the in-flight start -> end arc forbidden, OR-Tools' first solution failed
    # at once as soon as other requests were on offer.
    p = city_problem(41, n_requests=20, n_drones=4, n_ports=2, n_zones=30, n_pads=14, size_m=9000)
    doc = next(r for r in p.requests if r.weight_kg <= 1.0)
    drone = p.fleet.drones[1]
    port = p.fleet.port(drone.port)
    lon, lat = (port.lon + doc.dropoff[0]) / 2, (port.lat + doc.dropoff[1]) / 2
    at = p.at + timedelta(minutes=5)
    state = DroneState(drone.id, lon, lat, at, 250.0, onboard=(doc.id,))
    p = replace(p, at=at, drone_states=(state,))
    result = plan(p, seconds=1, workers=1)
    assert validate_plan(p, result) == []
    assert result.etas[doc.id].drone_id == drone.id
    assert len(result.served) > 10
