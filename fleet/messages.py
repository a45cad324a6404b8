"""Every message body of the fleet protocol, typed and validated with msgspec.

This module is the one definition of what crosses MQTT; the dispatcher link and the simulator
both use it. Bodies are JSON objects. Every body carries ``v`` (schema version, must be present
and equal to :data:`SCHEMA_VERSION`) and ``msg_id``; unknown fields are rejected, numbers must be
finite and in range, ids must be valid topic levels and lists are bounded. Decoding never
returns a half-valid message: it returns a typed message or raises :class:`ProtocolError`.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct, field

from fleet.topics import ID_PATTERN

SCHEMA_VERSION: Final = 1
MAX_BODY_BYTES: Final = 256 * 1024
MAX_WAYPOINTS: Final = 2000
MAX_STOPS: Final = 200

Id = Annotated[str, Meta(pattern=ID_PATTERN)]
MsgId = Annotated[str, Meta(min_length=1, max_length=64)]
Lon = Annotated[float, Meta(ge=-180.0, le=180.0)]
Lat = Annotated[float, Meta(ge=-90.0, le=90.0)]
Alt = Annotated[float, Meta(ge=-500.0, le=10_000.0)]
Speed = Annotated[float, Meta(ge=0.0, le=200.0)]
Heading = Annotated[float, Meta(ge=0.0, le=360.0)]
Percent = Annotated[float, Meta(ge=0.0, le=100.0)]
EnergyWh = Annotated[float, Meta(ge=0.0, le=1e6)]
PayloadKg = Annotated[float, Meta(ge=0.0, le=1000.0)]
Code = Annotated[str, Meta(min_length=1, max_length=64)]
Text = Annotated[str, Meta(max_length=500)]
Timestamp = Annotated[datetime, Meta(tz=True)]
Metres = Annotated[float, Meta(ge=0.0, le=1e6)]
Waypoint = tuple[Lon, Lat, Alt]
Waypoints = Annotated[list[Waypoint], Meta(min_length=1, max_length=MAX_WAYPOINTS)]
# HMAC-SHA256 of a drone's state, ack or event under its own key (see fleet.signing).
Sig = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]

DroneState = Literal[
    "idle",  # on the ground at a port, no mission
    "ready",  # on the ground, mission uploaded, waiting for start
    "en_route",  # flying the mission's waypoints (climbing out of / gliding into a port included)
    "servicing",  # over a stop: descending, handing over or picking up, climbing
    "holding",  # hovering in place on a hold command (or lost link with policy hold)
    "returning",  # flying to a port on a return command
    "landing",  # descending to land (end of mission, return or land-now)
    "emergency",  # emergency landing after a fault
    "fault",  # on the ground after a fault
]
LostLinkPolicy = Literal["continue", "hold", "return"]
# What an altitude is measured from (as MAVLink's GLOBAL_RELATIVE_ALT, GLOBAL and
# GLOBAL_TERRAIN_ALT frames): "relative" to the ground at the drone's home pad (over flat ground,
# the pads' height: the default); "amsl", above mean sea level; "terrain", a true height above the
# ground below, which the drone follows with its terrain model within its climb rate (what the
# dispatcher sends over terrain: see docs/terrain.md).
AltitudeFrame = Literal["relative", "amsl", "terrain"]
LostLinkAfter = Annotated[float, Meta(ge=1.0, le=86_400.0)]


class ProtocolError(ValueError):
    """A message body (or its topic) violates the protocol; ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def new_msg_id() -> str:
    """A fresh random message id (16 hex digits)."""
    return os.urandom(8).hex()


