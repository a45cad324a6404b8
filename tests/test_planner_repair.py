"""Repair: a route that breaks a rule is never output; the offending request is taken out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from routing.feasibility import precheck
from routing.mapping import DROPOFF_NODE, PICKUP_NODE, NodeInfo
from routing.planner import PlanningError, realise_and_repair
from routing.prepared import prepare
from routing.problem import DroneState
from routing.validate import validate_plan
from tests.planner_fixtures import T0, at_m, fleet, problem, request


def _stop(prep, kind: str, rid: str) -> NodeInfo:
    site = prep.pickup_site[rid] if kind == PICKUP_NODE else prep.dropoff_site[rid]
    return NodeInfo(kind, site, rid, -1, 500)


def test_a_route_missing_a_deadline_is_repaired_not_output() -> None:
    reqs = [
        request("tight", at_m(0, 100), at_m(0, 3000), deadline=10),
        request("south", at_m(0, 200), at_m(0, -5000), deadline=90),
    ]
    p = problem([], fleet(drones=1), reqs)
    prep = prepare(p)
    candidates = {r.id: precheck(prep, r).candidate for r in p.requests}
    assert all(candidates.values()), "each is feasible alone"
    # Deliver "south" first: "tight" then arrives far too late.
    route = [
        _stop(prep, PICKUP_NODE, "tight"),
        _stop(prep, PICKUP_NODE, "south"),
        _stop(prep, DROPOFF_NODE, "south"),
        _stop(prep, DROPOFF_NODE, "tight"),
    ]
    result = realise_and_repair(prep, [route], candidates, [], "hand-made")
    assert validate_plan(p, result) == []
    assert result.served == ("south",)
    (u,) = result.unserved
    assert (u.request_id, u.reason) == ("tight", "no_capacity")
    assert "deadline" in u.detail


def test_an_unrepairable_plan_raises_instead_of_being_output() -> None:
    # The document on board cannot be taken out, and this route never delivers it.
    reqs = [request("aboard", at_m(0, 100), at_m(0, 3000), deadline=60)]
    p = problem([], fleet(drones=1), reqs)
    lon, lat = at_m(0, 500)
    p = replace(p, drone_states=(DroneState("D0", lon, lat, T0, 200.0, onboard=("aboard",)),))
    prep = prepare(p)
    with pytest.raises(PlanningError, match="could not produce a valid plan"):
        realise_and_repair(prep, [[]], {}, [], "hand-made")
