"""Strategic deconfliction: intents, conflict detection, the exact separation check, placement."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airspace.frame import LocalFrame
from fleet.description import FleetFormatError, parse_fleet
from routing.deconflict import moved
from routing.intents import IntentParams, intent_frame, shifted, to_f3548, trip_intent
from routing.plan_geojson import PlanFormatError, plan_from_geojson, plan_to_geojson
from routing.planner import plan
from routing.problem import DROPOFF, PICKUP, PORT, Leg, Plan, Trip
from routing.separation import (
    IntentIndex,
    Piece,
    closest_approach,
    intent_conflicts,
    pad_conflicts,
    pieces_of,
    separation_losses,
    trip_occupancies,
)
from routing.validate import validate_plan
from routing.validate_separation import _outside, _samples
from tests.planner_fixtures import T0, at_m, fleet, problem, request, sample_problem

FRAME = LocalFrame.centred_on(127.0, 37.5)


def _trip(
    points: list[tuple[float, float]],
    depart: float,
    alt: float = 120.0,
    speed: float = 15.0,
    ports: tuple[str, str] = ("P", "Q"),
) -> Trip:
    """A port-to-port trip through ``points`` (metres in FRAME), one leg per hop, no waits."""
    legs = []
    t = T0 + timedelta(seconds=depart)
    for k in range(len(points) - 1):
        a, b = points[k], points[k + 1]
        length = math.dist(a, b)
        arrive = t + timedelta(seconds=length / speed)
        wps = tuple((*FRAME.to_lonlat(*p), alt) for p in (a, b))
        legs.append(
            Leg(
                PORT if k == 0 else PICKUP,
                ports[0] if k == 0 else f"R{k}",
                PORT if k == len(points) - 2 else DROPOFF,
                ports[1] if k == len(points) - 2 else f"R{k}",
                t,
                arrive,
                length,
                1.0,
                0.0,
                wps,
            )
        )
        t = arrive + timedelta(seconds=60)
    return Trip(tuple(legs))


def _conflict(a: Trip, b: Trip) -> bool:
    index = IntentIndex(FRAME, {"P": 1, "Q": 1})
    index.add(trip_intent("A", 1, a, FRAME))
    return bool(index.conflicts(trip_intent("B", 1, b, FRAME)))


def _losses(a: Trip, b: Trip) -> list:
    return separation_losses(pieces_of([("A", (a,)), ("B", (b,))], FRAME))[0]


def test_an_intent_contains_its_legs_pads_and_ports() -> None:
    trip = _trip([(0, 0), (3000, 400), (3500, -2500), (100, 50)], depart=120)
    intent = trip_intent("A", 1, trip, FRAME)
    samples = _samples(trip, FRAME, IntentParams().port_slot_s)
    assert len(samples) > 100
    assert len(_outside(samples, intent)) == 0
    # Ten minutes late, or 20 m above its layer, a drone is outside its intent.
    late = samples.copy()
    late[:, 0] += 600.0
    assert len(_outside(late, intent)) == len(late)
    high = samples[samples[:, 3] == 120.0]
    high[:, 3] += 20.0
    assert len(_outside(high, intent)) == len(high)
    assert {v.resource for v in intent.volumes if v.resource} == {"port:P", "port:Q"}
    later = trip_intent("A", 1, moved(trip, 90.0, 120.0), FRAME)
    again = shifted(intent, 90.0, 120.0, IntentParams().half_band_m)
    for v, w in zip(later.volumes, again.volumes, strict=True):
        assert (v.lo_m, v.hi_m, v.resource) == (w.lo_m, w.hi_m, w.resource)
        assert max(abs(v.t0 - w.t0), abs(v.t1 - w.t1), abs(v.ax - w.ax), abs(v.by - w.by)) < 1e-6
    vols = to_f3548(intent)
    assert vols[0].volume.outline_circle is not None  # the take-off column
    assert any(v.volume.outline_polygon is not None for v in vols)
    assert vols[1].time_start.value.endswith("Z")


def test_crossing_and_head_on_flights_conflict_and_lose_separation() -> None:
    east = _trip([(-3000, 0), (3000, 0)], depart=0)
    north = _trip([(0, -3000), (0, 3000)], depart=0)
    west = _trip([(3000, 10), (-3000, 10)], depart=0)
    assert _conflict(east, north)
    assert _conflict(east, west)
    (loss,) = _losses(east, north)
    assert loss.horizontal_m < 1.0 and abs(loss.t - (T0.timestamp() + 200)) < 1.0
    (loss,) = _losses(east, west)
    assert loss.horizontal_m == pytest.approx(10.0, abs=0.5)


def test_two_drones_on_one_pad_conflict() -> None:
    # Both service the pad at (2000, 0) during the same minute, arriving from opposite sides.
    a = _trip([(0, 0), (2000, 0), (2000, 3000)], depart=0)
    b = _trip([(4000, 100), (2000, 0), (2000, -3000)], depart=10)
    assert _conflict(a, b)
    occ = [o for did, t in (("A", a), ("B", b)) for o in trip_occupancies(did, 1, t, FRAME)]
    assert any(q is not None for _, q in pad_conflicts(occ))


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (_trip([(0, -3000), (0, 3000)], depart=900), "in time"),
        (_trip([(0, -3000), (0, 3000)], depart=0, alt=140.0), "in altitude"),
        (_trip([(-3000, 200), (3000, 200)], depart=0, ports=("P2", "Q2")), "in space"),
    ],
)
def test_separated_flights_do_not_conflict(second: Trip, why: str) -> None:
    first = _trip([(-3000, 0), (3000, 0)], depart=0)
    assert not _conflict(first, second), why
    assert _losses(first, second) == [], why


def test_closest_approach_is_exact() -> None:
    # Two points moving at right angles: closest at the start (212.1 m), or at t=15 s (530.3 m).
    a = Piece("A", 1, 0.0, 60.0, (-150.0, 0.0, 120.0), (750.0, 0.0, 120.0))
    b = Piece("B", 1, 0.0, 60.0, (0.0, 150.0, 120.0), (0.0, 1050.0, 120.0))
    t, h, v = closest_approach(a, b, IntentParams().minima) or (0, 0, 0)
    assert t == pytest.approx(0.0) and h == pytest.approx(math.hypot(150, 150)) and v == 0.0
    c = Piece("C", 1, 0.0, 60.0, (-600.0, 0.0, 110.0), (300.0, 0.0, 110.0))
    t, h, v = closest_approach(c, b, IntentParams().minima) or (0, 0, 0)
    assert t == pytest.approx(15.0) and h == pytest.approx(math.hypot(375, 375)) and v == pytest.approx(10.0)
    high = Piece("D", 1, 0.0, 60.0, (-600.0, 0.0, 150.0), (300.0, 0.0, 150.0))
    assert closest_approach(high, b, IntentParams().minima) is None


def test_take_offs_and_landings_at_one_port_are_sequenced() -> None:
    # A lands at P at t=200 s. B taking off from P 20 s later: with one landing spot their port
    # columns are over capacity; with two they are not, but B would climb out through the air A
    # glides down in (one point over the port), so that still conflicts. A minute later: no conflict.
    a = _trip([(3000, 0), (0, 0)], depart=0, ports=("Q", "P"))
    soon = _trip([(0, 0), (-3000, 0)], depart=220, ports=("P", "R"))
    later = _trip([(0, 0), (-3000, 0)], depart=260, ports=("P", "R"))
    for spots in (1, 2):
        index = IntentIndex(FRAME, {"P": spots})
        index.add(trip_intent("A", 1, a, FRAME))
        kinds = {c.kind for c in index.conflicts(trip_intent("B", 1, soon, FRAME))}
        assert kinds == ({"port_capacity", "volume"} if spots == 1 else {"volume"})
        assert index.conflicts(trip_intent("B", 1, later, FRAME)) == []


def test_the_climb_out_and_the_glide_in_reach_down_to_the_ground() -> None:
    trip = _trip([(0, 0), (3000, 0)], depart=0)
    intent = trip_intent("A", 1, trip, FRAME)
    dep, arr = trip.legs[0].depart.timestamp(), trip.legs[0].arrive.timestamp()
    climb_s = 120.0 / IntentParams().climb_mps
    en_route = [v for v in intent.volumes if v.resource is None]
    half = IntentParams().half_band_m
    low = [v for v in en_route if v.lo_m < 120.0 - half]
    assert low and all(v.t0 < dep + climb_s + 10 or v.t1 > arr - climb_s - 10 for v in low)
    assert any(v.lo_m == 0.0 for v in low), "the first and last pieces reach the ground"
    assert any(v.lo_m > 0 for v in en_route), "the middle of the leg keeps its altitude band"
    # Each low piece reaches down to the lowest height flown in it, no further: five seconds
    # into the climb the drone is 25 m up, so a piece starting then is clear of the ground.
    later = [v for v in low if dep + 10 < v.t0 < dep + 60]
    assert later and all(v.lo_m > 0.0 for v in later)
    assert max(v.t1 - v.t0 for v in low) <= IntentParams().low_piece_s + 2 * 5.0 + 0.01 * 600 + 1e-6
    # Drawn at a higher layer, it climbs longer and the intent drawn there contains that climb;
    # the one drawn at 120 m is not shifted there (its pieces end the climb at 120 m).
    up = moved(trip, 30.0, 140.0)
    samples = _samples(up, FRAME, IntentParams().port_slot_s)
    assert len(_outside(samples, trip_intent("A", 1, up, FRAME))) == 0
    with pytest.raises(ValueError, match="own altitude"):
        shifted(intent, 30.0, 140.0, half)


def test_conflict_check_uses_the_index_not_all_pairs() -> None:
    trips = [_trip([(k * 400.0, 0), (k * 400.0, 3000)], depart=0) for k in range(60)]
    intents = [trip_intent(f"D{k}", 1, t, FRAME) for k, t in enumerate(trips)]
    assert intent_conflicts(intents, FRAME, {"P": 100, "Q": 100}) == []
    index = IntentIndex(FRAME, {"P": 100, "Q": 100})
    for i in intents:
        index.add(i)
    probe = trip_intent("X", 1, _trip([(400.0, 1500), (400.0, 1600)], depart=60), FRAME)
    found = index.conflicts(probe)
    assert {c.other_drone for c in found} == {"D1"}


def test_fleet_layers_and_landing_spots_are_optional_and_checked() -> None:
    doc = fleet()
    assert parse_fleet(doc).models["m"].layers == (100.0,)
    doc["models"]["m"]["cruise_altitudes_m"] = [140, 120, 100]
    doc["ports"][0]["landing_spots"] = 3
    fleet_ = parse_fleet(doc)
    assert fleet_.models["m"].layers == (100.0, 120.0, 140.0)
    assert fleet_.ports[0].landing_spots == 3
    assert parse_fleet(fleet_.to_dict()) == fleet_
    for bad, where in (
        ({"cruise_altitudes_m": [120, 140]}, "include cruise_altitude_m"),
        ({"cruise_altitudes_m": []}, "non-empty"),
        ({"cruise_altitudes_m": [120, 120]}, "distinct"),
    ):
        d = fleet()
        d["models"]["m"].update(bad)
        with pytest.raises(FleetFormatError, match=where):
            parse_fleet(d)
    d = fleet()
    d["ports"][0]["landing_spots"] = 0
    with pytest.raises(FleetFormatError, match="landing_spots"):
        parse_fleet(d)


def _check_separated(pr, result: Plan) -> None:
    assert validate_plan(pr, result) == []
    drones = [(d.drone_id, d.trips) for d in result.drones]
    frame = intent_frame(pr.fleet)
    assert separation_losses(pieces_of(drones, frame))[0] == []
    spots = {p.id: p.landing_spots for p in pr.fleet.ports}
    assert intent_conflicts(result.intents, frame, spots) == []
    for rid in result.served:
        assert result.etas[rid].delivered_at <= pr.request(rid).deadline


def test_the_anyang_sample_plan_has_no_conflict() -> None:
    pr = sample_problem()
    before = plan(pr, seconds=2, deconfliction=None)
    after = plan(pr, seconds=2)
    _check_separated(pr, after)
    assert len(after.intents) == sum(len(d.trips) for d in after.drones)
    assert len(after.served) >= len(before.served) - 1
    layers = {leg.waypoints[0][2] for _, _, _, leg in after.legs()}
    assert layers <= {90.0, 100.0, 110.0, 120.0, 130.0, 140.0}


def test_a_dense_single_pad_scenario_is_deconflicted_by_ground_delay() -> None:
    # Eight documents from one pad to one destination, at once, with one port and one layer:
    # only ground delays can separate them; every delivery still meets its deadline.
    reqs = [request(f"R{k}", at_m(1500, 800), at_m(-2500, 1200), ready=0, deadline=120) for k in range(8)]
    pr = problem([], fleet(drones=6), reqs)
    result = plan(pr, seconds=2)
    _check_separated(pr, result)
    assert len(result.served) >= 6
    departs = sorted(t.legs[0].depart for d in result.drones for t in d.trips)
    assert len(set(departs)) == len(departs), "no two trips leave the port at the same moment"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(4, 10),
    spread_m=st.floats(800.0, 4000.0),
    slack_min=st.integers(20, 90),
)
def test_random_plans_keep_separation_and_deadlines(
    seed: int, n: int, spread_m: float, slack_min: int
) -> None:
    import random

    rng = random.Random(seed)

    def point() -> list[float]:
        return at_m(rng.uniform(-spread_m, spread_m), rng.uniform(-spread_m, spread_m))

    pads = [point() for _ in range(3)]  # few pads: drones meet on them
    reqs = []
    for k in range(n):
        ready = rng.randrange(0, 30)
        prio = "urgent" if rng.random() < 0.3 else "normal"
        reqs.append(
            request(
                f"R{k}", rng.choice(pads), point(), ready=ready, deadline=ready + slack_min, priority=prio
            )
        )
    pr = problem([], fleet(drones=4), reqs)
    result = plan(pr, seconds=0.5, seed=seed)
    _check_separated(pr, result)
    assert {u.reason for u in result.unserved} <= {"no_capacity", "deconfliction", "deadline_infeasible"}


def test_active_intents_are_respected() -> None:
    pr = sample_problem()
    first = plan(pr, seconds=2)
    # The same flights already flying, under other drone ids: the new plan must avoid all of them.
    active = [replace(i, drone_id=f"other-{i.drone_id}") for i in first.intents]
    again = plan(pr, seconds=2, active_intents=active)
    assert validate_plan(pr, again, active_intents=active) == []
    kinds = {v.kind for v in validate_plan(pr, first, active_intents=active)}
    assert "intent_conflict" in kinds


def test_plan_geojson_keeps_the_intents_and_refuses_bad_volumes() -> None:
    pr = sample_problem()
    result = plan(pr, seconds=1)
    doc = plan_to_geojson(result)
    again = plan_from_geojson(doc)
    assert validate_plan(pr, again) == []
    assert [len(i.volumes) for i in again.intents] == [len(i.volumes) for i in result.intents]
    k = next(i for i, f in enumerate(doc["features"]) if f["geometry"]["type"] == "Polygon")
    props = doc["features"][k]["properties"]
    for change, message in (
        (lambda p: p.pop("radius_m"), "missing"),
        (lambda p: p.update(colour="red"), "unknown"),
        (lambda p: p.update(segment=[[1, 2]]), "segment"),
        (lambda p: p.update(state="Ended"), "state"),
    ):
        bad = copy.deepcopy(doc)
        change(bad["features"][k]["properties"])
        with pytest.raises(PlanFormatError, match=message):
            plan_from_geojson(bad)
    # Volumes moved an hour later no longer contain their trips.
    late = copy.deepcopy(doc)
    for f in late["features"]:
        p = f["properties"]
        if f["geometry"]["type"] == "Polygon" and (p["drone_id"], p["trip"]) == (
            props["drone_id"],
            props["trip"],
        ):
            for key in ("time_start", "time_end"):
                t = datetime.fromisoformat(p[key]) + timedelta(hours=1)
                p[key] = t.isoformat()
    kinds = {v.kind for v in validate_plan(pr, plan_from_geojson(late))}
    assert "intent_not_containing" in kinds
    # And a plan without intents is refused by the separation rules.
    assert {v.kind for v in validate_plan(pr, replace(result, intents=()))} == {"intent_missing"}


def test_the_containment_check_tests_the_volumes_in_time_as_all_pairs_would() -> None:
    import numpy as np

    from routing.conformance import excess, volume_table
    from routing.intents import OperationalIntent, Volume
    from routing.validate_separation import CONTAIN_TOLERANCE_M

    rng = np.random.default_rng(11)
    for _ in range(50):
        vols = []
        for _ in range(int(rng.integers(1, 30))):
            ax, ay = rng.uniform(-500, 500, 2)
            t0 = float(rng.uniform(0, 600))
            lo = float(rng.choice([0.0, 90.0]))
            vols.append(
                Volume(
                    ax, ay, ax + rng.uniform(-200, 200), ay, 30.0, lo, lo + 40, t0, t0 + rng.uniform(1, 60)
                )
            )
        intent = OperationalIntent("D", 1, (FRAME.lon0, FRAME.lat0), tuple(vols))
        samples = np.column_stack(
            [
                rng.uniform(-10, 700, 80),
                rng.uniform(-600, 600, 80),
                rng.uniform(-600, 600, 80),
                rng.uniform(0, 140, 80),
            ]
        )
        for k in range(0, 80, 2):  # half of them near a volume: inside, or just out in one dimension
            v = vols[int(rng.integers(len(vols)))]
            f = rng.uniform(0, 1)
            samples[k] = (
                rng.uniform(v.t0 - 2, v.t1 + 2),
                v.ax + f * (v.bx - v.ax) + rng.uniform(-33, 33),
                v.ay + f * (v.by - v.ay),
                rng.uniform(v.lo_m - 2, v.hi_m + 2),
            )
        lateral, vertical, time = excess(volume_table(intent), samples)
        inside = ((time <= 1e-6) & (vertical <= 1e-6) & (lateral <= CONTAIN_TOLERANCE_M)).any(axis=1)
        assert list(_outside(samples, intent)) == list(np.flatnonzero(~inside))
        assert 0 < inside.sum() < len(samples)
