"""Deconfliction in one pass: a drone whose trip cannot be placed is re-timed without the binding
request and its later trips are placed in the same call (``deconflict(..., retime=...)``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from routing.deconflict import Retime, compacted, deconflict, pad_break
from routing.feasibility import precheck
from routing.intents import intent_frame
from routing.mapping import DROPOFF_NODE, PICKUP_NODE, RELOAD_NODE, NodeInfo
from routing.planner import _assemble, _with_breaks, _without, realise_and_repair
from routing.prepared import prepare
from routing.problem import DronePlan, Trip
from routing.route_intent import hold_intent
from routing.schedule import realise
from routing.validate import validate_plan
from tests.planner_fixtures import T0, at_m, fleet, problem, request

BLOCKED = at_m(1500, 0)


def _setup():
    # "a" must be picked up where another drone hovers for the first 40 minutes, and delivered
    # within 20: it cannot be placed. "c" (its own pads, ready at once) can.
    reqs = [
        request("a", BLOCKED, at_m(1500, 2000), deadline=20),
        request("c", at_m(-1500, 0), at_m(-1500, -2000), deadline=120),
    ]
    p = problem([], fleet(drones=1), reqs)
    prep = prepare(p)
    candidates = {r.id: precheck(prep, r).candidate for r in p.requests}
    assert all(candidates.values())

    def stop(kind: str, rid: str) -> NodeInfo:
        site = prep.pickup_site[rid] if kind == PICKUP_NODE else prep.dropoff_site[rid]
        return NodeInfo(kind, site, rid, -1, 500)

    route = [
        stop(PICKUP_NODE, "a"),
        stop(DROPOFF_NODE, "a"),
        NodeInfo(RELOAD_NODE, prep.port_site["P"], "P"),
        stop(PICKUP_NODE, "c"),
        stop(DROPOFF_NODE, "c"),
    ]
    frame = intent_frame(p.fleet)
    hover = hold_intent("X", BLOCKED, 100.0, T0, 40 * 60, frame)
    return p, prep, candidates, route, hover


def test_a_drone_is_re_timed_without_the_binding_request_in_the_same_pass() -> None:
    _p, prep, candidates, route, hover = _setup()
    plan0 = _assemble(prep, [route], candidates, [], "hand-made")
    assert [len(t.legs) for t in plan0.drones[0].trips] == [3, 3], "two trips as routed"
    asked: list[frozenset[str]] = []

    def retime(drone_id: str, left_out: frozenset[str], breaks: frozenset[str]) -> DronePlan | None:
        asked.append(left_out)
        return realise(prep, 0, _without(route, set(left_out)), candidates).plan

    done = deconflict(prep, plan0, [hover], retime=retime)
    assert set(done.dropped) == {"a"}
    assert asked == [frozenset({"a"})]
    assert done.unfinished == frozenset()
    (dp,) = done.drones
    assert [leg.to_id for t in dp.trips for leg in t.legs][:2] == ["c", "c"]
    assert len(done.intents) == len(dp.trips) == 1
    assert "c" in done.etas and "a" not in done.etas
    # The re-timed trip leaves without waiting for the trip it replaces.
    assert dp.trips[0].legs[0].depart < T0 + timedelta(minutes=10)


def test_without_retime_the_drone_is_left_for_another_call() -> None:
    _p, prep, candidates, route, hover = _setup()
    plan0 = _assemble(prep, [route], candidates, [], "hand-made")
    done = deconflict(prep, plan0, [hover])
    assert set(done.dropped) == {"a"}
    assert done.unfinished == frozenset({"D0"})
    assert done.intents == ()


def test_the_planner_serves_the_rest_and_keeps_every_rule() -> None:
    p, prep, candidates, route, hover = _setup()
    free = realise_and_repair(prep, [route], candidates, [], "hand-made")
    assert free.served == ("a", "c"), "without the hovering drone both fly"
    result = realise_and_repair(prep, [route], candidates, [], "hand-made", active_intents=[hover])
    assert result.served == ("c",)
    assert [(u.request_id, u.reason) for u in result.unserved] == [("a", "deconfliction")]
    assert validate_plan(p, result, active_intents=[hover]) == []


def _waiting_route():
    # "c" is delivered within minutes; "b" cannot be picked up before 45 min: as routed, the
    # drone waits on c's drop-off pad for half an hour, where another drone hovers from 15 to 40.
    reqs = [
        request("c", at_m(-1500, 0), at_m(-1500, -2000), deadline=120),
        request("b", at_m(1500, -2000), at_m(1500, 0), ready=45, deadline=60),
    ]
    p = problem([], fleet(drones=1), reqs)
    prep = prepare(p)
    candidates = {r.id: precheck(prep, r).candidate for r in p.requests}
    assert all(candidates.values())
    route = [
        NodeInfo(PICKUP_NODE, prep.pickup_site["c"], "c", -1, 500),
        NodeInfo(DROPOFF_NODE, prep.dropoff_site["c"], "c", -1, 500),
        NodeInfo(PICKUP_NODE, prep.pickup_site["b"], "b", -1, 500),
        NodeInfo(DROPOFF_NODE, prep.dropoff_site["b"], "b", -1, 500),
    ]
    hover = hold_intent(
        "X", at_m(-1500, -2000), 100.0, T0 + timedelta(minutes=15), 25 * 60, intent_frame(p.fleet)
    )
    return p, prep, candidates, route, hover


def test_a_long_wait_on_a_pad_becomes_a_visit_to_the_port() -> None:
    p, prep, candidates, route, _ = _waiting_route()
    (routed,) = realise(prep, 0, route, candidates).plan.trips
    m = p.fleet.models["m"]
    assert pad_break(prep, m, routed, 600.0) is None, "as routed it waits on b's pickup pad"
    trip = compacted(routed, m.service_s)  # as deconfliction places it: the wait after c's drop-off
    assert pad_break(prep, m, trip, 600.0) == "c"
    assert pad_break(prep, m, trip, 3600.0) is None, "a wait shorter than long_s stays"
    slow = replace(m, turnaround_s=3600.0)
    assert pad_break(prep, slow, trip, 600.0) is None, "a port visit that takes longer than the wait"


def test_a_drone_with_a_document_aboard_does_not_wait_at_the_port() -> None:
    reqs = [
        request("c", at_m(-1500, 0), at_m(-1500, -2000), deadline=120),
        request("d", at_m(-1400, 0), at_m(1400, 0), deadline=120),
        request("b", at_m(1500, -2000), at_m(1500, 0), ready=45, deadline=60),
    ]
    p = problem([], fleet(drones=1), reqs)
    prep = prepare(p)
    candidates = {r.id: precheck(prep, r).candidate for r in p.requests}
    pu = {r: NodeInfo(PICKUP_NODE, prep.pickup_site[r], r, -1, 500) for r in ("b", "c", "d")}
    do = {r: NodeInfo(DROPOFF_NODE, prep.dropoff_site[r], r, -1, 500) for r in ("b", "c", "d")}
    m = p.fleet.models["m"]
    # The same wait after c's drop-off, but with "d" aboard: no port visit.
    route = [pu["c"], pu["d"], do["c"], pu["b"], do["d"], do["b"]]
    (trip,) = realise(prep, 0, route, candidates).plan.trips
    assert pad_break(prep, m, compacted(trip, m.service_s), 600.0) is None
    # "d" delivered before the wait: the visit is offered.
    route = [pu["c"], pu["d"], do["d"], do["c"], pu["b"], do["b"]]
    (trip,) = realise(prep, 0, route, candidates).plan.trips
    assert pad_break(prep, m, compacted(trip, m.service_s), 600.0) == "c"


def test_the_planner_sends_the_drone_to_the_port_instead_of_leaving_a_request_out() -> None:
    p, prep, candidates, route, hover = _waiting_route()
    result = realise_and_repair(prep, [route], candidates, [], "hand-made", active_intents=[hover])
    assert set(result.served) == {"b", "c"}
    (dp,) = result.drones
    assert [t.legs[-1].to_kind for t in dp.trips] == ["port", "port"], "c's trip ends at the port"
    assert validate_plan(p, result, active_intents=[hover]) == []
    # Without the visit the trip cannot be placed: a request is left out.
    done = deconflict(prep, _assemble(prep, [route], candidates, [], "hand-made"), [hover])
    assert done.dropped


def test_a_route_left_with_port_visits_only_flies_nothing() -> None:
    # The route flies to port Q first, then serves "a". "a" cannot be placed (another drone hovers
    # over its pickup), and neither can the flight to Q (another drone holds Q's column): left
    # with its port visit alone, the drone would fly a trip with no request in it that
    # deconfliction cannot place and the validator cannot repair, and the round would fail.
    desc = fleet(drones=1)
    q_lon, q_lat = at_m(-3000, 0)
    desc["ports"].append({"id": "Q", "lon": q_lon, "lat": q_lat, "drones": []})
    p = problem([], desc, [request("a", BLOCKED, at_m(1500, 2000), deadline=20)])
    prep = prepare(p)
    candidates = {r.id: precheck(prep, r).candidate for r in p.requests}
    assert all(candidates.values())
    route = [
        NodeInfo(RELOAD_NODE, prep.port_site["Q"], "Q"),
        NodeInfo(PICKUP_NODE, prep.pickup_site["a"], "a", -1, 500),
        NodeInfo(DROPOFF_NODE, prep.dropoff_site["a"], "a", -1, 500),
    ]
    assert _without(route, {"a"}) == [], "port visits alone are no route"
    frame = intent_frame(p.fleet)
    held = [
        hold_intent("X", BLOCKED, 100.0, T0, 40 * 60, frame),
        hold_intent("Y", (q_lon, q_lat), 100.0, T0, 4 * 3600, frame),
    ]
    result = realise_and_repair(prep, [route], candidates, [], "hand-made", active_intents=held)
    assert result.served == ()
    assert [(u.request_id, u.reason) for u in result.unserved] == [("a", "deconfliction")]
    assert result.drones == (), "the drone stays at its port"
    assert validate_plan(p, result, active_intents=held) == []


def test_a_port_visit_that_takes_a_trip_past_the_battery_is_not_made() -> None:
    p, prep, candidates, route, hover = _waiting_route()
    usable = p.fleet.models["m"].usable_wh

    def retimer(heavy: bool) -> Retime:
        def retime(drone_id: str, left_out: frozenset[str], breaks: frozenset[str]) -> DronePlan | None:
            made = realise(prep, 0, _with_breaks(prep, 0, _without(route, set(left_out)), breaks), candidates)
            assert made.plan is not None
            if not (heavy and breaks):
                return made.plan
            # As if the port nearest c's drop-off were far from b's pickup: the trip after it
            # needs more than the drone may use.
            *before, last = made.plan.trips
            first, *rest = last.legs
            heavier = Trip((replace(first, energy_wh=usable + 1.0), *rest))
            return DronePlan(drone_id, (*before, heavier))

        return retime

    plan0 = _assemble(prep, [route], candidates, [], "hand-made")
    light = deconflict(prep, plan0, [hover], retime=retimer(heavy=False))
    assert light.breaks == {"D0": frozenset({"c"})} and not light.dropped, "the visit, within the battery"
    heavy = deconflict(prep, plan0, [hover], retime=retimer(heavy=True))
    assert heavy.breaks == {}, "no port visit that the battery cannot fly"
    assert heavy.dropped, "the trip still cannot wait on the pad: a request is left out"
