"""How exactly drones keep to their planned times: the intents' timing margin and the start lead.

Wall-clock delays (the event loop, the broker, a busy machine) last ``speed`` times longer in the
time of a clock running ``speed`` times faster than real time, so both grow with the clock's speed.
"""

from __future__ import annotations

from dispatch.settings.model import DispatcherSettings
from fleet.clock import Clock
from routing.deconflict import DeconflictionParams
from routing.intents import IntentParams

WALL_LEAD_S = 0.5  # wall seconds from a commit to the planned take-off, at least
WALL_JITTER_S = 0.1  # wall seconds a take-off may be early or late, at least


def clock_speed(clock: Clock) -> float:
    """How many times faster than real time the clock runs (1 for wall-clock time)."""
    return float(getattr(clock, "speed", 1.0))


def deconfliction_params(settings: DispatcherSettings, clock: Clock) -> DeconflictionParams:
    """The dispatcher's deconfliction parameters: the timing margin of the settings, at least
    :data:`WALL_JITTER_S` of wall time."""
    margin = max(settings.timing_margin_s, WALL_JITTER_S * clock_speed(clock))
    return DeconflictionParams(IntentParams(timing_margin_s=margin))


def take_off_window_s(settings: DispatcherSettings, clock: Clock) -> float:
    """Clock seconds after its planned departure a mission may still take off (``take_off_by``):
    half the timing margin, so that the flight stays inside its intent with room for the rest of
    the timing uncertainty."""
    return deconfliction_params(settings, clock).intents.timing_margin_s / 2


def start_lead_s(settings: DispatcherSettings, clock: Clock) -> float:
    """Clock seconds from a commit to the planned take-off: the setting, at least :data:`WALL_LEAD_S`
    of wall time."""
    return max(settings.start_lead_s, WALL_LEAD_S * clock_speed(clock))
