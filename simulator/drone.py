"""One simulated drone: its state, what it reports and how it answers commands, with no I/O.

How it moves through simulated time (cruise, pad service, landing, battery drain: the timing and
energy model the planner shares) is :mod:`simulator.flight`.

**Ground and altitude frames.** Without a terrain model the ground is flat at altitude 0 and
altitudes are metres above it (``relative``), as they always were. With one (``terrain``), the
drone's altitude is above mean sea level: it stands on, takes off from and lands at the ground
height of the model. A mission's waypoints in frame ``amsl`` are flown as given; ``relative``
ones are raised by the ground height where the drone takes off (MAVLink's relative-to-home);
``terrain`` ones are true heights the drone follows over the ground from stop to stop, as the
planner computes them (:mod:`simulator.terrain_follow`): its route then has more waypoints than
the mission, and the mission keeps the index of each of its own (stops index the route). An
``amsl`` or ``terrain`` mission or return without a terrain model is refused.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import msgspec

from airspace.frame import LocalFrame
from airspace.terrain import AreaTerrain
from fleet.description import Drone, DroneModel, Port
from fleet.messages import (
    RESUME_WINDOW_PASSED,
    TAKE_OFF_WINDOW_PASSED,
    AbortMission,
    AltitudeFrame,
    AnyCommand,
    AnyEvent,
    DroneState,
    Fault,
    HandoverStop,
    Hold,
    LandNow,
    Reroute,
    Resume,
    ReturnToPort,
    Start,
    Stop,
    Telemetry,
    TookOff,
    UploadMission,
    Waypoint,
)
from simulator import flight
from simulator.feasibility import plan_problem
from simulator.flight import FLYING, XYZ, StopService
from simulator.terrain_follow import follow_terrain

PORT_RADIUS_M = 30.0  # a landing this close to a port is a landing at that port
NEEDS_TERRAIN = "altitude frame {} needs a terrain model (simulate --terrain)"
_REMEMBERED_COMMANDS = 1000


@dataclass(slots=True)
class Faults:
    """Injected faults of one drone (see :mod:`simulator.faults` for the public API)."""

    drain_factor: float = 1.0
    reject_next: str | None = None
    gps_noise_m: float = 0.0


@dataclass(slots=True)
class Mission:
    """A mission as the drone holds it: its route (x, y in the local frame, altitude as flown) and
    its stops by route index; ``plan`` the waypoints as sent (in ``altitude_frame``) and
    ``vertex`` the route index of each (the same index but in the ``terrain`` frame)."""

    mission_id: str
    route: list[XYZ]
    stops: list[Stop]
    lost_link: Literal["continue", "hold", "return"]
    done_stops: int = 0  # stops completed (in order)
    lost_link_after_s: float | None = None  # None: the agent's default
    altitude_frame: AltitudeFrame = "relative"  # of its waypoints, re-routes' ones too
    alt_offset_m: float = 0.0  # added to its waypoints' altitudes (relative: the take-off ground)
    plan: list[Waypoint] = field(default_factory=list)
    vertex: list[int] = field(default_factory=list)


@dataclass(slots=True)
class SimDrone:
    """The state of one simulated drone. Drive it with :meth:`apply` and :meth:`step`."""

    drone: Drone
    model: DroneModel
    frame: LocalFrame
    ports: tuple[Port, ...]
    wind_xy: tuple[float, float] = (0.0, 0.0)
    rng: random.Random = field(default_factory=random.Random)
    faults: Faults = field(default_factory=Faults)
    terrain: AreaTerrain | None = None  # None: flat ground at altitude 0
    x: float = 0.0
    y: float = 0.0
    alt: float = 0.0  # above the flat ground; above mean sea level over a terrain model
    home_alt: float = 0.0  # the ground where the drone last took off (relative altitudes' zero)
    climbing_out: bool = False  # after a take-off, until it reaches its waypoints' altitude
    take_off_alt: float = 0.0  # the first waypoint's altitude at the last take-off: a free climb to it
    energy_wh: float = 0.0
    state: DroneState = "idle"
    heading_deg: float = 0.0
    ground_speed: float = 0.0
    payload: dict[str, float] = field(default_factory=dict)  # request id -> kg on board
    mission: Mission | None = None
    route: list[XYZ] = field(default_factory=list)  # what the drone is flying now
    next_wp: int = 0
    returning_to: str | None = None
    service: StopService | None = None  # the pad stop being serviced
    held_state: DroneState | None = None
    swap_until: datetime | None = None  # battery swap in progress at a port until then
    start_pending: bool = False  # start accepted during a battery swap or before its take-off time
    start_at: datetime | None = None  # the accepted start's take-off time (None: when the swap ends)
    resume_at: datetime | None = None  # an accepted resume's time, while it hovers until then
    low_battery_sent: bool = False
    presented_codes: dict[tuple[str, str], str] = field(default_factory=dict)  # (action, request) -> code
    flown: list[XYZ] = field(default_factory=list)  # points passed since take-off (lost-link return)
    trace: list[XYZ] = field(default_factory=list)  # positions since the last drain_trace()
    trace_cruising: list[bool] = field(default_factory=list)  # per trace point: the piece to it cruised
    outbox: list[AnyEvent] = field(default_factory=list)
    energy_used_wh: float = 0.0
    distance_flown_m: float = 0.0
    sim_time: datetime | None = None  # simulated up to this time (advance_to)
    _answers: OrderedDict[str, tuple[bool, str | None]] = field(default_factory=OrderedDict)
    _clock: datetime | None = None  # time of the sub-step being simulated (for event stamps)

    @classmethod
    def at_home(
        cls, drone: Drone, model: DroneModel, home: Port, frame: LocalFrame, **kw: object
    ) -> SimDrone:
        """A drone on the ground at its home port, battery as the fleet description says."""
        x, y = frame.to_xy(home.lon, home.lat)
        sim = cls(drone=drone, model=model, frame=frame, **kw)  # type: ignore[arg-type]
        sim.x, sim.y = float(x), float(y)
        sim.alt = sim.home_alt = sim.ground_at(sim.x, sim.y)
        sim.energy_wh = model.battery_wh if drone.energy_wh is None else drone.energy_wh
        return sim

    # --- observation ---------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The drone id."""
        return self.drone.id

    @property
    def payload_kg(self) -> float:
        """Mass on board."""
        return sum(self.payload.values())

    @property
    def position(self) -> XYZ:
        """True position (x, y in the frame, altitude in metres)."""
        return (self.x, self.y, self.alt)

    @property
    def altitude_frame(self) -> AltitudeFrame:
        """What :attr:`alt` is measured from: ``amsl`` over a terrain model, else ``relative``."""
        return "relative" if self.terrain is None else "amsl"

    def ground_at(self, x: float, y: float) -> float:
        """The ground's altitude at (x, y) of the frame: 0 without a terrain model."""
        if self.terrain is None:
            return 0.0
        lon, lat = self.frame.to_lonlat(x, y)
        return self.terrain.terrain.height_at(float(lon), float(lat))

    @property
    def cruising(self) -> bool:
        """Flying the route at its altitudes (or hovering there): not taking off, landing or at a pad."""
        return self.state in ("en_route", "returning", "holding") and not self.climbing_out

    def lonlat(self) -> tuple[float, float]:
        """True position in lon/lat."""
        lon, lat = self.frame.to_lonlat(self.x, self.y)
        return float(lon), float(lat)

    def telemetry(self, now: datetime) -> Telemetry:
        """A telemetry sample (position blurred by injected GPS noise, if any)."""
        x, y = self.x, self.y
        if self.faults.gps_noise_m > 0:
            x += self.rng.gauss(0.0, self.faults.gps_noise_m)
            y += self.rng.gauss(0.0, self.faults.gps_noise_m)
        lon, lat = self.frame.to_lonlat(x, y)
        return Telemetry(
            drone_id=self.id,
            ts=now,
            lon=float(lon),
            lat=float(lat),
            alt_m=round(self.alt, 2),
            ground_speed_mps=round(self.ground_speed, 2),
            heading_deg=round(self.heading_deg, 1) % 360.0,
            battery_pct=round(min(100.0, 100.0 * self.energy_wh / self.model.battery_wh), 2),
            energy_wh=round(self.energy_wh, 3),
            state=self.state,
            mission_id=self.mission.mission_id if self.mission else None,
            payload_kg=round(self.payload_kg, 3),
            altitude_frame=self.altitude_frame,
        )

    def drain_trace(self) -> tuple[list[XYZ], list[bool]]:
        """Positions passed since the last call (ends with the current position), and for each
        whether the drone was cruising on its way there (see :attr:`cruising`)."""
        out, flags = self.trace, self.trace_cruising
        self.trace, self.trace_cruising = [], []
        return out, flags

    def mark(self, cruising: bool) -> None:
        """Add the current position to the trace; ``cruising``: the drone cruised on its way here."""
        self.trace.append(self.position)
        self.trace_cruising.append(cruising)

    def drain_events(self) -> list[AnyEvent]:
        """Events that happened since the last call, oldest first."""
        out, self.outbox = self.outbox, []
        return out

    # --- commands ------------------------------------------------------------------------------

    def apply(self, cmd: AnyCommand, now: datetime) -> tuple[bool, str | None]:
        """Apply a command once: ``(accepted, reason)``. A repeated ``cmd_id`` returns the first answer."""
        known = self._answers.get(cmd.cmd_id)
        if known is not None:
            return known
        answer = self._decide(cmd, now)
        self._answers[cmd.cmd_id] = answer
        while len(self._answers) > _REMEMBERED_COMMANDS:
            self._answers.popitem(last=False)
        return answer

    def _decide(self, cmd: AnyCommand, now: datetime) -> tuple[bool, str | None]:
        if now > cmd.expires_at:
            return False, f"expired at {cmd.expires_at.isoformat()}"
        if self.faults.reject_next is not None:
            reason, self.faults.reject_next = self.faults.reject_next, None
            return False, reason
        if isinstance(cmd, AbortMission):  # in every state, after a fault too
            self._abort(cmd.mission_id)
            return True, None
        if self.state in ("fault", "emergency"):
            return False, f"drone is in state {self.state} after a fault"
        self._clock = now
        if isinstance(cmd, UploadMission):
            return self._upload(cmd, now)
        if isinstance(cmd, Start):
            return self._start(cmd, now)
        if isinstance(cmd, Hold):
            if self.state == "holding" and self.resume_at is not None:
                self.resume_at = None  # a resume waiting for its time is called off: it holds on
                return True, None
            if self.state not in ("en_route", "returning", "servicing"):
                return False, f"cannot hold in state {self.state}"
            self.held_state, self.state, self.ground_speed = self.state, "holding", 0.0
            self.resume_at = None
            return True, None
        if isinstance(cmd, Resume):
            return self._resume(cmd, now)
        if isinstance(cmd, Reroute):
            return self._reroute(cmd)
        if isinstance(cmd, ReturnToPort):
            if cmd.altitude_frame != "relative" and self.terrain is None:
                return False, NEEDS_TERRAIN.format(cmd.altitude_frame)
            offset = self._relative_zero() if cmd.altitude_frame == "relative" else 0.0
            route, _, _ = self._route_for(cmd.altitude_frame, cmd.waypoints, [], offset)
            return self._return(cmd.port_id, route)
        if isinstance(cmd, LandNow):
            if self.state in FLYING:
                self.state, self.service, self.held_state = "landing", None, None
            return True, None
        return False, f"unsupported command {type(cmd).__name__}"

    def _xyz(self, w: Waypoint, offset: float) -> XYZ:
        x, y = self.frame.to_xy(w[0], w[1])
        return (float(x), float(y), float(w[2]) + offset)

    def _route_for(
        self, frame: AltitudeFrame, waypoints: list[Waypoint], stops: list[Stop], offset: float
    ) -> tuple[list[XYZ], list[int], list[Stop]]:
        """The route flown for ``waypoints`` in ``frame`` (``offset``: added to relative ones), the
        route index of each waypoint, and ``stops`` re-indexed to the route."""
        if frame != "terrain":
            return [self._xyz(w, offset) for w in waypoints], list(range(len(waypoints))), stops
        assert self.terrain is not None
        ats = [s.at for s in stops]
        route, vertex = follow_terrain(self.terrain, self.model, self.frame, waypoints, ats)
        return route, vertex, [msgspec.structs.replace(s, at=vertex[s.at]) for s in stops]

    def _relative_zero(self) -> float:
        """The altitude ``relative`` waypoints are measured from: the ground where the drone takes
        off (on the ground: under it; in the air: where it took off); 0 without a terrain model."""
        if self.terrain is None:
            return 0.0
        return self.home_alt if self.state in FLYING else self.ground_at(self.x, self.y)

    def _available_wh(self, now: datetime) -> float:
        energy = self.model.battery_wh if self.swap_until is not None else self.energy_wh
        return energy - self.model.battery_wh * self.model.reserve_fraction

    def _check_plan(
        self, start: XYZ, route: list[XYZ], stops: list[Stop], first: int, now: datetime
    ) -> str | None:
        available = self._available_wh(now) / max(self.faults.drain_factor, 1.0)
        climbs = self.terrain is not None
        return plan_problem(self.model, start, route, stops, first, self.payload, available, climbs)

    def _upload(self, cmd: UploadMission, now: datetime) -> tuple[bool, str | None]:
        if self.state not in ("idle", "ready"):
            return False, f"missions are uploaded on the ground (state {self.state}); use reroute"
        if cmd.altitude_frame != "relative" and self.terrain is None:
            return False, NEEDS_TERRAIN.format(cmd.altitude_frame)
        offset = self._relative_zero() if cmd.altitude_frame == "relative" else 0.0
        route, vertex, stops = self._route_for(cmd.altitude_frame, cmd.waypoints, list(cmd.stops), offset)
        problem = self._check_plan(self.position, route, stops, 0, now)
        if problem:
            return False, problem
        self.mission = Mission(
            cmd.mission_id,
            route,
            stops,
            cmd.lost_link,
            lost_link_after_s=cmd.lost_link_after_s,
            altitude_frame=cmd.altitude_frame,
            alt_offset_m=offset,
            plan=list(cmd.waypoints),
            vertex=vertex,
        )
        self.state = "ready"
        self.start_pending = False
        return True, None

    def _start(self, cmd: Start, now: datetime) -> tuple[bool, str | None]:
        if self.mission is None or self.mission.mission_id != cmd.mission_id:
            return False, f"unknown mission {cmd.mission_id!r}"
        if self.state != "ready":
            return False, f"cannot start in state {self.state}"
        at = cmd.take_off_at
        leaving = max(t for t in (now, self.swap_until, at) if t is not None)
        if cmd.take_off_by is not None and leaving > cmd.take_off_by:
            # Its operational intent holds the airspace until then: flying later would fly outside it.
            return False, (
                f"{TAKE_OFF_WINDOW_PASSED}: the earliest take-off {leaving.isoformat()} is after "
                f"take_off_by {cmd.take_off_by.isoformat()}"
            )
        if (self.swap_until is not None and now < self.swap_until) or (at is not None and now < at):
            self.start_pending = True  # take off when the battery swap is done, at the time asked
            self.start_at = at
            return True, None
        self._take_off(self.mission.route, now)
        return True, None

    def _resume(self, cmd: Resume, now: datetime) -> tuple[bool, str | None]:
        if self.state != "holding" or self.held_state is None:
            return False, f"nothing to resume in state {self.state}"
        if cmd.resume_by is not None and now > cmd.resume_by:
            # Its new operational intent holds the airspace from then: going on later would fly
            # outside it. It holds on.
            return False, (
                f"{RESUME_WINDOW_PASSED}: received at {now.isoformat()}, after resume_by "
                f"{cmd.resume_by.isoformat()}"
            )
        if cmd.resume_at is not None and now < cmd.resume_at:
            self.resume_at = cmd.resume_at  # hover until then (flight.step goes on at that moment)
            return True, None
        self.state, self.held_state, self.resume_at = self.held_state, None, None
        return True, None

    def _take_off(self, route: list[XYZ], now: datetime) -> None:
        self._finish_swap()
        self.route, self.next_wp, self.returning_to = route, 0, None
        self.state = "en_route"
        self.start_pending, self.start_at = False, None
        self._leave_ground(route)
        self._emit_event(TookOff, now)

    def _leave_ground(self, route: list[XYZ]) -> None:
        """Take off: the climb-out to the route's first altitude begins here."""
        self.home_alt, self.climbing_out = self.alt, True
        self.take_off_alt = route[0][2] if route else self.alt
        self.flown = [self.position]

    def _reroute(self, cmd: Reroute) -> tuple[bool, str | None]:
        m = self.mission
        if m is None or m.mission_id != cmd.mission_id:
            return False, f"unknown mission {cmd.mission_id!r}"
        if self.state not in ("en_route", "holding", "ready"):
            return False, f"cannot reroute in state {self.state}"
        f, n = cmd.from_index, len(m.plan)
        if f > n:
            return False, f"from_index {f} is beyond the mission's {n} waypoints"
        at = m.vertex[f] if f < n else len(m.route)  # the route index of waypoint f
        if self.state != "ready" and at < self.next_wp:
            flying_to = next((i for i, v in enumerate(m.vertex) if v >= self.next_wp), n)
            return False, f"waypoint {f} is already passed (flying to {flying_to})"
        kept = [s for s in m.stops if s.at < at]
        # A stop being serviced whose pick-up or hand-over already happened is done as well (held
        # while climbing back from a pad): its document is aboard, or no longer.
        done = m.done_stops + (1 if self.service is not None and self.service.acted else 0)
        if len(kept) < done:
            return False, "the reroute would undo completed stops"
        plan = m.plan[:f] + list(cmd.waypoints)
        if m.altitude_frame != "terrain" or f == 0:
            route, vertex, new = self._route_for(m.altitude_frame, plan, list(cmd.stops), m.alt_offset_m)
            route = m.route[:f] + route[f:]  # identical but in the terrain frame, where f is 0
            next_wp = self.next_wp
        else:
            # Over terrain the stretch from the last waypoint kept on is followed anew (from there
            # the old profile led to the replaced waypoints).
            assert self.terrain is not None  # a terrain mission was accepted
            base = m.vertex[f - 1]
            ats = [s.at - (f - 1) for s in cmd.stops if s.at >= f - 1]
            tail, tail_vertex = follow_terrain(self.terrain, self.model, self.frame, plan[f - 1 :], ats)
            route = m.route[: base + 1] + tail[1:]
            vertex = m.vertex[:f] + [base + v for v in tail_vertex[1:]]
            new = [msgspec.structs.replace(s, at=vertex[s.at]) for s in cmd.stops]
            next_wp = min(self.next_wp, base + 1)
        stops = kept + new
        first = next_wp if self.state != "ready" else 0
        pending = [s for s in stops[done:] if s.at >= first]
        assert self._clock is not None
        problem = self._check_plan(self.position, route[first:], pending, first, self._clock)
        if problem:
            return False, problem
        m.route, m.stops, m.plan, m.vertex = route, stops, plan, vertex
        if self.state != "ready":
            self.route, self.next_wp = route, next_wp
        return True, None

    def _return(self, port_id: str, route: list[XYZ]) -> tuple[bool, str | None]:
        if not any(p.id == port_id for p in self.ports):
            return False, f"unknown port {port_id!r}"
        if self.state == "servicing":
            return False, "cannot return while servicing a stop; hold or wait for the stop to end"
        if self.state in ("idle", "ready"):
            self._finish_swap()
            self._emit_event(TookOff, self._clock)
            self._leave_ground(route)
        self.route, self.next_wp, self.returning_to = route, 0, port_id
        self.state, self.held_state, self.service = "returning", None, None
        return True, None

    def _abort(self, mission_id: str) -> None:
        """Drop mission ``mission_id`` if it is this drone's (else nothing changes). On the ground
        it is cleared: the drone never takes off with it. In the air no further stop is made and
        the drone hovers where it is, with whatever it carries, until a return or land command;
        one returning, landing or in an emergency goes on."""
        if self.mission is None or self.mission.mission_id != mission_id:
            return
        self.mission, self.start_pending = None, False
        if self.state == "ready":
            self.state = "idle"
        elif self.state in ("en_route", "servicing", "holding"):
            self.state, self.held_state, self.service, self.ground_speed = "holding", None, None, 0.0

    # --- faults and link -----------------------------------------------------------------------

    def motor_fault(self, now: datetime) -> None:
        """A motor fails: emergency landing where the drone is."""
        self._clock = now
        self._emit_event(Fault, now, kind="motor", detail="motor failure: emergency landing")
        if self.state in FLYING:
            self.state, self.service, self.held_state = "emergency", None, None
        else:
            # On the ground: a start accepted during a battery swap must not take off any more.
            self.state, self.start_pending = "fault", False

    def link_lost(self, now: datetime) -> bool:
        """Apply the mission's lost-link policy (called after the link has been down a while).

        ``hold`` hovers until a resume; ``return`` retraces the flown path back to where the drone
        took off (already-flown air is known to be clear) and lands; ``continue`` goes on. A drone
        hovering after an abort returns. Returns False while the drone is servicing a pad: the
        policy applies once it climbs back (a drone landed or heading home has nothing to apply).
        """
        m = self.mission
        if self.state == "servicing" and m is not None:
            return False
        # Hovering after an abort (no mission, no hold to resume): nobody can say where to go now.
        aborted = m is None and self.state == "holding" and self.held_state is None
        if not aborted and (m is None or self.state not in ("en_route", "holding")):
            return True
        if m is not None and m.lost_link == "hold" and self.state == "en_route":
            self.held_state, self.state, self.ground_speed = "en_route", "holding", 0.0
        elif aborted or (m is not None and m.lost_link == "return"):
            back = [*reversed(self.flown)]
            port = self._port_near(back[-1]) if back else None
            self.route, self.next_wp, self.returning_to = back, 0, port.id if port else None
            self.state, self.held_state = "returning", None
        return True

    # --- simulation ----------------------------------------------------------------------------

    def advance_to(self, now: datetime) -> None:
        """Simulate up to ``now`` from where the simulation stands (the first call only sets the time)."""
        if self.sim_time is not None and now > self.sim_time:
            self.step((now - self.sim_time).total_seconds(), self.sim_time)
        if self.sim_time is None or now > self.sim_time:
            self.sim_time = now

    def step(self, dt: float, start: datetime) -> None:
        """Advance the simulation by ``dt`` seconds from time ``start``."""
        flight.step(self, dt, start)

    def _finish_swap(self) -> None:
        if self.swap_until is not None:
            self.swap_until = None
            self.energy_wh = self.model.battery_wh
            self.low_battery_sent = False

    def _port_near(self, p: XYZ) -> Port | None:
        for port in self.ports:
            x, y = self.frame.to_xy(port.lon, port.lat)
            if math.hypot(p[0] - x, p[1] - y) <= PORT_RADIUS_M:
                return port
        return None

    def _emit_event(self, cls: type[AnyEvent], at: datetime | None, **fields: object) -> None:
        lon, lat = self.lonlat()
        ts = at or self._clock
        assert ts is not None
        self.outbox.append(
            cls(
                drone_id=self.id,
                ts=ts,
                lon=lon,
                lat=lat,
                alt_m=round(self.alt, 2),
                mission_id=self.mission.mission_id if self.mission else None,
                altitude_frame=self.altitude_frame,
                **fields,  # type: ignore[arg-type]
            )
        )


__all__ = ["FLYING", "XYZ", "Faults", "HandoverStop", "Mission", "SimDrone"]
