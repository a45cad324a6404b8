"""How a simulated drone moves through simulated time: cruise, pad service, landing, battery drain.

Functions over a :class:`~simulator.drone.SimDrone`'s state, driven by its ``step``; they emit its
events (reached stop, picked up, delivered, landed, low battery, faults) as time passes.

Timing model (matches the planner, so planned ETAs hold):

- A leg between waypoints takes ``horizontal distance / cruise_speed_mps``: the drone always moves
  horizontally at cruise speed. Leaving a port it climbs *while* flying the first leg
  (``VERTICAL_SPEED_MPS``), and on the last leg of a mission or return it glides in so that it
  touches down exactly when it reaches the port.
- A pad stop takes exactly ``service_s``: a vertical descent (the first quarter), the pick-up or
  hand-over (the middle half) and a vertical climb back to the waypoint's altitude (the last
  quarter). The code check happens when the drone reaches the ground.
- Landing at a port starts a battery swap of ``turnaround_s``; a mission started during it takes
  off when the swap ends (the planner charges ``turnaround_s`` between trips).
- The ground is at altitude 0, or over a terrain model (``SimDrone.terrain``) the model's height
  under the drone: take-offs, pad stops, landings and glide-ins go from and to it. Over terrain
  the waypoints' altitudes are a profile following the ground, and after its climb-out the drone
  flies it linearly between waypoints (as the planner computes and the monitors check it); over
  flat ground it changes altitude at ``VERTICAL_SPEED_MPS`` towards each waypoint's, as before.

Energy model: ``DroneModel.leg_energy_wh`` per horizontal metre flown, with the payload on board;
times the planner's wind factor (``fleet.description.air_factor``: the square of air speed over
ground speed, a tail wind saving at most 10 %) and the injected drain factor. Hovering on hold
drains at the cruise power (``wh_per_km`` x cruise speed). Pad service, vertical moves and ground
time drain nothing, as in the planner; over terrain the climbs along the route (not the
climb-out) cost ``DroneModel.climb_energy_wh``, as in the planner.

Every piece of path is recorded in the drone's trace with whether it was *cruising* (flying the
route at its altitudes, or hovering there): the terrain monitor checks only those, not the
climb-out, the descent of the final leg, pad stops and landings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from fleet.description import air_factor
from fleet.messages import Delivered, Fault, Landed, LowBattery, PickedUp, PickupStop, ReachedStop, Stop

if TYPE_CHECKING:
    from simulator.drone import SimDrone

VERTICAL_SPEED_MPS = 5.0  # climb-out and glide-in at ports, land-now
EMERGENCY_DESCENT_MPS = 3.0
SERVICE_VERTICAL_FRACTION = 0.25  # of service_s, for each of the descent and the climb at a pad
_EPS = 1e-9

XYZ = tuple[float, float, float]
FLYING: frozenset[str] = frozenset({"en_route", "servicing", "holding", "returning", "landing", "emergency"})


@dataclass(slots=True)
class StopService:
    """A pad stop being serviced: descent, pick-up or hand-over, climb (see the timing model)."""

    stop: Stop
    stop_index: int
    elapsed: float = 0.0
    start_alt: float = 0.0
    target_alt: float = 0.0
    ground_alt: float = 0.0  # the pad's ground
    acted: bool = False
    final: bool = False  # last stop at the last waypoint: land there, no climb


def step(d: SimDrone, dt: float, start: datetime) -> None:
    """Advance the simulation by ``dt`` seconds from time ``start``."""
    remaining = dt
    d._clock = start
    here = d.position
    guard = 0
    while remaining > _EPS and guard < 10_000:
        guard += 1
        before = remaining
        remaining = _advance(d, remaining)
        d._clock = start + timedelta(seconds=dt - remaining)
        if remaining == before and d.state not in FLYING:
            break
    if d.swap_until is not None and d._clock >= d.swap_until and not d.start_pending:
        d._finish_swap()
    if d.state not in FLYING:
        d.ground_speed = 0.0
    if not d.trace or d.trace[-1] != d.position:
        # Nothing moved it (holding, on the ground): a piece in place, cruising if hovering en route.
        d.mark(d.cruising and d.position == here)


def _advance(d: SimDrone, dt: float) -> float:
    s = d.state
    if s in ("en_route", "returning"):
        return _cruise(d, dt)
    if s == "servicing":
        return _service(d, dt)
    if s == "holding":
        d.ground_speed = 0.0
        t, back = dt, d.held_state
        if d.resume_at is not None and back is not None:
            # A resume accepted before its time: hover until then, then go on.
            assert d._clock is not None
            t = min(dt, max(0.0, (d.resume_at - d._clock).total_seconds()))
        _drain(d, d.model.wh_per_km * d.model.cruise_speed_mps / 1000.0 * t)
        if t < dt and back is not None:
            d.state, d.held_state, d.resume_at = back, None, None
            return dt - t
        return 0.0
    if s in ("landing", "emergency"):
        rate = EMERGENCY_DESCENT_MPS if s == "emergency" else VERTICAL_SPEED_MPS
        d.ground_speed = 0.0
        ground = d.ground_at(d.x, d.y)
        t = min(dt, max(0.0, d.alt - ground) / rate)
        d.alt -= rate * t
        if d.alt - ground <= _EPS:
            d._clock = _at(d, t)
            _touchdown(d)
        d.mark(False)
        return dt - t
    if d.start_pending and d.mission is not None:
        # A start accepted during the battery swap or before its take-off time: take off the
        # moment both are past.
        assert d._clock is not None
        when = max(t for t in (d.swap_until, d.start_at, d._clock) if t is not None)
        t = min(dt, max(0.0, (when - d._clock).total_seconds()))
        if t >= dt - _EPS and d._clock + timedelta(seconds=t) < when:
            return 0.0
        d._take_off(d.mission.route, when)
        return dt - t
    return 0.0  # on the ground


def _cruise(d: SimDrone, dt: float) -> float:
    if d.next_wp >= len(d.route):
        _touchdown(d)
        return dt
    tx, ty, talt = d.route[d.next_wp]
    last = d.next_wp == len(d.route) - 1
    glide = last and not _stops_at(d, d.next_wp)
    dx, dy = tx - d.x, ty - d.y
    dist = math.hypot(dx, dy)
    v = d.model.cruise_speed_mps
    t_need = dist / v
    t = min(dt, t_need)
    frac = t / t_need if t_need > 0 else 1.0
    if dist > 0:
        d.heading_deg = math.degrees(math.atan2(dx, dy)) % 360.0
        ux, uy = dx / dist, dy / dist
        moved = dist * frac
        rate = d.model.leg_energy_wh(moved, d.payload_kg)
        _drain(d, rate * air_factor(ux, uy, d.wind_xy, v))
        d.distance_flown_m += moved
    d.x, d.y = d.x + dx * frac, d.y + dy * frac
    climbing_out, before = d.climbing_out, d.alt
    if d.terrain is not None and not climbing_out:
        alt = d.alt + (talt - d.alt) * frac  # the profile, linear between waypoints
    elif d.alt < talt:
        alt = min(talt, d.alt + VERTICAL_SPEED_MPS * t)
    else:
        alt = max(talt, d.alt - VERTICAL_SPEED_MPS * t)
    if climbing_out and alt == talt:
        d.climbing_out = False
    # Glide in: touch down on the last waypoint's ground exactly on arrival. Over terrain the glide
    # may begin legs before the last (a profile's legs are short), over flat ground on the last.
    approach = _approach_m(d) if d.terrain is not None else (0.0 if glide else None)
    gliding = False
    if approach is not None:
        gx, gy, _ = d.route[-1]
        cap = d.ground_at(gx, gy) + VERTICAL_SPEED_MPS * (t_need - t + approach / v)
        gliding = alt > cap
        alt = min(alt, cap)
    d.alt = max(alt, 0.0) if d.terrain is None else alt
    # Over terrain climbs cost energy, but for the take-off: the climb-out to the route's first altitude.
    paid_from = max(before, d.take_off_alt) if climbing_out else before
    if d.terrain is not None and d.alt > paid_from:
        _drain(d, d.model.climb_energy_wh(d.alt - paid_from))
    d.ground_speed = v if t > 0 else 0.0
    # The climb-out, the glide-in and any descent on a last leg that lands are not cruising.
    cruising = not climbing_out and not gliding and not (glide and d.alt < before)
    if t >= t_need - _EPS:
        d._clock = _at(d, t)
        d.x, d.y = tx, ty
        d.mark(cruising)
        _arrive(d, glide)
    else:
        d.mark(cruising)
    return dt - t


def _approach_m(d: SimDrone) -> float | None:
    """Horizontal metres from the waypoint the drone flies to to the route's end, if it glides in
    there with no stop before (None: a stop comes first, or it ends with one)."""
    m = d.mission
    on_mission = m is not None and d.state != "returning" and d.returning_to is None
    pending = m.stops[m.done_stops :] if m is not None and on_mission else []
    if any(s.at >= d.next_wp for s in pending):
        return None
    route = d.route
    return sum(
        math.hypot(route[i + 1][0] - route[i][0], route[i + 1][1] - route[i][1])
        for i in range(d.next_wp, len(route) - 1)
    )


def _at(d: SimDrone, t: float) -> datetime:
    assert d._clock is not None
    return d._clock + timedelta(seconds=t)


def _stops_at(d: SimDrone, index: int) -> list[tuple[int, Stop]]:
    m = d.mission
    if m is None or d.state == "returning" or d.returning_to is not None:
        return []
    return [(i, s) for i, s in enumerate(m.stops) if s.at == index and i >= m.done_stops]


def _arrive(d: SimDrone, glide: bool) -> None:
    d.flown.append(d.position)
    if glide:
        _touchdown(d)
        return
    _after_arrival_check(d, d._clock)


def _after_arrival_check(d: SimDrone, now: datetime | None) -> None:
    """Begin the next stop at the waypoint just reached, or move on to the next waypoint."""
    stops = _stops_at(d, d.next_wp)
    if stops:
        index, stop = stops[0]
        last_wp = d.next_wp == len(d.route) - 1
        d.service = StopService(
            stop,
            index,
            start_alt=d.alt,
            target_alt=d.route[d.next_wp][2],
            ground_alt=d.ground_at(d.x, d.y),
            final=last_wp and len(stops) == 1,
        )
        d.state = "servicing"
        d.ground_speed = 0.0
        d._emit_event(ReachedStop, now, stop_index=index, request_id=stop.request_id, action=_action(stop))
        return
    if d.state in ("en_route", "returning") and d.next_wp < len(d.route) - 1:
        d.next_wp += 1
    elif d.state in ("en_route", "returning"):
        # The last waypoint reached at altitude (its stops done): land vertically there.
        d.state = "landing"


def _service(d: SimDrone, dt: float) -> float:
    sv = d.service
    assert sv is not None
    total = d.model.service_s
    t_v = total * SERVICE_VERTICAL_FRACTION
    end = total - t_v if sv.final else total
    # Stop at each phase boundary so the code check is stamped with its exact time.
    boundary = next((b for b in (t_v, total - t_v, end) if b > sv.elapsed + _EPS), end)
    t = min(dt, boundary - sv.elapsed)
    sv.elapsed += t
    d._clock = _at(d, t)
    e = sv.elapsed
    g = sv.ground_alt
    if e < t_v:
        d.alt = g + (sv.start_alt - g) * (1.0 - e / t_v)
    elif e <= total - t_v or sv.final:
        d.alt = g
        if not sv.acted:
            sv.acted = True
            _act(d, sv.stop)
    else:
        d.alt = g + (sv.target_alt - g) * (e - (total - t_v)) / t_v if t_v > 0 else sv.target_alt
    if total == 0 and not sv.acted:
        sv.acted = True
        _act(d, sv.stop)
    if sv.elapsed >= end - _EPS:
        assert d.mission is not None
        d.mission.done_stops = sv.stop_index + 1
        d.service = None
        if sv.final:
            d.alt = g
            d.mark(False)
            _touchdown(d)
        else:
            d.alt, d.climbing_out = sv.target_alt, False  # back at the waypoint's altitude
            d.state = "en_route"
            d.mark(False)
            _after_arrival_check(d, d._clock)
    else:
        d.mark(False)
    return dt - t


def _act(d: SimDrone, stop: Stop) -> None:
    presented = d.presented_codes.get((_action(stop), stop.request_id))
    if isinstance(stop, PickupStop):
        ok = (presented or stop.pickup_code) == stop.pickup_code
        if ok:
            d.payload[stop.request_id] = stop.payload_kg
        d._emit_event(PickedUp, d._clock, request_id=stop.request_id, code_ok=ok, payload_kg=stop.payload_kg)
    elif stop.request_id not in d.payload:
        d._emit_event(Fault, d._clock, kind="no_document", detail=f"{stop.request_id} not on board")
    else:
        ok = (presented or stop.recipient_code) == stop.recipient_code
        if ok:
            d.payload.pop(stop.request_id)
        d._emit_event(Delivered, d._clock, request_id=stop.request_id, code_ok=ok)


def _touchdown(d: SimDrone) -> None:
    d.alt, d.ground_speed = d.ground_at(d.x, d.y), 0.0
    d.climbing_out = False
    port = d._port_near(d.position)
    d._emit_event(Landed, d._clock, port_id=port.id if port else None)
    d.state = "fault" if d.state == "emergency" else "idle"
    d.route, d.next_wp, d.service, d.held_state = [], 0, None, None
    d.returning_to = None
    if d.state == "idle":
        d.mission = None
        if port is not None and d._clock is not None:
            d.swap_until = d._clock + timedelta(seconds=d.model.turnaround_s)


def _drain(d: SimDrone, wh: float) -> None:
    wh *= d.faults.drain_factor
    d.energy_used_wh += wh
    d.energy_wh = max(0.0, d.energy_wh - wh)
    reserve = d.model.battery_wh * d.model.reserve_fraction
    if not d.low_battery_sent and d.energy_wh <= reserve:
        d.low_battery_sent = True
        pct = 100.0 * d.energy_wh / d.model.battery_wh
        d._emit_event(LowBattery, d._clock, energy_wh=d.energy_wh, battery_pct=pct)
    if d.energy_wh <= 0.0 and d.state in FLYING and d.state != "emergency":
        d._emit_event(Fault, d._clock, kind="battery_empty", detail="battery empty: emergency landing")
        d.state, d.service, d.held_state = "emergency", None, None


def _action(stop: Stop) -> Literal["pickup", "handover"]:
    return "pickup" if isinstance(stop, PickupStop) else "handover"
