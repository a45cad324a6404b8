"""The commander: every command to a drone is written before it is sent, and sent as stored.

- **Write before you act.** A command is recorded in the store (:meth:`Commander.record`) before
  the first byte goes to the drone; its answer (ack or nack) is recorded when it comes.
- **The same id on every re-send.** A stored command is sent exactly as stored
  (:meth:`Commander.send_stored`), so a re-send after a timeout or a restart carries the same
  ``cmd_id`` and the drone applies it once.
- **Expiry.** Every command expires ``command_expiry_s`` (a dispatcher setting) after it is made.
- **The command-id grammar** (below) is the one recovery parses: mission commands are named after
  their mission (``<mission>.up`` upload, ``.go`` start (``.go<n>`` the n-th start replacing
  one refused for a missed take-off window), ``.h<n>`` hold, ``.c<n>`` resume,
  ``.r<n>``/``.r<n>b`` re-route in the air, ``.g<n>`` re-route on the ground, ``.ll<n>`` resume
  after a lost link, ``.ab``/``.ab<n>`` abort); commands outside a mission after their drone and
  the time (``<drone>.land.<ms>``, ``<drone>.hold.<ms>``, ``<drone>.rtp.<ms>[.<attempt>]``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import msgspec

from dispatch.service.failpoints import failpoint
from dispatch.service.missions import MissionSpec, protocol_stops
from dispatch.store import Conflict, Store
from dispatch.store.views import CommandView, RequestCodes
from fleet.clock import Clock
from fleet.link import CommandTimeout, FleetLink
from fleet.messages import Ack, AltitudeFrame, AnyCommand, Start, UploadMission

log = logging.getLogger(__name__)

_command_decoder = msgspec.json.Decoder(AnyCommand)


# --- the command-id grammar ----------------------------------------------------------------------


def upload_id(mission_id: str) -> str:
    """The mission upload's id (the same on every re-send)."""
    return f"{mission_id}.up"[-64:]


def start_id(mission_id: str, attempt: int = 0) -> str:
    """The mission start's id: ``<mission>.go``, then ``.go1``, ``.go2``... for the starts that
    replace one the drone refused because its take-off window had passed."""
    return f"{mission_id}.go{attempt or ''}"[-64:]


_DISPATCH_ID = re.compile(r".+\.(?:up|go(?:[1-9][0-9]?)?)")


def start_attempt(mission_id: str, cmd_id: str) -> int | None:
    """Which start of the mission ``cmd_id`` is (0 for ``.go``), or None if it is not one."""
    for n in range(100):
        if cmd_id == start_id(mission_id, n):
            return n
    return None


def latest_start(mission_id: str, commands: Iterable[CommandView]) -> CommandView | None:
    """The mission's current start among its stored ``commands`` (the one made last)."""
    starts = [(n, c) for c in commands if (n := start_attempt(mission_id, c.cmd_id)) is not None]
    return max(starts, key=lambda nc: nc[0])[1] if starts else None


def is_dispatch_id(cmd_id: str) -> bool:
    """Whether the id is a mission upload's or start's (re-sent by the dispatch sequence, in order)."""
    return _DISPATCH_ID.fullmatch(cmd_id) is not None


def hold_id(mission_id: str, n: int) -> str:
    """The id of the ``n``-th hold of a mission being re-routed in the air."""
    return f"{mission_id}.h{n}"


def resume_id(mission_id: str, n: int, attempt: int = 0) -> str:
    """The id of the resume that ends the ``n``-th steering of a mission (``attempt``: a new one after
    the drone refused the one before as too late for its window)."""
    return f"{mission_id}.c{n}" + (f"r{attempt}" if attempt else "")


def reroute_id(mission_id: str, n: int, *, second: bool = False) -> str:
    """The id of the ``n``-th re-route in the air (``second``: from the waypoint after the next)."""
    return f"{mission_id}.r{n}{'b' if second else ''}"


def ground_reroute_id(mission_id: str, n: int) -> str:
    """The id of the ``n``-th re-route of a mission whose drone has not taken off."""
    return f"{mission_id}.g{n}"


def uses_steering_number(mission_id: str, cmd_id: str, kind: str) -> bool:
    """Whether a stored command of the mission used up a steering number (holds and ground
    re-routes), so that recovery's count puts a new hold or re-route past every id known. (The
    start, ``.go``, matches the ``.g`` prefix and is counted too: harmless, the count only has
    to be high enough.)"""
    return kind == "Hold" or cmd_id.startswith(f"{mission_id}.g")


def lost_link_resume_id(mission_id: str, n: int) -> str:
    """The id of the ``n``-th resume of a drone found holding on its lost-link policy."""
    return f"{mission_id}.ll{n}"


