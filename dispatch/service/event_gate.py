"""Events naming a mission that is not the drone's current one are refused, counted and audited.

A drone's ``took_off``, ``reached_stop``, ``picked_up``, ``delivered`` and ``landed`` are about the
mission they name. One naming a mission other than the one the dispatcher has the drone flying (an
aborted mission, a finished one, a replay) is never applied to requests: a request re-planned
onto another drone must not get its custody recorded on the mission it left. It is counted in
``DispatcherStats.refused_events`` (by event) and audited on the drone (``event_refused``, naming
the mission, the event and the request); a refused ``picked_up`` or ``delivered`` is also audited
on its request.

Two exceptions keep what the dispatcher always tolerated: an event without a mission (a drone
whose mission was aborted on board flies and lands without one), and a ``landed`` naming the
drone's last mission while it has none (the landing of a drone given up as silent still settles
the custody of what it brought back). A ``landed`` of an earlier mission while the drone flies
another is refused. ``fault``, ``low_battery``, ``geofence_breach`` and ``separation_loss`` are about
the drone itself, whatever mission they name, and always pass; but a ``low_battery`` naming another
mission than the drone's current one (a late report of its flight before) is only audited
(``low_battery_of_another_mission``, ``dispatch.service.events``): it does not abort the current one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fleet.messages import Delivered, Landed, PickedUp, ReachedStop, TookOff

if TYPE_CHECKING:
    from dispatch.service.events import Events

log = logging.getLogger(__name__)

MISSION_EVENTS = (TookOff, ReachedStop, PickedUp, Delivered, Landed)


async def refuse_stale(d: Events, update: object) -> bool:
    """True (counted and audited) if ``update`` is an event of a mission that is not its drone's
    current one; False for everything the dispatcher must handle."""
    if not isinstance(update, MISSION_EVENTS) or update.mission_id is None:
        return False
    view = d.drones.get(update.drone_id)
    if view is None or update.mission_id == view.mission:
        return False
    if isinstance(update, Landed) and view.mission is None:
        return False
    event = type(update).__name__
    payload = {
        "event": event,
        "msg_id": update.msg_id,
        "mission_id": update.mission_id,
        "current_mission": view.mission,
        "request_id": getattr(update, "request_id", None),
        "at": update.ts.isoformat(),
    }
    count = d.stats.refused_events[event] + 1
    if count & (count - 1) == 0:  # the 1st, 2nd, 4th... of each event: visible without flooding
        log.warning(
            "refused %s of %s for mission %s (current: %s; %d so far)",
            event,
            update.drone_id,
            update.mission_id,
            view.mission,
            count,
        )
    await d.store.note("drone", update.drone_id, "event_refused", actor=d.actor, payload=payload)
    if isinstance(update, PickedUp | Delivered):
        # In the request's own chain too: a drone claiming custody of it (a pickup made while the
        # drone was silent and already written off, or a forgery) is for an operator to see.
        claim = {**payload, "drone_id": update.drone_id, "code_ok": update.code_ok}
        await d.store.note("request", update.request_id, "event_refused", actor=d.actor, payload=claim)
    d.stats.refused_events[event] += 1  # once audited: a waiter on the count sees the entries
    return True
