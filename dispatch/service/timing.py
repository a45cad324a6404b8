"""How exactly drones keep to their planned times: the intents' timing margin, the start lead,
and the hover a drone held in the air keeps in hand for the reaction that sends it on.

Wall-clock delays (the event loop, the broker, a busy machine) last ``speed`` times longer in the
time of a clock running ``speed`` times faster than real time, so all three grow with the clock's
speed.
"""

from __future__ import annotations

from collections import deque

from dispatch.settings.model import DispatcherSettings
from fleet.clock import Clock
from routing.deconflict import DeconflictionParams
from routing.intents import IntentParams

WALL_LEAD_S = 0.5  # wall seconds from a commit to the planned take-off, at least (more when starts are slow)
WALL_JITTER_S = 0.1  # wall seconds a take-off may be early or late, at least
# Wall seconds the dispatcher may take to react to a drone held in the air (notice, work out an
# intent, store it, command it, hear the ack) on a loaded machine, at least.
WALL_REACTION_S = 0.5
HOVER_LEFT_S = 120.0  # clock seconds of hover a drone held in the air keeps in hand, beyond that


def clock_speed(clock: Clock) -> float:
    """How many times faster than real time the clock runs (1 for wall-clock time)."""
    return float(getattr(clock, "speed", 1.0))


def hover_kept_s(clock: Clock) -> float:
    """Clock seconds of hover a drone held in the air keeps in hand above what the rest of its
    route needs: :data:`HOVER_LEFT_S`, and :data:`WALL_REACTION_S` of wall time for the reaction
    that sends it on (at 200x that reaction is 100 clock seconds of hover)."""
    return HOVER_LEFT_S + WALL_REACTION_S * clock_speed(clock)


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


class StartLatency:
    """How long starts take from the moment the dispatcher decides to send one to the moment the
    drone applies it (the ack's timestamp), over the last :data:`SAMPLES` starts, in clock seconds.

    The start lead follows it (:meth:`lead`: twice the slowest recent one), so that a store or a
    broker slowed down by load makes departures later instead of making drones refuse their starts
    as too late for their windows. Only starts answered on their first sending count (one a drone
    answers after a link outage says nothing of the dispatcher's speed), and a drone clock far off
    cannot stretch it beyond :data:`CAP_S`."""

    SAMPLES = 20
    CAP_S = 120.0

    def __init__(self) -> None:
        self._seen: deque[float] = deque(maxlen=self.SAMPLES)

    def record(self, seconds: float) -> None:
        """One start's latency (clock seconds; clamped to [0, :data:`CAP_S`])."""
        self._seen.append(min(max(seconds, 0.0), self.CAP_S))

    def lead(self) -> float:
        """The start lead the recent latencies call for (0 before any start)."""
        return 2.0 * max(self._seen, default=0.0)
