"""The engine's energy per arc bounds the payload from above, tightly where time windows allow."""

from __future__ import annotations

import math

from routing.feasibility import precheck
from routing.mapping import DROPOFF_NODE, PICKUP_NODE, START_NODE, build_instance
from routing.prepared import prepare
from tests.planner_fixtures import at_m, fleet, problem, request


def _node(mapping, kind: str, ref: str) -> int:
    return next(i for i, nd in enumerate(mapping.nodes) if nd.kind == kind and nd.ref == ref)


def _arc_energy(mapping, prep, i: int, j: int) -> tuple[int, float]:
    model = prep.starts[0].model
    length = float(prep.networks[model.name].length_m[mapping.nodes[i].site, mapping.nodes[j].site])
    return int(mapping.instance.energy[0][i, j]), length


def test_arc_energy_counts_only_documents_that_can_be_aboard() -> None:
    reqs = [
        request("A", at_m(0, 500), at_m(0, 3000), weight=0.5, ready=0, deadline=20),
        request("B", at_m(0, 600), at_m(0, 2500), weight=1.0, ready=0, deadline=20),
        request("late", at_m(0, 700), at_m(0, 2800), weight=1.2, ready=90, deadline=120),
    ]
    p = problem([], fleet(drones=1), reqs)
    prep = prepare(p)
    candidates = [precheck(prep, r).candidate for r in p.requests]
    assert all(candidates)
    mapping = build_instance(prep, [c for c in candidates if c is not None])
    model = prep.starts[0].model
    pa, da = _node(mapping, PICKUP_NODE, "A"), _node(mapping, DROPOFF_NODE, "A")
    energy, length = _arc_energy(mapping, prep, pa, da)
    # A and possibly B aboard (their windows overlap); "late" is picked up long after A's deadline.
    assert energy == math.ceil(length * (model.wh_per_km + model.wh_per_km_per_kg * 1.5))
    # Out of the port: nothing aboard.
    start = _node(mapping, START_NODE, "D0")
    energy, length = _arc_energy(mapping, prep, start, pa)
    assert energy == math.ceil(length * model.wh_per_km)
    # Never less than the document itself on its own pickup -> drop-off arc.
    pl, dl = _node(mapping, PICKUP_NODE, "late"), _node(mapping, DROPOFF_NODE, "late")
    energy, length = _arc_energy(mapping, prep, pl, dl)
    assert energy >= length * (model.wh_per_km + model.wh_per_km_per_kg * 1.2)


def test_a_document_no_trip_could_carry_over_an_arc_does_not_weigh_on_it() -> None:
    # A long delivery and a short one going the other way, both ready at once: their windows
    # overlap, but a drone carrying "short" from its pickup over A's long leg and back to its
    # drop-off and home would need more than the battery, so the long leg carries A alone (it
    # was charged both, went over the battery, and A was left unserved although a drone was free).
    reqs = [
        request("A", at_m(0, 300), at_m(0, 9000), weight=0.5, ready=0, deadline=120),
        request("short", at_m(0, 8800), at_m(0, 8400), weight=0.5, ready=0, deadline=120),
    ]
    p = problem([], fleet(drones=1, battery_wh=400.0), reqs)
    prep = prepare(p)
    candidates = [precheck(prep, r).candidate for r in p.requests]
    assert all(candidates)
    mapping = build_instance(prep, [c for c in candidates if c is not None])
    model = prep.starts[0].model
    pa, da = _node(mapping, PICKUP_NODE, "A"), _node(mapping, DROPOFF_NODE, "A")
    energy, length = _arc_energy(mapping, prep, pa, da)
    assert energy == math.ceil(length * (model.wh_per_km + model.wh_per_km_per_kg * 0.5))
    # Where the chain fits in the battery, the other document still counts.
    ps, ds = _node(mapping, PICKUP_NODE, "short"), _node(mapping, DROPOFF_NODE, "short")
    energy, length = _arc_energy(mapping, prep, ps, ds)
    assert energy == math.ceil(length * (model.wh_per_km + model.wh_per_km_per_kg * 1.0))
