"""Which drones are in service: the one rule the planner, intake and quotes use, write-offs, the
return to service of a drone that is back, and an operator taking drones out of and into service.

A drone is **serviceable** (given new work) when the dispatcher has not written it off (a fault,
silence, a landing away from a port), no operator has taken it out of service, and it is not on
its way back to a port (low battery, no safe path). The planning fleet is the serviceable drones
that are online (:meth:`~dispatch.service.fleet_picture.FleetPicture.usable_fleet`).

* A drone the dispatcher wrote off **returns to service on its own** (audited,
  ``returned_to_service``) once it is heard again after the write-off, reports ``idle`` (on the
  ground, no mission, not in a fault state), stands at a port and carries nothing
  (:func:`return_to_service`, a step of the periodic tick).
* An operator takes a drone **out of service** with a reason, or puts it back
  (:func:`set_in_service`): stored with the drone (a restart keeps it) and audited
  (``out_of_service`` / ``in_service``). A drone an operator took out never returns on its own; a
  drone taken out while flying finishes its mission and gets no new one. Putting a drone back also
  clears a write-off of the dispatcher (the operator has looked at it).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from airspace.frame import LocalFrame
from dispatch.service.state import DroneView
from fleet.description import Port

if TYPE_CHECKING:
    from dispatch.service.dispatcher import Dispatcher

log = logging.getLogger(__name__)

PORT_RADIUS_M = 30.0  # a drone this close to a port stands at it
GROUND_STATES = ("idle", "ready", "fault")  # telemetry states of a drone standing on the ground
FAULT_STATES = ("fault", "emergency")  # telemetry states of a drone that cannot fly a mission


def serviceable(view: DroneView) -> bool:
    """Whether the drone may be given new work (whether it is online is the caller's question)."""
    return view.usable and view.out_of_service is None and not view.returning


def write_off(view: DroneView, reason: str, at: datetime) -> None:
    """The dispatcher stops counting on the drone (the first reason is kept)."""
    if view.usable:
        view.usable, view.why_unusable, view.written_off_at = False, reason, at


@functools.lru_cache(maxsize=16)
def _frame(points: tuple[tuple[float, float], ...]) -> LocalFrame:
    return LocalFrame.for_points(points)


def port_at(ports: Sequence[Port], lon: float, lat: float) -> str | None:
    """The port within :data:`PORT_RADIUS_M` of (lon, lat), if any."""
    if not ports:
        return None
    frame = _frame(tuple((p.lon, p.lat) for p in ports))
    x, y = frame.to_xy(lon, lat)
    for p in ports:
        px, py = frame.to_xy(p.lon, p.lat)
        if math.hypot(x - px, y - py) <= PORT_RADIUS_M:
            return p.id
    return None


def port_now(dispatcher: Dispatcher, drone_id: str) -> str | None:
    """The port the drone stands at: from its latest telemetry (None while it flies or stands
    elsewhere), else where the dispatcher last saw it land (or found it at start)."""
    assert dispatcher.fleet is not None
    view = dispatcher.drones.get(drone_id)
    status = dispatcher.link.registry.get(drone_id)
    tele = status.telemetry if status is not None else None
    if tele is None:
        return view.port if view is not None else None
    if tele.state not in GROUND_STATES:
        return None
    return port_at(dispatcher.fleet.ports, tele.lon, tele.lat)


async def return_to_service(dispatcher: Dispatcher) -> list[str]:
    """Put back in service every drone the dispatcher wrote off that is back: heard since the
    write-off, ``idle``, at a port, with no mission and nothing on board. Audited; returns them."""
    now = dispatcher.clock.now()
    back = []
    for drone_id, view in dispatcher.drones.items():
        if view.usable or view.out_of_service is not None or view.mission is not None or view.onboard:
            continue
        status = dispatcher.link.registry.get(drone_id)
        tele = status.telemetry if status is not None else None
        heard = status.received_at if status is not None else None
        if tele is None or heard is None or tele.state != "idle":
            continue
        if view.written_off_at is not None and heard <= view.written_off_at:
            continue
        if not dispatcher.link.registry.is_online(drone_id, now):
            continue
        port = port_now(dispatcher, drone_id)
        if port is None:
            continue
        why = view.why_unusable
        _restore(view, port, now)
        log.info("drone %s is back in service at port %s (was: %s)", drone_id, port, why)
        await dispatcher.store.note(
            "drone",
            drone_id,
            "returned_to_service",
            actor=dispatcher.actor,
            payload={"port": port, "after": why, "battery_pct": tele.battery_pct},
        )
        back.append(drone_id)
    if back:
        dispatcher.wake()
    return back


def _restore(view: DroneView, port: str | None, now: datetime) -> None:
    view.usable, view.why_unusable, view.written_off_at, view.returning = True, "", None, False
    if port is not None:
        view.port = port
    view.available_at = max(view.available_at, now)


async def load_service_states(dispatcher: Dispatcher) -> None:
    """Take the drones an operator took out of service (as stored) out of service in the view."""
    for drone_id, reason in (await dispatcher.store.directory.out_of_service()).items():
        view = dispatcher.drones.get(drone_id)
        if view is not None:
            view.out_of_service = reason


async def set_in_service(
    dispatcher: Dispatcher, drone_id: str, *, in_service: bool, reason: str, actor: str
) -> DroneView:
    """An operator takes a drone out of service (``reason`` required) or puts it back: stored,
    audited, and in the dispatcher's view at once. Raises :class:`~dispatch.store.NotFound` for a
    drone not in the fleet, :class:`~dispatch.store.InvalidInput` without a reason to take it out."""
    store = dispatcher.store
    await store.directory.set_in_service(drone_id, in_service=in_service, reason=reason, actor=actor)
    view = dispatcher.drones.get(drone_id)
    if view is None:  # stored, but not in this dispatcher's fleet (it reads it at start)
        out = None if in_service else reason
        return DroneView(drone_id, None, dispatcher.clock.now(), out_of_service=out)
    if in_service:
        view.out_of_service = None
        if not view.usable:
            _restore(view, port_now(dispatcher, drone_id), dispatcher.clock.now())
    else:
        view.out_of_service = reason
    dispatcher.wake()
    return view
