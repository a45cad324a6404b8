"""The independent validator catches hand-corrupted plans, each with its own violation kind."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from fleet.description import Fleet
from routing.planner import plan
from routing.problem import Plan, PlanningProblem, Trip, Unserved
from routing.validate import validate_plan
from tests.planner_fixtures import T0, at_m, fleet, problem, request, sample_problem, solved, square


@pytest.fixture(scope="module")
def base() -> tuple[PlanningProblem, Plan]:
    problem = sample_problem()
    result = plan(problem, seconds=2, workers=1)
    assert validate_plan(problem, result) == []
    return problem, result


def _kinds(problem: PlanningProblem, p: Plan) -> set[str]:
    return {v.kind for v in validate_plan(problem, p)}


def _with_trips(p: Plan, drone_id: str, trips: tuple[Trip, ...]) -> Plan:
    drones = tuple(replace(d, trips=trips) if d.drone_id == drone_id else d for d in p.drones)
    return replace(p, drones=drones)


def _served_leg(p: Plan, kind: str):
    for drone_id, trip, seq, leg in p.legs():
        if leg.to_kind == kind:
            return drone_id, trip, seq, leg
    raise AssertionError("no such leg")


def test_a_leg_through_a_zone_is_caught(base) -> None:
    problem, p = base
    drone_id, trip, seq, leg = _served_leg(p, "pickup")
    prison = next(z for z in problem.zones if z.id == "huan-river-corridor")
    c = prison.shape.centroid
    alt = leg.waypoints[0][2]
    detour = (leg.waypoints[0], (c.x, c.y, alt), leg.waypoints[-1])
    dp = p.drone(drone_id)
    assert dp is not None
    legs = list(dp.trips[trip - 1].legs)
    legs[seq - 1] = replace(leg, waypoints=detour)
    trips = list(dp.trips)
    trips[trip - 1] = Trip(tuple(legs))
    assert "leg_in_zone" in _kinds(problem, _with_trips(p, drone_id, tuple(trips)))


def test_a_pad_under_a_zone_is_caught(base) -> None:
    problem, p = base
    # Move a served request's drop-off under the tower crane: the plan no longer fits the problem.
    rid = p.served[0]
    crane = next(z for z in problem.zones if z.id == "tower-crane")
    c = crane.shape.centroid
    reqs = tuple(replace(r, dropoff=(c.x, c.y)) if r.id == rid else r for r in problem.requests)
    kinds = _kinds(replace(problem, requests=reqs), p)
    assert "pad_in_zone" in kinds


def _model_changed(problem: PlanningProblem, **changes) -> PlanningProblem:
    models = {name: replace(m, **changes) for name, m in problem.fleet.models.items()}
    return replace(problem, fleet=Fleet(models, problem.fleet.ports, problem.fleet.drones))


def test_over_capacity_is_caught(base) -> None:
    problem, p = base
    assert "over_capacity" in _kinds(_model_changed(problem, max_payload_kg=0.1), p)


def test_energy_over_budget_is_caught(base) -> None:
    problem, p = base
    assert "energy_over_budget" in _kinds(_model_changed(problem, battery_wh=60.0), p)


def test_missed_deadline_is_caught(base) -> None:
    problem, p = base
    rid = p.served[0]
    eta = p.etas[rid]
    reqs = tuple(
        replace(r, deadline=eta.delivered_at - timedelta(minutes=1)) if r.id == rid else r
        for r in problem.requests
    )
    violations = validate_plan(replace(problem, requests=reqs), p)
    assert any(v.kind == "deadline" and v.request_id == rid for v in violations)


def test_delivery_before_pickup_is_caught(base) -> None:
    problem, p = base
    drone_id, trip, _, leg = _served_leg(p, "pickup")
    dp = p.drone(drone_id)
    assert dp is not None
    rid = leg.to_id
    swapped = []
    for lg in dp.trips[trip - 1].legs:
        if lg.to_id == rid and lg.to_kind in ("pickup", "dropoff"):
            lg = replace(lg, to_kind="dropoff" if lg.to_kind == "pickup" else "pickup")
        swapped.append(lg)
    trips = list(dp.trips)
    trips[trip - 1] = Trip(tuple(swapped))
    violations = validate_plan(problem, _with_trips(p, drone_id, tuple(trips)))
    assert any(v.kind == "delivery_before_pickup" and v.request_id == rid for v in violations)


def test_a_request_split_across_trips_is_caught(base) -> None:
    problem, p = base
    drone_id, trip, seq, _ = _served_leg(p, "pickup")
    dp = p.drone(drone_id)
    assert dp is not None
    legs = dp.trips[trip - 1].legs
    trips = list(dp.trips)
    trips[trip - 1 : trip] = [Trip(legs[:seq]), Trip(legs[seq:])]
    kinds = _kinds(problem, _with_trips(p, drone_id, tuple(trips)))
    assert {"split_trip", "trip_not_to_port", "undelivered_at_port"} <= kinds


def test_a_request_served_twice_is_caught(base) -> None:
    problem, p = base
    dp = p.drones[0]
    twice = _with_trips(p, dp.drone_id, (*dp.trips, dp.trips[0]))
    assert "served_twice" in _kinds(problem, twice)
    assert "listed_twice" in _kinds(problem, replace(p, served=(*p.served, p.served[0])))


def test_accounting_errors_are_caught(base) -> None:
    problem, p = base
    assert "unaccounted" in _kinds(problem, replace(p, unserved=p.unserved[1:]))
    bad = replace(p, unserved=(Unserved(p.unserved[0].request_id, "too_busy", ""), *p.unserved[1:]))
    assert "bad_reason" in _kinds(problem, bad)
    wrong_time = replace(p, etas={**p.etas, p.served[0]: replace(p.etas[p.served[0]], delivered_at=p.at)})
    assert "delivery_eta" in _kinds(problem, wrong_time)


def test_a_stated_distance_or_speed_that_lies_is_caught(base) -> None:
    problem, p = base
    drone_id, trip, seq, leg = _served_leg(p, "dropoff")
    dp = p.drone(drone_id)
    assert dp is not None
    legs = list(dp.trips[trip - 1].legs)
    legs[seq - 1] = replace(leg, distance_m=leg.distance_m * 0.5, arrive=leg.depart + timedelta(seconds=1))
    trips = list(dp.trips)
    trips[trip - 1] = Trip(tuple(legs))
    kinds = _kinds(problem, _with_trips(p, drone_id, tuple(trips)))
    assert {"distance_mismatch", "speed"} <= kinds


def test_a_temporary_zone_counts_only_while_active() -> None:
    def with_zone(start_min: int, end_min: int) -> PlanningProblem:
        zone = square(
            "parade",
            0,
            1500,
            200,
            valid_from=(T0 + timedelta(minutes=start_min)).isoformat(),
            valid_to=(T0 + timedelta(minutes=end_min)).isoformat(),
        )
        return problem([zone], fleet(drones=1), [request("a", at_m(0, 100), at_m(0, 3000), deadline=60)])

    later = with_zone(300, 400)  # after the horizon: the planner flies straight through its area
    result = solved(later)
    legs = [leg for _, _, _, leg in result.legs() if leg.to_kind == "dropoff"]
    assert len(legs) == 1
    assert "leg_in_zone" not in _kinds(later, result)
    # The same plan, had the zone been active while the leg was flown, breaks the rule.
    assert "leg_in_zone" in _kinds(with_zone(0, 60), result)


def test_a_pickup_eta_outside_the_stop_is_caught(base) -> None:
    problem, p = base
    _, _, _, leg = _served_leg(p, "pickup")
    rid = leg.to_id
    too_late = replace(p.etas[rid], pickup_at=leg.arrive + timedelta(hours=3))
    violations = validate_plan(problem, replace(p, etas={**p.etas, rid: too_late}))
    assert any(v.kind == "pickup_eta" and v.request_id == rid for v in violations)