def abort_id(mission_id: str, attempt: int = 0) -> str:
    """The id of a mission's abort command (``<mission>.ab``, then ``.ab1``... after refusals)."""
    return f"{mission_id}.ab{attempt or ''}"[-64:]


def is_abort_id(cmd_id: str) -> bool:
    """Whether an acknowledged id may be an abort's."""
    return ".ab" in cmd_id


def drone_command_id(drone_id: str, kind: str, attempt: int | None = None) -> str:
    """The id of a command outside any mission (``land``, ``hold``, ``rtp``): unique by the time."""
    return f"{drone_id}.{kind}.{int(time.time() * 1000)}" + ("" if attempt is None else f".{attempt}")


# --- sending ---------------------------------------------------------------------------------------


class Commander:
    """Records commands in the store, sends them over the link and records the drones' answers."""

    def __init__(
        self, store: Store, link: FleetLink, clock: Clock, *, expiry_s: float, take_off_window_s: float = 0.0
    ) -> None:
        self.store = store
        self.link = link
        self.clock = clock
        self.expiry_s = expiry_s
        # How late after its planned departure a mission with an intent may still take off.
        self.take_off_window_s = take_off_window_s
        # What mission and return altitudes are measured from: "terrain" (true heights the drone
        # follows) once the dispatcher flies over a terrain model (Dispatcher.use_terrain).
        self.altitude_frame: AltitudeFrame = "relative"

    def expiry(self) -> datetime:
        """When a command made now expires."""
        return self.clock.now() + timedelta(seconds=self.expiry_s)

    def upload(self, spec: MissionSpec, codes: dict[str, RequestCodes]) -> UploadMission:
        """The mission upload (id :func:`upload_id`)."""
        return UploadMission(
            drone_id=spec.drone_id,
            cmd_id=upload_id(spec.mission_id),
            expires_at=self.expiry(),
            mission_id=spec.mission_id,
            waypoints=[list(w) for w in spec.waypoints],  # type: ignore[misc]
            stops=protocol_stops(spec.stops, codes),
            altitude_frame=self.altitude_frame,
            # A drone that loses its link holds: re-planning its work elsewhere can never fly a
            # document twice.
            lost_link="hold",
        )

    def start(self, spec: MissionSpec, attempt: int = 0) -> Start:
        """The start command (id :func:`start_id`); a mission with an operational intent takes off
        at its planned departure, where the intent's time windows begin, and no later than
        ``take_off_window_s`` after it (the drone refuses a start it cannot make by then)."""
        planned = spec.intent is not None
        return Start(
            drone_id=spec.drone_id,
            cmd_id=start_id(spec.mission_id, attempt),
            expires_at=self.expiry(),
            mission_id=spec.mission_id,
            take_off_at=spec.depart if planned else None,
            take_off_by=spec.depart + timedelta(seconds=self.take_off_window_s) if planned else None,
        )

    async def record(self, cmd: AnyCommand, mission_id: str | None) -> CommandView:
        """Record a command before anything is sent (write before you act)."""
        recorded = await self.store.flights.record_command(
            cmd_id=cmd.cmd_id,
            drone_id=cmd.drone_id,
            kind=type(cmd).__name__,
            payload=msgspec.to_builtins(cmd),
            mission_id=mission_id,
        )
        return recorded.command

    async def send_new(self, cmd: AnyCommand, mission_id: str | None) -> Ack | None:
        """Record a new command (write before you act), then send it and record the answer."""
        return await self.send_stored(await self.record(cmd, mission_id))

    async def send_stored(self, view: CommandView) -> Ack | None:
        """Send a recorded command exactly as stored (same ``cmd_id``); None if no ack came."""
        cmd = _command_decoder.decode(msgspec.json.encode(view.payload))
        await self.store.flights.mark_command_sent(view.cmd_id)
        failpoint(f"command.sent.{view.kind}")
        try:
            ack = await self.link.send(cmd)
        except CommandTimeout:
            log.warning("no ack for %s from %s", view.cmd_id, view.drone_id)
            return None
        failpoint(f"command.acked.{view.kind}")
        with contextlib.suppress(Conflict):
            await self.store.flights.mark_command_acked(
                view.cmd_id, "ack" if ack.accepted else "nack", ack.reason
            )
        return ack


def stored_ack(cmd: CommandView) -> Ack:
    """The drone's answer to a command, as the store recorded it."""
    assert cmd.acked_at is not None
    return Ack(
        drone_id=cmd.drone_id,
        cmd_id=cmd.cmd_id,
        ts=cmd.acked_at,
        accepted=cmd.result == "ack",
        reason=cmd.result_detail or ("refused" if cmd.result != "ack" else None),
    )
