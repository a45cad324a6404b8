"""What the dispatcher holds in memory about missions in progress and drones (rebuilt on restart)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dispatch.service.loop_lag import LoopLag
from dispatch.service.missions import MissionSpec, StopSpec, Waypoint


@dataclass(slots=True)
class ActiveMission:
    """A mission recorded in the store and not yet completed or aborted."""

    spec: MissionSpec
    state: str  # the flight state (dispatch.lifecycle.FlightState)
    waypoints: list[Waypoint]  # as the drone flies them now (after re-routes)
    stops: list[StopSpec]
    reached_at: int = 0  # waypoint index of the last stop reached
    picked: set[str] = field(default_factory=set)
    delivered: set[str] = field(default_factory=set)
    refused_pickup: set[str] = field(default_factory=set)
    refused_handover: set[str] = field(default_factory=set)
    eta_end: datetime | None = None
    reroutes: int = 0
    rerouting: bool = False  # a re-route is under way or queued (zone scans leave it alone)
    # ``reroutes`` when ``spec.intent`` was made: an intent older than the route (a hold resumed on
    # the old route, late) is not judged by conformance (dispatch.service.conformance).
    intent_reroutes: int = 0
    cancelled: set[str] = field(default_factory=set)  # taken off this mission by a cancel
    aborting: str | None = None  # why it is being aborted on its drone (see dispatch.service.abort)
    approving: bool = False  # waiting for the authority's approval (dispatch.service.approvals)
    start_sent: bool = False  # its start went out (the drone may be waiting for its take-off time)
    # The drone's TookOff for it was heard (a landing without a mission may end it only then);
    # a flight rebuilt in the air after a restart counts as flown.
    took_off: bool = False
    give_way: bool = False  # a drone in the air could not keep clear of it: check before its start
    abort_cmds: set[str] = field(default_factory=set)  # ids of its abort_mission commands
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # state transitions
    steer: asyncio.Lock = field(default_factory=asyncio.Lock)  # one hold/re-route/resume at a time
    uploaded: asyncio.Event = field(default_factory=asyncio.Event)  # its upload answered (or given up)

    @property
    def mission_id(self) -> str:
        """The mission id."""
        return self.spec.mission_id

    @property
    def drone_id(self) -> str:
        """The drone flying it."""
        return self.spec.drone_id

    def adopt(self, from_index: int, waypoints: Sequence[Waypoint], stops: Sequence[StopSpec]) -> None:
        """Make a re-route the drone acknowledged the route: ``waypoints`` replace those from
        ``from_index`` on, ``stops`` the stops at or after it (the ones before are kept)."""
        kept = [s for s in self.stops if s.at < from_index]
        self.waypoints = self.waypoints[:from_index] + list(waypoints)
        self.stops = kept + list(stops)

    @classmethod
    def of(cls, spec: MissionSpec, state: str) -> ActiveMission:
        """A mission as planned (no re-route yet)."""
        return cls(spec, state, list(spec.waypoints), list(spec.stops), eta_end=spec.arrive)


@dataclass(slots=True)
class DroneView:
    """The dispatcher's picture of one drone."""

    drone_id: str
    port: str | None  # the port it stands at (None: in the air or landed elsewhere)
    available_at: datetime  # end of its battery swap
    mission: str | None = None  # the active mission it flies
    usable: bool = True  # False after a fault or when it went silent (see drone_service)
    returning: bool = False  # told to return (low battery, no safe path)
    onboard: set[str] = field(default_factory=set)  # documents on board (custody)
    why_unusable: str = ""
    written_off_at: datetime | None = None  # when the dispatcher set usable to False
    out_of_service: str | None = None  # an operator took it out of service, for this reason


@dataclass(slots=True)
class DispatcherStats:
    """Counters and measurements of one dispatcher (monotonic)."""

    plan_rounds: int = 0
    plan_wall_s: list[float] = field(default_factory=list)
    round_requests: list[int] = field(default_factory=list)  # requests per round
    missions: int = 0
    reroutes: int = 0  # re-routes around zones (adopted by the drone)
    cancel_steers: int = 0  # re-routes taking a cancelled request off a mission
    reroute_reaction_wall_s: list[float] = field(default_factory=list)
    reroute_reaction_sim_s: list[float] = field(default_factory=list)
    breaches: int = 0
    separation_losses: int = 0  # reported by drones (the simulator's separation monitor)
    terrain_violations: int = 0  # reported by drones (the simulator's terrain monitor)
    weather_holds: int = 0  # trips kept on the ground by the weather (or a grounding), per round
    weather_returns: int = 0  # drones in the air turned back by the weather ahead
    refused_events: Counter[str] = field(default_factory=Counter)  # by event (event_gate)
    errors: Counter[str] = field(default_factory=Counter)
    first_command_wall: dict[str, float] = field(default_factory=dict)  # request -> time.time()
    loop_lag: LoopLag = field(default_factory=LoopLag)  # how late the event loop runs (loop_lag.py)
