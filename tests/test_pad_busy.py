"""The pads held by intents in force steer the solver and the schedule (routing.pad_busy)."""

from __future__ import annotations

import dataclasses

from routing.deconflict import DeconflictionParams
from routing.feasibility import precheck
from routing.instance import spans_cover
from routing.intents import IntentParams
from routing.mapping import PICKUP_NODE, build_instance
from routing.pad_busy import after_busy, busy_pads
from routing.planner import plan
from routing.prepared import prepare
from routing.requests import parse_requests
from routing.validate import validate_plan
from tests.planner_fixtures import at_m, fleet, problem, request


def test_after_busy_skips_the_span_it_falls_in() -> None:
    spans = [(10.0, 20.0), (30.0, 40.0)]
    assert [after_busy(spans, t) for t in (5.0, 10.0, 15.0, 20.0, 25.0, 35.0, 45.0)] == [
        5.0, 10.0, 20.0, 20.0, 25.0, 40.0, 45.0,
    ]  # fmt: skip
    assert after_busy([], 7.0) == 7.0


def test_spans_that_leave_no_second_of_a_window_free_are_recognised() -> None:
    assert spans_cover([(0, 99), (100, 300)], 8, 200)
    assert not spans_cover([(0, 99), (101, 300)], 8, 200)  # second 100 is free
    assert not spans_cover([(10, 300)], 8, 200)
    assert not spans_cover([(0, 150)], 8, 200)


def test_a_pickup_at_a_pad_held_by_a_flight_in_force_is_planned_after_it() -> None:
    # D0 already flies A and lands on A's drop-off pad about when B, from that pad, is ready.
    pad = at_m(4000, 0)
    both = problem([], fleet(2), [request("A", at_m(2000, 0), pad, ready=0, deadline=60)])
    d0, d1 = both.fleet.drones
    flying = plan(dataclasses.replace(both, fleet=dataclasses.replace(both.fleet, drones=(d0,))), seconds=0.5)
    ready = round((flying.etas["A"].delivered_at - both.at).total_seconds() / 60)
    (b,) = parse_requests([request("B", pad, at_m(0, 4000), ready=ready, deadline=ready + 60)])
    other = dataclasses.replace(both, fleet=dataclasses.replace(both.fleet, drones=(d1,)), requests=(b,))
    spans = busy_pads(prepare(other), flying.intents, IntentParams())
    site = prepare(other).pickup_site["B"]
    assert spans[site], "the pad is held while D0 lands, serves and leaves"
    assert not busy_pads(prepare(other), (), IntentParams())
    # The solver is told: B's pickup may not start inside those spans.
    prep = prepare(other)
    prep.busy = spans
    candidate = precheck(prep, b).candidate
    assert candidate is not None
    mapping = build_instance(prep, [candidate])
    (pick,) = (i for i, nd in enumerate(mapping.nodes) if nd.kind == PICKUP_NODE)
    assert mapping.instance.forbidden[pick]
    steer = DeconflictionParams(steer_pads=True)
    result = plan(other, seconds=0.5, workers=1, active_intents=flying.intents, deconfliction=steer)
    assert result.served == ("B",)
    assert validate_plan(other, result, active_intents=flying.intents) == []
    pickup = result.etas["B"].pickup_at
    assert pickup is not None
    start = (pickup - other.at).total_seconds()
    assert not any(a < start < b for a, b in spans[site]), "its service starts when the pad is free"
    assert start >= ready * 60
