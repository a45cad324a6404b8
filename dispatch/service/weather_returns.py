"""Drones in the air turned back when the weather ahead of them turns beyond their limits.

Checked every tick (and so after every new forecast): a flying mission whose remaining route,
from now to its planned landing, meets conditions beyond its model's limits is aborted on the
drone (what is not on board is planned again, and waits on the ground for the weather) and the
drone flies to the nearest port it can reach, as on low battery. Audited on the flight
(``weather_return`` with the reason).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dispatch.lifecycle import FlightState

if TYPE_CHECKING:
    from dispatch.service.dispatcher import Dispatcher

log = logging.getLogger(__name__)


async def turn_back_for_weather(d: Dispatcher) -> list[str]:
    """Send home every drone whose flight ahead meets weather beyond its limits; their missions."""
    gate = d.weather
    if gate.forecast is None:
        return []
    now = d.clock.now()
    turned = []
    for m in list(d.missions.values()):
        view = d.drones.get(m.drone_id)
        pos = d.picture.position(m.drone_id)
        if m.state != FlightState.FLYING or m.aborting or view is None or view.returning or pos is None:
            continue
        places = [pos, *((w[0], w[1]) for w in m.spec.waypoints)]
        end = max(now, m.eta_end or m.spec.arrive)
        why = gate.ahead(d.picture.model(m.drone_id).weather, places, now, end)
        if why is None:
            continue
        log.warning("%s: %s ahead; returning to the nearest port", m.mission_id, why)
        # Marked before the first await: the tick and a new forecast may both be looking at it.
        view.returning = True
        try:
            await d.store.note(
                "flight", m.mission_id, "weather_return", actor=d.actor, payload={"reason": why}
            )
        except BaseException:
            view.returning = False  # not sent home: the next tick tries again
            raise
        d.stats.weather_returns += 1
        await d.flights.abort(m, why)
        d.flights.spawn(d.steering.return_to_port(m.drone_id, pos), f"return:{m.drone_id}")
        turned.append(m.mission_id)
    return turned
