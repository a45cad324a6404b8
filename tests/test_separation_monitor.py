"""The separation monitor's decisions on fed true positions (no broker: it is pure logic)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from routing.intents import SeparationMinima
from simulator.separation import SeparationLoss, SeparationMonitor

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def fly(
    monitor: SeparationMonitor,
    tracks: dict[str, list[tuple[float, float, float]]],
    *,
    step_s: float = 1.0,
    airborne: bool = True,
    offsets_s: dict[str, float] | None = None,
) -> None:
    """Feed each drone's positions, one per ``step_s``, interleaved in time order (a drone may be
    sampled ``offsets_s`` later than the others, as the simulator's drones are)."""
    samples = []
    for drone, points in tracks.items():
        off = (offsets_s or {}).get(drone, 0.0)
        samples += [(T0 + timedelta(seconds=i * step_s + off), drone, p) for i, p in enumerate(points)]
    for t, drone, p in sorted(samples):
        monitor.observe(drone, t, p, airborne)


def line(x0: float, y0: float, x1: float, y1: float, alt: float, n: int) -> list[tuple[float, float, float]]:
    """``n`` samples evenly from (x0, y0) to (x1, y1) at ``alt``."""
    return [(x0 + (x1 - x0) * i / (n - 1), y0 + (y1 - y0) * i / (n - 1), alt) for i in range(n)]


def test_head_on_through_each_other_is_one_loss_with_closest_near_zero() -> None:
    seen: list[SeparationLoss] = []
    m = SeparationMonitor(on_loss=seen.append)
    # 15 m/s each, head-on along x, passing through the same point at t = 20 s.
    fly(m, {"A": line(-300, 0, 300, 0, 60, 41), "B": line(300, 0, -300, 0, 60, 41)}, step_s=1.0)
    assert m.count == 1 and m.per_pair[("A", "B")] == 1
    loss = m.losses[0]
    assert loss.pair == ("A", "B") and loss.ended and seen == [loss]
    assert loss.closest_m == pytest.approx(0.0, abs=1e-6)
    assert loss.closest_at == T0 + timedelta(seconds=20)
    # 50 m apart at a closing speed of 30 m/s: within the minimum from 20 - 5/3 s to 20 + 5/3 s.
    assert (loss.start - T0).total_seconds() == pytest.approx(20 - 50 / 30, abs=1e-3)
    assert (loss.end - T0).total_seconds() == pytest.approx(20 + 50 / 30, abs=1e-3)


def test_fast_crossing_between_two_samples_is_found_by_the_exact_check() -> None:
    m = SeparationMonitor()
    # Sampled every 10 s: at 40 m/s the two cross at right angles at t = 15 s, and no sample is
    # within 50 m (at t = 10 s and 20 s each is 200 m from the crossing).
    a = line(-600, 0, 600, 0, 50, 4)  # t = 0, 10, 20, 30: x = -600, -200, 200, 600
    b = line(0, -600, 0, 600, 55, 4)
    fly(m, {"A": a, "B": b}, step_s=10.0)
    for i in range(4):
        assert ((a[i][0] - b[i][0]) ** 2 + (a[i][1] - b[i][1]) ** 2) ** 0.5 > 50
    assert m.count == 1
    loss = m.losses[0]
    assert loss.closest_at == T0 + timedelta(seconds=15)
    assert loss.horizontal_m == pytest.approx(0.0, abs=1e-6) and loss.vertical_m == pytest.approx(5.0)


def test_samples_at_different_times_of_each_drone_still_meet() -> None:
    m = SeparationMonitor()
    fly(
        m,
        {"A": line(-300, 0, 300, 0, 60, 41), "B": line(300, 0, -300, 0, 60, 41)},
        offsets_s={"B": 0.4},
    )
    assert m.count == 1 and m.losses[0].closest_m < 7


@pytest.mark.parametrize(
    ("offset_y", "alt_b"),
    [(60.0, 60.0), (0.0, 80.0), (50.0, 60.0), (0.0, 75.0)],
    ids=["60m", "20mV", "50m", "15mV"],
)
def test_passing_outside_either_minimum_is_no_loss(offset_y: float, alt_b: float) -> None:
    m = SeparationMonitor()
    fly(m, {"A": line(-300, 0, 300, 0, 60, 41), "B": line(300, offset_y, -300, offset_y, alt_b, 41)})
    assert m.count == 0 and m.checks > 0


