"""The least conflict-free ground delay, found from the volumes' windows, against its definition
(the first whole second after ``base`` at which the exact conflict check finds nothing), and
deconfliction passes that repeat the unchanged prefix of the previous pass."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import routing.deconflict as deconflict_module
from airspace.frame import LocalFrame
from routing.deconflict import Replay, deconflict
from routing.delay_search import clear, full_spans, least_allowed, least_delay
from routing.intents import OperationalIntent, Volume
from routing.planner import plan
from routing.prepared import prepare
from routing.separation import IntentIndex, index_of, segment_distance, segment_distances
from tests.planner_fixtures import at_m, fleet, problem, request

FRAME = LocalFrame.centred_on(114.35, 36.1)
CENTRE = (FRAME.lon0, FRAME.lat0)


def _volume(rng: random.Random, t: float, resource: str | None = None) -> Volume:
    if resource is not None:  # a take-off or landing column at the port at (0, 0)
        return Volume(0.0, 0.0, 0.0, 0.0, 30.0, 0.0, 120.0, t, t + rng.uniform(20, 60), resource)
    ax, ay = rng.uniform(-800, 800), rng.uniform(-800, 800)
    bx, by = ax + rng.uniform(-400, 400), ay + rng.uniform(-400, 400)
    lo = rng.choice([90.0, 105.0, 120.0])
    return Volume(ax, ay, bx, by, 30.0, lo, lo + 15.0, t, t + rng.uniform(10, 90))


def _intent(rng: random.Random, drone: str, start: float, n: int, port: bool) -> OperationalIntent:
    vols = [_volume(rng, start + rng.uniform(0, 300)) for _ in range(n)]
    if port:
        vols.append(_volume(rng, start + rng.uniform(0, 300), "port:P"))
    return OperationalIntent(drone, 1, CENTRE, tuple(vols))


def _by_trials(index: IntentIndex, intent: OperationalIntent, base: float, limit: float) -> float | None:
    k = 0
    while (d := base + k) <= limit:
        moved = tuple(
            Volume(v.ax, v.ay, v.bx, v.by, v.radius_m, v.lo_m, v.hi_m, v.t0 + d, v.t1 + d, v.resource)
            for v in intent.volumes
        )
        if not index.conflicts(OperationalIntent(intent.drone_id, 1, CENTRE, moved)):
            return d
        k += 1
    return None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), spots=st.integers(1, 3), others=st.integers(1, 40))
def test_the_least_delay_is_the_first_free_second(seed: int, spots: int, others: int) -> None:
    rng = random.Random(seed)
    index = IntentIndex(FRAME, {"P": spots})
    for k in range(others):
        index.add(_intent(rng, f"D{k}", rng.uniform(0, 900), rng.randint(1, 6), rng.random() < 0.5))
    mine = _intent(rng, "ME", rng.uniform(0, 300), rng.randint(1, 6), rng.random() < 0.7)
    base = rng.uniform(0, 30)
    found = least_delay(index, "ME", [mine.volumes], base, base + 1500)
    expected = _by_trials(index, mine, base, base + 1500)
    assert (None if found is None else found[0]) == expected


def test_the_least_delay_prefers_the_earlier_layer_on_a_tie_and_the_earlier_delay_first() -> None:
    index = IntentIndex(FRAME)
    index.add(OperationalIntent("B", 1, CENTRE, (Volume(0, 0, 500, 0, 30, 90, 105, 0, 100),)))
    low = (Volume(0, 0, 500, 0, 30, 90, 105, 50, 80),)  # meets B's volume until B's ends
    high = (Volume(0, 0, 500, 0, 30, 120, 135, 50, 80),)  # above it: free at once
    assert least_delay(index, "A", [low, high], 0.0, 600.0) == (0.0, 1)
    assert least_delay(index, "A", [high, low], 0.0, 600.0) == (0.0, 0)
    assert least_delay(index, "A", [low], 0.0, 600.0) == (51.0, 0)  # B ends at 100, A starts at 50
    assert least_delay(index, "A", [low], 0.0, 40.0) is None


def test_the_least_delay_reads_no_layer_after_one_free_at_once() -> None:
    index = IntentIndex(FRAME)
    index.add(OperationalIntent("B", 1, CENTRE, (Volume(0, 0, 500, 0, 30, 90, 105, 0, 100),)))
    low = (Volume(0, 0, 500, 0, 30, 90, 105, 50, 80),)  # meets B's volume until B's ends
    high = (Volume(0, 0, 500, 0, 30, 120, 135, 50, 80),)  # above it: free at once
    read: list[int] = []

    class Watched:
        def __init__(self, layers: list[tuple[Volume, ...]]) -> None:
            self.layers = layers

        def __len__(self) -> int:
            return len(self.layers)

        def __getitem__(self, k: int, /) -> tuple[Volume, ...]:
            read.append(k)
            return self.layers[k]

    assert least_delay(index, "A", Watched([high, low, low]), 0.0, 600.0) == (0.0, 0)
    assert read == [0]
    read.clear()
    assert least_delay(index, "A", Watched([low, high, low]), 0.0, 600.0) == (0.0, 1)
    assert read == [0, 1]  # the third layer is never read: nothing beats leaving at once


def test_full_spans_are_where_every_spot_is_taken() -> None:
    def v(t0: float, t1: float) -> Volume:
        return Volume(0, 0, 0, 0, 30, 0, 120, t0, t1, "port:P")

    assert full_spans([v(0, 10), v(5, 20), v(30, 40)], 1) == [(0, 20), (30, 40)]
    assert full_spans([v(0, 10), v(5, 20), v(30, 40)], 2) == [(5, 10)]
    assert full_spans([v(0, 10), v(10, 20)], 2) == []  # touching windows never overlap


def test_least_allowed_jumps_over_chained_intervals_on_whole_seconds() -> None:
    assert least_allowed([(-5.0, 3.2), (3.0, 7.5), (20.0, 30.0)], 0.0, 0.0) == 8.0
    assert least_allowed([(1.0, 2.0)], 0.5, 0.5) == 0.5
    assert least_allowed([], 0.0, 4.0) == 4.0


def test_segment_distances_equal_the_scalar_ones() -> None:
    rng = np.random.default_rng(7)
    pts = rng.uniform(-100, 100, size=(500, 8))
    pts[::7, 2:4] = pts[::7, 0:2]  # some degenerate segments (points)
    got = segment_distances(pts[:, 0:2], pts[:, 2:4], pts[:, 4:6], pts[:, 6:8])
    want = [segment_distance(tuple(p[0:2]), tuple(p[2:4]), tuple(p[4:6]), tuple(p[6:8])) for p in pts]
    assert np.allclose(got, want)


def test_a_replayed_pass_decides_as_a_fresh_one_and_searches_only_after_its_first_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ten documents from one pad at once, one port, one layer: most trips wait for another.
    reqs = [request(f"R{k}", at_m(1500, 800), at_m(-2500, 1200), ready=0, deadline=30) for k in range(10)]
    pr = problem([], fleet(drones=6), reqs)
    raw = plan(pr, seconds=1, deconfliction=None)
    prep = prepare(pr)
    searches: list[str] = []
    search = deconflict_module._search

    def counted(t, *args, **kwargs):  # type: ignore[no-untyped-def]
        searches.append(t.drone_id)
        return search(t, *args, **kwargs)

    monkeypatch.setattr(deconflict_module, "_search", counted)
    replay = Replay()
    first = deconflict(prep, raw, replay=replay)
    assert searches and first == deconflict(prep, raw)
    searches.clear()
    assert deconflict(prep, raw, replay=replay) == first
    assert searches == [], "an unchanged pass repeats every decision"
    # The drone leaving last gone: the decisions before its first trip are repeated, the rest made again.
    gone = max(raw.drones, key=lambda d: (d.trips[0].legs[0].depart, d.drone_id)).drone_id
    fewer = replace(raw, drones=tuple(d for d in raw.drones if d.drone_id != gone))
    searches.clear()
    replayed = deconflict(prep, fewer, replay=replay)
    again = len(searches)
    searches.clear()
    assert replayed == deconflict(prep, fewer)
    assert again < len(searches), "the decisions before the first change were not made again"


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), spots=st.integers(1, 3), others=st.integers(1, 40))
def test_clear_agrees_with_the_exact_conflict_check(seed: int, spots: int, others: int) -> None:
    rng = random.Random(seed)
    index = IntentIndex(FRAME, {"P": spots})
    for k in range(others):
        index.add(_intent(rng, f"D{k}", rng.uniform(0, 600), rng.randint(1, 6), rng.random() < 0.5))
    mine = _intent(rng, "ME", rng.uniform(0, 600), rng.randint(1, 6), rng.random() < 0.7)
    assert clear(index, mine.volumes, "ME") == (not index.conflicts(mine))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), spots=st.integers(1, 3))
def test_an_index_extended_from_the_last_one_finds_what_a_fresh_one_finds(seed: int, spots: int) -> None:
    # A large round's next chunk: the intents of the chunks before, then the ones just placed.
    rng = random.Random(seed)
    first = tuple(
        _intent(rng, f"A{k}", rng.uniform(0, 600), rng.randint(1, 6), rng.random() < 0.5) for k in range(12)
    )
    more = first + tuple(
        _intent(rng, f"B{k}", rng.uniform(0, 600), rng.randint(1, 6), rng.random() < 0.5) for k in range(12)
    )
    held = index_of(first, FRAME, {"P": spots})
    extended = index_of(more, FRAME, {"P": spots})
    assert extended.base is not None and extended.base.base is None and len(extended) == len(more)
    assert len(index_of(first, FRAME, {"P": spots})) == len(first), "the index extended is a copy"
    assert len(held) == len(first)
    fresh = IntentIndex(FRAME, {"P": spots})
    for a in more:
        fresh.add(a)
    for _ in range(10):
        mine = _intent(rng, "ME", rng.uniform(0, 600), rng.randint(1, 6), rng.random() < 0.7)
        assert extended.conflicts(mine) == fresh.conflicts(mine)
        assert clear(extended, mine.volumes, "ME") == clear(fresh, mine.volumes, "ME")
