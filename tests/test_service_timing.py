"""The start lead follows how long starts take to reach the drones, and the margins grow with the
clock's speed (fast: no broker, no database)."""

from __future__ import annotations

from types import SimpleNamespace

from dispatch.service.timing import StartLatency, hover_kept_s


def test_the_lead_is_twice_the_slowest_recent_start_and_forgets_old_ones() -> None:
    latency = StartLatency()
    assert latency.lead() == 0.0
    for s in (3.0, 12.5, 4.0):
        latency.record(s)
    assert latency.lead() == 25.0
    for _ in range(StartLatency.SAMPLES):  # a slow spell passes: the lead comes back down
        latency.record(2.0)
    assert latency.lead() == 4.0
    latency.record(-30.0)  # a drone clock behind ours
    latency.record(1e6)  # or far ahead: bounded
    assert latency.lead() == 2.0 * StartLatency.CAP_S


def test_a_held_drone_keeps_two_minutes_of_hover_and_half_a_wall_second_at_the_clock_s_speed() -> None:
    assert hover_kept_s(SimpleNamespace()) == 120.5  # type: ignore[arg-type]  # wall-clock time
    assert hover_kept_s(SimpleNamespace(speed=200.0)) == 220.0  # type: ignore[arg-type]
