"""Conformance monitoring: a flying drone's telemetry is judged against its mission's intent.

Every telemetry sample of a drone flying a mission with an operational intent is checked against
that intent (:func:`routing.conformance.judge`, in the intent's frame, at the sample's own
``ts``). A sample outside the intent by more than the :class:`~routing.conformance.Tolerance`
(telemetry noise: 10 m laterally, 5 m vertically, 2 s in time, the time at least
:data:`~dispatch.service.timing.WALL_JITTER_S` of wall time at the clock's speed) makes the flight
**nonconforming**: a warning, the flight's ``nonconforming`` audit entry (where, when, which
dimension failed and by how much), ``nonconformance_total`` + 1, the intent's state
``Nonconforming`` in memory (the stored plan keeps the accepted intent), and a **contingent
intent** in the fleet picture (:func:`contingent_intent`) so that planning keeps clear of where the
drone really is. The flight conforms again with the first sample inside the intent itself (no
tolerance: a drone riding the tolerance's edge does not flap): a ``conforming`` entry with the
episode's duration and worst excesses, state ``Activated``, the contingent intent dropped.

Only a flight in the air on the route its intent was made for is judged (:func:`unjudged`): not
before ``TookOff`` (a drone waiting on the ground for its take-off time) nor after ``Landed``, not
while steering holds or re-routes it, nor once its intent is older than its route
(``ActiveMission.intent_reroutes`` behind ``reroutes``: a hold resumed on the old route leaves
the drone late by construction), nor while it is aborted or sent home. An episode open when its
flight stops being judged is closed without a ``conforming`` entry (the flight's own entries
say what happened); its contingent intent lapses at its end. A sample reporting ``holding``
(a lost-link hold) is skipped and leaves an episode open.

Where: on each sample, in a telemetry listener of the link (:meth:`Conformance.on_telemetry`),
not in the periodic tick: a tick every ``tick_s`` (30 s by default, 450 m of flight) would miss
an excursion between two ticks and report the others late. The listener costs a few dictionary
look-ups per sample of a drone not judged, and one point against one intent's volumes (a cached
array, ~20 µs) per sample of a judged one; the audit writes run in the background, in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
from uas_standards.astm.f3548.v21 import api as f3548  # type: ignore[import-untyped]  # no py.typed marker

from airspace.frame import LocalFrame
from dispatch.lifecycle import FlightState
from dispatch.service.fleet_picture import FleetPicture
from dispatch.service.state import ActiveMission, DispatcherStats, DroneView
from dispatch.service.timing import WALL_JITTER_S, clock_speed
from dispatch.store import Store
from fleet.clock import Clock
from fleet.messages import Telemetry
from routing.conformance import EXACT, Tolerance, Verdict, judge, volume_table
from routing.intents import CONTINGENT, OperationalIntent, SeparationMinima, Volume

log = logging.getLogger(__name__)

NONCONFORMING = f3548.OperationalIntentState.Nonconforming.value
ACTIVATED = f3548.OperationalIntentState.Activated.value
CONTINGENT_S = 300.0  # a contingent intent covers this long after the last sample outside
JUDGED_DRONE_STATES = frozenset({"en_route", "servicing", "landing"})

Spawn = Callable[[Awaitable[Any], str], object]


class Reaction(Protocol):
    """What the dispatcher does about a nonconforming flight (:mod:`dispatch.service.nonconformance`)."""

    def outside(self, m: ActiveMission, tele: Telemetry, ep: Episode) -> None:
        """A sample outside (the flight's contingent intent refreshed); must not await."""

    def ended(self, drone_id: str) -> None:
        """The drone's episode is over (back inside, or no longer judged)."""


Kind = Literal["unjudged", "conforming", "left", "outside", "back"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What one sample means for its flight: ``unjudged`` (``why``), ``conforming`` (and was),
    ``left`` (becomes nonconforming), ``outside`` (still nonconforming), ``back`` (conforms again)."""

    kind: Kind
    verdict: Verdict | None = None
    why: str = ""


@dataclass(slots=True)
class Episode:
    """One flight's time outside its intent (from its first sample outside)."""

    mission_id: str
    since: float  # ts of the first sample outside (POSIX seconds)
    lateral_m: float = 0.0  # worst excesses so far
    vertical_m: float = 0.0
    seconds: float = 0.0
    off_path: bool = False  # a sample was off its route (laterally or vertically), not only late or early

    def worsen(self, v: Verdict) -> None:
        """Keep the worst excess of each dimension."""
        self.off_path |= v.dimension != "time"
        self.lateral_m = max(self.lateral_m, v.lateral_m)
        self.vertical_m = max(self.vertical_m, v.vertical_m)
        self.seconds = max(self.seconds, v.seconds)


def tolerance_for(clock: Clock) -> Tolerance:
    """The default tolerance; in time at least the wall jitter at the clock's speed (the timing
    margin's rule: at 150x a 0.1 s stall of the machine is 15 clock seconds)."""
    base = Tolerance()
    return dataclasses.replace(base, time_s=max(base.time_s, WALL_JITTER_S * clock_speed(clock)))


def unjudged(m: ActiveMission | None, view: DroneView | None, tele: Telemetry) -> str | None:
    """Why the sample ``tele`` of a drone flying ``m`` is not judged (None: it is)."""
    if m is None or view is None:
        return "no_mission"
    if m.spec.intent is None or not m.spec.intent.volumes:
        return "no_intent"
    if m.state != FlightState.FLYING or tele.mission_id != m.mission_id:
        return "not_flying"
    if m.aborting or view.returning:
        return "aborting"
    if m.rerouting:
        return "steering"
    if m.intent_reroutes != m.reroutes:
        return "stale_intent"
    if tele.state not in JUDGED_DRONE_STATES:
        return "drone_state"
    return None


def decide(
    m: ActiveMission | None,
    view: DroneView | None,
    tele: Telemetry,
    nonconforming: bool,
    tolerance: Tolerance,
    table: np.ndarray | None = None,
) -> Decision:
    """The decision on one sample of a drone flying ``m`` (``nonconforming``: its flight is now).
    ``table``: ``volume_table(m.spec.intent)`` if the caller keeps it."""
    why = unjudged(m, view, tele)
    if why is not None:
        return Decision("unjudged", why=why)
    assert m is not None and m.spec.intent is not None
    intent = m.spec.intent
    x, y = LocalFrame.centred_on(*intent.frame_centre).to_xy(tele.lon, tele.lat)
    point = (tele.ts.timestamp(), float(x), float(y), float(tele.alt_m))
    tab = volume_table(intent) if table is None else table
    v = judge(tab, *point, tolerance)
    if not v.inside:
        return Decision("outside" if nonconforming else "left", v)
    if not nonconforming:
        return Decision("conforming", v)
    exact = judge(tab, *point, EXACT)
    return Decision("back", v) if exact.inside else Decision("outside", exact)


def contingent_intent(
    intent: OperationalIntent, lon: float, lat: float, alt_m: float, t: float, minima: SeparationMinima
) -> OperationalIntent:
    """A conservative intent around a nonconforming drone last seen at (lon, lat, alt_m) at ``t``:
    a column of radius twice the horizontal minimum, from the ground to the vertical minimum above
    its altitude, for :data:`CONTINGENT_S`. Refreshed at every sample outside, it follows the drone;
    a column wide enough for where the drone could fly in a planning horizon would close kilometres
    of airspace to every new trip for one drone's excursion."""
    frame = LocalFrame.centred_on(*intent.frame_centre)
    x, y = (float(c) for c in frame.to_xy(lon, lat))
    top = max(alt_m, 0.0) + minima.vertical_m
    vol = Volume(x, y, x, y, 2 * minima.horizontal_m, 0.0, top, t, t + CONTINGENT_S)
    return OperationalIntent(intent.drone_id, 0, intent.frame_centre, (vol,), CONTINGENT)


def _with_state(m: ActiveMission, state: str) -> None:
    assert m.spec.intent is not None
    if m.spec.intent.state != state:
        m.spec = dataclasses.replace(m.spec, intent=dataclasses.replace(m.spec.intent, state=state))


class Conformance:
    """Judges telemetry against intents (:meth:`on_telemetry`, a link telemetry listener)."""

    def __init__(
        self,
        store: Store,
        picture: FleetPicture,
        stats: DispatcherStats,
        spawn: Spawn,
        *,
        actor: str,
        minima: SeparationMinima,
        tolerance: Tolerance,
        notify: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.picture = picture
        self.stats = stats
        self.spawn = spawn
        self.actor = actor
        self.minima = minima
        self.tolerance = tolerance
        self.notify = notify
        self.episodes: dict[str, Episode] = {}  # by drone id: flights nonconforming now
        self.total = 0  # episodes begun (nonconformance_total)
        self._tables: dict[str, tuple[tuple[Volume, ...], np.ndarray]] = {}  # by mission id
        self._writes = asyncio.Lock()  # audit entries in the order of their samples
        self.reaction: Reaction | None = None  # set by the dispatcher

    def nonconforming(self) -> int:
        """Flights nonconforming now (episodes of missions no longer in progress are closed)."""
        for drone_id, ep in list(self.episodes.items()):
            if ep.mission_id not in self.picture.missions:
                self._close(drone_id, ep, "mission over")
        return len(self.episodes)

    def on_telemetry(self, tele: Telemetry, received_at: datetime, shared: bool) -> None:
        """A :data:`~fleet.link.TelemetryListener`: judge the sample (never raises)."""
        try:
            self._judge(tele)
        except Exception:
            self.stats.errors["conformance"] += 1
            log.exception("conformance check of %s failed", tele.drone_id)

    def _table(self, m: ActiveMission) -> np.ndarray:
        assert m.spec.intent is not None
        vols = m.spec.intent.volumes
        held = self._tables.get(m.mission_id)
        if held is None or held[0] is not vols:
            if len(self._tables) > 4 * len(self.picture.missions) + 16:
                self._tables = {k: v for k, v in self._tables.items() if k in self.picture.missions}
            held = self._tables[m.mission_id] = (vols, volume_table(m.spec.intent))
        return held[1]

    def _judge(self, tele: Telemetry) -> None:
        tele = self.picture.true_height(tele)
        view = self.picture.drones.get(tele.drone_id)
        if view is None:
            return
        m = self.picture.missions.get(view.mission) if view.mission else None
        ep = self.episodes.get(tele.drone_id)
        if ep is not None and (m is None or ep.mission_id != m.mission_id):
            self._close(tele.drone_id, ep, "mission over")
            ep = None
        if m is None or m.spec.intent is None:
            return
        why = unjudged(m, view, tele)
        if why is not None:
            if ep is not None and why != "drone_state":
                self._close(tele.drone_id, ep, why)
            return
        d = decide(m, view, tele, ep is not None, self.tolerance, self._table(m))
        if d.kind == "conforming":
            _with_state(m, ACTIVATED)
        elif d.kind == "left":
            assert d.verdict is not None
            self._left(m, tele, d.verdict)
        elif d.kind == "outside":
            assert d.verdict is not None and ep is not None
            ep.worsen(d.verdict)
            self._contingent(m, tele)
            if self.reaction is not None:
                self.reaction.outside(m, tele, ep)
        elif d.kind == "back":
            assert ep is not None
            self._back(m, tele, ep)

    def _contingent(self, m: ActiveMission, tele: Telemetry) -> None:
        assert m.spec.intent is not None
        self.picture.contingent_intents[m.drone_id] = contingent_intent(
            m.spec.intent, tele.lon, tele.lat, tele.alt_m, tele.ts.timestamp(), self.minima
        )

    def _left(self, m: ActiveMission, tele: Telemetry, v: Verdict) -> None:
        ep = Episode(m.mission_id, tele.ts.timestamp())
        ep.worsen(v)
        self.episodes[m.drone_id] = ep
        self.total += 1
        _with_state(m, NONCONFORMING)
        self._contingent(m, tele)
        log.warning(
            "NONCONFORMING: %s (%s) outside its intent (%s): %.0f m laterally, %.0f m vertically, %.0f s%s",
            m.mission_id,
            m.drone_id,
            v.dimension,
            v.lateral_m,
            v.vertical_m,
            v.seconds,
            " early" if v.early else "",
        )
        payload = {
            "drone_id": m.drone_id,
            "at": tele.ts.isoformat(),
            "lon": tele.lon,
            "lat": tele.lat,
            "alt_m": tele.alt_m,
            "dimension": v.dimension,
            "lateral_m": round(v.lateral_m, 1),
            "vertical_m": round(v.vertical_m, 1),
            "seconds": round(v.seconds, 1),
            "early": v.early,
            "tolerance": dataclasses.asdict(self.tolerance),
        }
        self.spawn(self._note(m.mission_id, "nonconforming", payload), f"conformance:{m.mission_id}")
        if self.reaction is not None:
            self.reaction.outside(m, tele, ep)

    def _back(self, m: ActiveMission, tele: Telemetry, ep: Episode) -> None:
        del self.episodes[m.drone_id]
        self.picture.contingent_intents.pop(m.drone_id, None)
        _with_state(m, ACTIVATED)
        duration = tele.ts.timestamp() - ep.since
        log.info("%s (%s) conforms to its intent again after %.0f s", m.mission_id, m.drone_id, duration)
        payload = {
            "drone_id": m.drone_id,
            "at": tele.ts.isoformat(),
            "duration_s": round(duration, 1),
            "lon": tele.lon,
            "lat": tele.lat,
            "alt_m": tele.alt_m,
            "max_lateral_m": round(ep.lateral_m, 1),
            "max_vertical_m": round(ep.vertical_m, 1),
            "max_seconds": round(ep.seconds, 1),
        }
        self.spawn(self._note(m.mission_id, "conforming", payload), f"conformance:{m.mission_id}")
        if self.reaction is not None:
            self.reaction.ended(m.drone_id)

    def _close(self, drone_id: str, ep: Episode, why: str) -> None:
        """Stop following an episode whose flight is no longer judged (no audit entry)."""
        del self.episodes[drone_id]
        if why == "mission over":
            self.picture.contingent_intents.pop(drone_id, None)
        log.info("%s (%s): no longer judged while nonconforming (%s)", ep.mission_id, drone_id, why)
        if self.reaction is not None:
            self.reaction.ended(drone_id)

    async def _note(self, mission_id: str, action: str, payload: dict[str, Any]) -> None:
        async with self._writes:
            await self.store.note("flight", mission_id, action, actor=self.actor, payload=payload)
        if self.notify is not None:
            await self.notify()