class Message(Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields every body carries."""

    v: int = SCHEMA_VERSION
    msg_id: MsgId = field(default_factory=new_msg_id)
    drone_id: Id


# --- telemetry and state -------------------------------------------------------------------


class Telemetry(Message, kw_only=True, forbid_unknown_fields=True):
    """Position and health, about 1 Hz, QoS 0 (a lost sample is replaced by the next)."""

    ts: Timestamp
    lon: Lon
    lat: Lat
    alt_m: Alt
    ground_speed_mps: Speed
    heading_deg: Heading
    battery_pct: Percent
    energy_wh: EnergyWh
    state: DroneState
    mission_id: Id | None = None
    payload_kg: PayloadKg = 0.0
    altitude_frame: AltitudeFrame = "relative"  # what ``alt_m`` is measured from


class State(Message, kw_only=True, forbid_unknown_fields=True):
    """Retained liveness record; the broker publishes ``online: false`` as the drone's last will.

    ``ts`` of a last-will body is the time the drone connected (the will is fixed at connect).
    """

    ts: Timestamp
    online: bool
    state: DroneState | None = None
    mission_id: Id | None = None
    sig: Sig | None = None


# --- commands --------------------------------------------------------------------------------


class PickupStop(Struct, tag_field="action", tag="pickup", kw_only=True, forbid_unknown_fields=True):
    """Land at waypoint ``at``, take the document of ``request_id`` if the sender's code matches."""

    at: Annotated[int, Meta(ge=0)]
    request_id: Id
    pickup_code: Code
    payload_kg: PayloadKg


class HandoverStop(Struct, tag_field="action", tag="handover", kw_only=True, forbid_unknown_fields=True):
    """Land at waypoint ``at``, release the document of ``request_id`` only to the right code."""

    at: Annotated[int, Meta(ge=0)]
    request_id: Id
    recipient_code: Code


Stop = PickupStop | HandoverStop
Stops = Annotated[list[Stop], Meta(max_length=MAX_STOPS)]


def _check_stops(waypoints: list[Waypoint], stops: list[Stop], first: int = 0) -> None:
    last = -1
    seen: set[tuple[str, str]] = set()
    for stop in stops:
        if not first <= stop.at < len(waypoints) + first:
            raise ValueError(f"stop at waypoint {stop.at} is outside the waypoints")
        if stop.at < last:
            raise ValueError("stops must be in waypoint order")
        last = stop.at
        key = (type(stop).__name__, stop.request_id)
        if key in seen:
            raise ValueError(f"request {stop.request_id!r} has two {type(stop).__name__}s")
        seen.add(key)


class Command(Message, kw_only=True, forbid_unknown_fields=True):
    """Fields of every command. ``cmd_id`` makes it idempotent; ``expires_at`` bounds its life."""

    cmd_id: Id
    expires_at: Timestamp


class UploadMission(Command, tag_field="type", tag="upload_mission", kw_only=True):
    """A mission: fly ``waypoints`` (``[lon, lat, alt_m]``) from the current position, doing the
    stops on the way, and land at the last waypoint. Does not start it (see :class:`Start`).
    ``altitude_frame``: what the waypoints' altitudes are measured from; a drone that cannot fly
    that frame (``amsl`` without a terrain model) refuses the upload."""

    mission_id: Id
    waypoints: Waypoints
    stops: Stops = field(default_factory=list)
    altitude_frame: AltitudeFrame = "relative"
    lost_link: LostLinkPolicy
    # Seconds without contact before ``lost_link`` applies; None: the drone's own setting (the
    # simulator's --lost-link-after, 30 s by default).
    lost_link_after_s: LostLinkAfter | None = None

    def __post_init__(self) -> None:
        _check_stops(self.waypoints, self.stops)


TAKE_OFF_WINDOW_PASSED = "take_off_window_passed"  # a start's refusal reason (see :class:`Start`)


class Start(Command, tag_field="type", tag="start", kw_only=True):
    """Take off and fly the uploaded mission ``mission_id``: at ``take_off_at`` if given (the
    mission's planned departure: the drone waits on the ground until then), else now. A start
    received after ``take_off_at`` takes off at once, unless ``take_off_by`` has passed.

    ``take_off_by`` is the latest take-off the mission's operational intent allows: a drone that
    could not leave the ground by then (the start came late, or its battery swap ends later)
    refuses the start with reason ``take_off_window_passed`` instead of flying its route outside
    the time its intent holds the airspace for it."""

    mission_id: Id
    take_off_at: Timestamp | None = None
    take_off_by: Timestamp | None = None


RESUME_WINDOW_PASSED = "resume_window_passed"  # a resume's refusal reason (see :class:`Resume`)


class Hold(Command, tag_field="type", tag="hold", kw_only=True):
    """Hover where you are until resumed (a resume waiting for its ``resume_at`` is called off)."""


class Resume(Command, tag_field="type", tag="resume", kw_only=True):
    """Go on with what you were doing before the hold: at ``resume_at`` if given (the drone hovers
    until then: the departure its new operational intent begins with), else now; one received
    after ``resume_at`` goes on at once, unless ``resume_by`` has passed.

    ``resume_by`` is the latest moment the intent allows to go on: a resume that reaches the drone
    later (a slow link, a busy dispatcher) is refused with reason ``resume_window_passed`` and the
    drone keeps holding, so that it never flies its route outside the time its intent holds the
    airspace for it."""

    resume_at: Timestamp | None = None
    resume_by: Timestamp | None = None


class Reroute(Command, tag_field="type", tag="reroute", kw_only=True):
    """Replace the mission's waypoints from index ``from_index`` on with ``waypoints``; stops at or
    after ``from_index`` are replaced by ``stops`` (whose ``at`` index the new full list). The
    altitudes are in the mission's ``altitude_frame``."""

    mission_id: Id
    from_index: Annotated[int, Meta(ge=0)]
    waypoints: Waypoints
    stops: Stops = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_stops(self.waypoints, self.stops, first=self.from_index)


class ReturnToPort(Command, tag_field="type", tag="return_to_port", kw_only=True):
    """Abandon the mission and fly ``waypoints`` (ending over the port) to port ``port_id``, land."""

    port_id: Id
    waypoints: Waypoints
    altitude_frame: AltitudeFrame = "relative"


class LandNow(Command, tag_field="type", tag="land_now", kw_only=True):
    """Descend and land where you are."""


class AbortMission(Command, tag_field="type", tag="abort_mission", kw_only=True):
    """Drop mission ``mission_id`` for good, in every state (after a fault too). On the ground it
    is cleared: the drone never takes off with it. In the air no further stop is made and the
    drone hovers where it is, with whatever it carries, until a ``return_to_port`` or ``land_now``
    (if its link is lost meanwhile it flies back the way it came); one already returning, landing
    or in an emergency goes on. A drone that does not hold that mission accepts it and changes
    nothing. The dispatcher re-plans the mission's requests only once this is acknowledged."""

    mission_id: Id


AnyCommand = UploadMission | Start | Hold | Resume | Reroute | ReturnToPort | LandNow | AbortMission


class Ack(Message, kw_only=True, forbid_unknown_fields=True):
    """A drone's answer to a command: accepted, or rejected with a reason."""

    cmd_id: Id
    ts: Timestamp
    accepted: bool
    reason: Text | None = None
    sig: Sig | None = None

    def __post_init__(self) -> None:
        if not self.accepted and not self.reason:
            raise ValueError("a rejection must carry a reason")


# --- events ----------------------------------------------------------------------------------


class Event(Message, kw_only=True, forbid_unknown_fields=True):
    """Fields of every event: where and when it happened, in which mission."""

    ts: Timestamp
    lon: Lon
    lat: Lat
    alt_m: Alt
    mission_id: Id | None = None
    altitude_frame: AltitudeFrame = "relative"  # what ``alt_m`` is measured from, as in telemetry
    sig: Sig | None = None


class TookOff(Event, tag_field="event", tag="took_off", kw_only=True):
    """Left the ground."""


class ReachedStop(Event, tag_field="event", tag="reached_stop", kw_only=True):
    """Arrived over stop ``stop_index`` of the mission."""

    stop_index: Annotated[int, Meta(ge=0)]
    request_id: Id
    action: Literal["pickup", "handover"]


class PickedUp(Event, tag_field="event", tag="picked_up", kw_only=True):
    """The sender presented a code: ``code_ok`` true means the document is on board."""

    request_id: Id
    code_ok: bool
    payload_kg: PayloadKg


class Delivered(Event, tag_field="event", tag="delivered", kw_only=True):
    """The recipient presented a code: ``code_ok`` true means the document was handed over;
    false means it was refused and stays on board."""

    request_id: Id
    code_ok: bool


class Landed(Event, tag_field="event", tag="landed", kw_only=True):
    """On the ground (``port_id`` when it landed at a port)."""

    port_id: Id | None = None


class LowBattery(Event, tag_field="event", tag="low_battery", kw_only=True):
    """Energy fell to the reserve the planner keeps for landing."""

    energy_wh: EnergyWh
    battery_pct: Percent


class Fault(Event, tag_field="event", tag="fault", kw_only=True):
    """Something broke (``kind``: e.g. ``motor``, ``battery``, ``gps``)."""

    kind: Id
    detail: Text = ""


class GeofenceBreach(Event, tag_field="event", tag="geofence_breach", kw_only=True):
    """The drone is inside zone ``zone_id`` (true shape, active now, in its altitude band)."""

    zone_id: Id


class LossOfSeparation(Event, tag_field="event", tag="separation_loss", kw_only=True):
    """The drone and ``other_drone_id`` were closer than the separation minima (both at once) from
    ``started_at`` to ``ts``; ``closest_m`` the smallest distance between them, ``horizontal_m``
    and ``vertical_m`` at that moment; the position is where it was closest. One per encounter,
    sent by one drone of the pair."""

    other_drone_id: Id
    started_at: Timestamp
    closest_m: Metres
    horizontal_m: Metres
    vertical_m: Metres


class TerrainViolation(Event, tag_field="event", tag="terrain_violation", kw_only=True):
    """The drone, cruising over the terrain model, left the band of true heights it must keep:
    ``kind`` ``terrain_clearance`` (true height below the clearance ``limit_m``) or ``ceiling``
    (above the true-height ceiling ``limit_m``); ``true_height_m`` the worst true height of the
    excursion's first piece (negative: into the ground), and the position is where it was. Once
    per excursion and kind (the simulator's terrain monitor)."""

    kind: Literal["terrain_clearance", "ceiling"]
    true_height_m: Annotated[float, Meta(ge=-10_000.0, le=10_000.0)]
    limit_m: Metres


AnyEvent = (
    TookOff
    | ReachedStop
    | PickedUp
    | Delivered
    | Landed
    | LowBattery
    | Fault
    | GeofenceBreach
    | LossOfSeparation
    | TerrainViolation
)


# --- encoding and decoding -------------------------------------------------------------------


class _Header(Struct):
    v: int
    msg_id: MsgId


_encoder = msgspec.json.Encoder()
_header = msgspec.json.Decoder(_Header)
DECODERS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "telemetry": msgspec.json.Decoder(Telemetry),
    "state": msgspec.json.Decoder(State),
    "cmd": msgspec.json.Decoder(AnyCommand),
    "ack": msgspec.json.Decoder(Ack),
    "event": msgspec.json.Decoder(AnyEvent),
}