def test_configured_minima_apply() -> None:
    m = SeparationMonitor(SeparationMinima(horizontal_m=70, vertical_m=15))
    fly(m, {"A": line(-300, 0, 300, 0, 60, 41), "B": line(300, 60, -300, 60, 60, 41)})
    assert m.count == 1 and m.losses[0].horizontal_m == pytest.approx(60)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_minima_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="horizontal minimum"):
        SeparationMonitor(SeparationMinima(horizontal_m=bad))
    with pytest.raises(ValueError, match="vertical minimum"):
        SeparationMonitor(SeparationMinima(vertical_m=bad))


def test_two_drones_parked_at_one_port_are_no_loss() -> None:
    m = SeparationMonitor()
    fly(m, {"A": [(0.0, 0.0, 0.0)] * 10, "B": [(0.0, 0.0, 0.0)] * 10}, airborne=False)
    assert m.count == 0


def test_landing_beside_a_parked_drone_is_no_loss_but_two_at_one_pad_is() -> None:
    m = SeparationMonitor()
    for i in range(10):
        t = T0 + timedelta(seconds=i)
        m.observe("parked", t, (0.0, 0.0, 0.0), False)
        m.observe("landing", t, (0.0, 0.0, max(0.0, 45.0 - 5 * i)), True)
    assert m.count == 0
    # One takes off from the pad while the other lands on it: both airborne, one loss.
    for i in range(10):
        t = T0 + timedelta(seconds=20 + i)
        m.observe("up", t, (500.0, 0.0, 5.0 * i), True)
        m.observe("down", t, (500.0, 0.0, max(0.0, 45.0 - 5 * i)), True)
    assert m.count == 1 and m.losses[0].pair == ("down", "up")


def test_a_pair_that_separates_and_meets_again_is_two_losses_of_that_pair() -> None:
    m = SeparationMonitor()
    a = [(0.0, 0.0, 50.0)] * 5 + [(0.0, 0.0, 100.0)] * 5 + [(0.0, 0.0, 50.0)] * 5
    fly(m, {"A": a, "B": [(10.0, 0.0, 50.0)] * 15})
    assert m.count == 2 and m.per_pair[("A", "B")] == 2
    m.finish()
    assert all(loss.ended for loss in m.losses)


def test_a_loss_still_going_on_is_reported_at_finish() -> None:
    seen: list[SeparationLoss] = []
    m = SeparationMonitor(on_loss=seen.append)
    fly(m, {"A": [(0.0, 0.0, 50.0)] * 5, "B": [(10.0, 0.0, 50.0)] * 5})
    assert m.count == 1 and not seen and not m.losses[0].ended
    m.finish()
    assert seen == m.losses and m.losses[0].ended


def test_a_thousand_drones_are_checked_against_neighbours_only() -> None:
    m = SeparationMonitor()
    # 1,000 drones on a 40 x 25 grid 60 m apart, all flying east at 15 m/s: no two within 50 m.
    drones = {f"D{i:04d}": (60.0 * (i % 40), 60.0 * (i // 40)) for i in range(1000)}
    for step in range(20):
        t = T0 + timedelta(seconds=step)
        for d, (x, y) in drones.items():
            m.observe(d, t, (x + 15.0 * step, y, 60.0), True)
    assert m.count == 0 and m.checks > 0
    # All pairs would be ~500,000 comparisons a step; the grid's neighbours are a few dozen per drone.
    assert m.checks < 50 * 1000 * 20


@pytest.mark.parametrize("seed", range(20))
def test_samples_coming_in_bursts_still_make_one_loss(seed: int) -> None:
    # Each drone's samples arrive in its own order (one drone runs several samples ahead of the
    # other, as late ticks do): the pieces of the loss are found out of time order.
    rng = random.Random(seed)
    m = SeparationMonitor()
    tracks = {
        "A": list(enumerate(line(-300, 0, 300, 0, 60, 61))),
        "B": [(i + 0.3, p) for i, p in enumerate(line(300, 0, -300, 0, 60, 61))],
    }
    while tracks["A"] or tracks["B"]:
        drone = rng.choice([d for d in tracks if tracks[d]])
        for _ in range(rng.randint(1, 6)):
            if tracks[drone]:
                at, p = tracks[drone].pop(0)
                m.observe(drone, T0 + timedelta(seconds=at), p, True)
    m.finish()
    assert m.count == 1, [x.describe() for x in m.losses]
    assert m.losses[0].closest_m < 1.0
