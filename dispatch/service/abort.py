"""Aborting a mission its drone may have started: the drone acknowledges before anything is re-planned.

A mission whose upload the drone acknowledged may be started on the drone (a start accepted during
a battery swap takes off when the swap ends). Giving it up only in the store let a drone fly a
mission whose requests were already on another drone's. So such a mission is aborted on the drone
first, with the protocol's ``abort_mission`` command:

1. **Write before you act**: an ``abort_requested`` audit note on the flight (with the reason),
   then the command (id ``<mission>.ab``) is recorded, then sent. The mission stays the drone's
   current one meanwhile (its events still apply; it is planned, re-routed and cancelled no more).
2. The drone's ack is applied **in the order the dispatcher hears the drone** (in its event loop,
   :func:`on_ack`): a pickup the drone reported before acknowledging is recorded first, so its
   document counts as on board and is never re-planned as if it were still at the pickup. Then
   the flight is aborted in the store: requests not picked up go back to ``accepted``.
3. No ack: the same command is sent again until the drone answers, or, once nothing has been
   heard from it for ``silent_after_s``, it is written off as silent and the abort applies without
   an ack (the command waits in the drone's broker session). A refusal is retried with a new
   command id a bounded number of times, then audited (``abort_refused``) for an operator.
4. A landing of the drone ends the mission on the drone: the abort applies then too.
5. **Recovery**: a flight with an acknowledged abort command is aborted at start; one with an
   unacknowledged abort is re-sent (same id) and never dispatched again.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dispatch.lifecycle import FlightState
from dispatch.service.commander import abort_id, is_abort_id
from dispatch.service.state import ActiveMission
from dispatch.store import Conflict, NotFound
from dispatch.store.views import CommandView, FlightView
from fleet.messages import AbortMission, Ack

if TYPE_CHECKING:
    from dispatch.service.flights import Flights

log = logging.getLogger(__name__)

KIND = "AbortMission"
REFUSALS = 5  # new abort commands after refusals before an operator is asked to look
ON_DRONE = (FlightState.ACKED, FlightState.FLYING)  # states in which the drone may have started it


abort_cmd_id = abort_id  # the commander's grammar: ``<mission>.ab``, then ``.ab1``... after refusals


async def abort_on_drone(d: Flights, m: ActiveMission, reason: str, *, silent: bool = False) -> bool:
    """Start aborting ``m`` on its drone if the drone may have started it; True when the caller
    must leave the mission as it is (it is given up once the drone acknowledges). False: give it
    up now (never started on the drone, or ``silent``: the drone is written off)."""
    if m.state not in ON_DRONE:
        return False
    if m.aborting is None:
        m.aborting = reason
        await d.store.note(
            "flight",
            m.mission_id,
            "abort_requested",
            actor=d.actor,
            payload={"reason": reason, "cmd_id": abort_cmd_id(m.mission_id)},
        )
        view = await _record(d, m, 0)
        d.spawn(_send_until_answered(d, m, view), f"abort:{m.mission_id}")
    return not silent


async def _record(d: Flights, m: ActiveMission, attempt: int) -> CommandView:
    cmd = AbortMission(
        drone_id=m.drone_id,
        cmd_id=abort_cmd_id(m.mission_id, attempt),
        expires_at=d.commander.expiry(),
        mission_id=m.mission_id,
    )
    m.abort_cmds.add(cmd.cmd_id)
    return await d.commander.record(cmd, m.mission_id)


def _silent(d: Flights, drone_id: str, now: datetime) -> bool:
    status = d.link.registry.get(drone_id)
    last = status.received_at if status is not None else None
    return last is None or (now - last).total_seconds() > d.silent_after_s


async def _send_until_answered(d: Flights, m: ActiveMission, view: CommandView) -> None:
    """Send the abort until the drone acknowledges it (applied by :func:`on_ack`), it is written
    off as silent, or it refused it :data:`REFUSALS` times."""
    refusals, sent = 0, False
    # Sent once even when the mission was given up meanwhile (a drone written off as silent: the
    # command then waits in its broker session), again only while the mission is kept.
    while not sent or m.mission_id in d.missions:
        sent = True
        ack = await d.commander.send_stored(view)
        if ack is not None and ack.accepted:
            return
        if ack is None:
            if d.link.connected and _silent(d, m.drone_id, d.clock.now()):
                await d.abort_now(m, f"{m.aborting} (drone silent: abort not acknowledged)")
                return
            continue  # the same id again: a drone applies it once
        refusals += 1
        log.warning("abort %s refused by %s: %s", view.cmd_id, m.drone_id, ack.reason)
        if refusals >= REFUSALS:
            await d.store.note(
                "flight",
                m.mission_id,
                "abort_refused",
                actor=d.actor,
                payload={"reason": ack.reason, "cmd_id": view.cmd_id},
            )
            return
        # A repeated cmd_id gets the same answer: ask again, a little later, with a new one.
        with contextlib.suppress(TimeoutError):
            await d.telemetry_after(m.drone_id, d.clock.now() + timedelta(seconds=5))
        view = await _record(d, m, refusals)


async def on_ack(d: Flights, ack: Ack) -> None:
    """An ack heard in the event loop: if it acknowledges the abort of a mission being aborted,
    record it and give the mission up (its requests not picked up are re-planned)."""
    if not ack.accepted or not is_abort_id(ack.cmd_id):
        return
    m = next(
        (m for m in d.missions.values() if ack.cmd_id in m.abort_cmds and m.drone_id == ack.drone_id), None
    )
    if m is None or m.aborting is None:
        return
    with contextlib.suppress(Conflict, NotFound):  # the sender may have recorded it already
        await d.store.flights.mark_command_acked(ack.cmd_id, "ack")
    await d.abort_now(m, m.aborting)


async def recover(d: Flights, m: ActiveMission, flight: FlightView) -> bool:
    """At start, for a flight rebuilt from the store: False if no abort was ever asked for it.
    Otherwise it is given up now (the drone acknowledged) or its abort is sent again, and True:
    it must not be dispatched or steered any more."""
    aborts = sorted((c for c in flight.commands if c.kind == KIND), key=lambda c: c.created_at)
    if not aborts:
        return False
    notes = [e for e in await d.store.history("flight", m.mission_id) if e.action == "abort_requested"]
    m.aborting = str(notes[-1].payload.get("reason")) if notes else "aborted before a restart"
    m.abort_cmds.update(c.cmd_id for c in aborts)
    if any(c.result == "ack" for c in aborts):
        await d.abort_now(m, m.aborting)
        return True
    last = aborts[-1]
    if last.result is None:
        d.spawn(_send_until_answered(d, m, last), f"abort:{m.mission_id}")
    else:
        view = await _record(d, m, len(aborts))
        d.spawn(_send_until_answered(d, m, view), f"abort:{m.mission_id}")
    return True