def encode(message: Message) -> bytes:
    """The JSON body of a message."""
    return _encoder.encode(message)


def decode(kind: str, body: bytes, drone_id: str | None = None) -> Message:
    """Decode and validate the body of a ``kind`` message (``telemetry``, ``state``, ``cmd``, ``ack``,
    ``event``); with ``drone_id`` (from the topic), the body must name the same drone.

    Raises :class:`ProtocolError` with ``reason`` one of ``too_large``, ``bad_version``,
    ``malformed``, ``spoofed``, ``unknown_kind``.
    """
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise ProtocolError("unknown_kind", f"no message kind {kind!r}")
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError("too_large", f"{len(body)} bytes > {MAX_BODY_BYTES}")
    try:
        header = _header.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError("malformed", str(exc)) from None
    except RecursionError:  # msgspec skips an unknown field's value recursively: "[[[[..." in 256 KiB
        raise ProtocolError("malformed", "JSON nested too deeply") from None
    if header.v != SCHEMA_VERSION:
        raise ProtocolError("bad_version", f"schema version {header.v}, expected {SCHEMA_VERSION}")
    try:
        message: Message = decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError("malformed", str(exc)) from None
    except RecursionError:
        raise ProtocolError("malformed", "JSON nested too deeply") from None
    if drone_id is not None and message.drone_id != drone_id:
        raise ProtocolError("spoofed", f"topic names drone {drone_id!r}, body {message.drone_id!r}")
    return message
