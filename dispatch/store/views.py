"""Immutable views the repositories return: plain data, safe to keep after the session is gone.

Inputs the repositories accept (``New...``) live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dispatch.audit import AuditRecord as AuditEntry  # one chain-of-custody entry, as stored


@dataclass(frozen=True, slots=True)
class Place:
    """A point in WGS84 (lon, lat), optionally a known pad."""

    lon: float
    lat: float
    pad_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewRequest:
    """What an office files: documents from ``pickup`` to ``dropoff``."""

    office_id: str
    pickup: Place
    dropoff: Place
    weight_kg: float
    priority: str = "normal"
    ready_at: datetime | None = None
    deadline: datetime | None = None
    description: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Intake:
    """The dispatcher's intake decision on a new request: accepted, or rejected with a reason."""

    accepted: bool
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as stored, without its secret codes."""

    id: str
    office_id: str
    pickup: Place
    dropoff: Place
    weight_kg: float
    priority: str
    ready_at: datetime | None
    deadline: datetime | None
    description: str
    state: str
    state_reason: str | None
    intake: dict[str, Any] | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CreatedRequest:
    """The outcome of filing a request: ``created`` is False when an idempotent retry returned it."""

    request: RequestView
    created: bool


@dataclass(frozen=True, slots=True)
class RequestCodes:
    """A request's secret codes (sensitive: show only to the filing office, send only to its drone)."""

    request_id: str
    pickup_code: str
    recipient_code: str


@dataclass(frozen=True, slots=True)
class RequestTimeline:
    """A request and every audit entry about it, oldest first."""

    request: RequestView
    entries: tuple[AuditEntry, ...]


@dataclass(frozen=True, slots=True)
class NewLeg:
    """One leg of a planned flight. ``action`` says what happens at its end (pickup, dropoff, return)."""

    action: str
    waypoints: list[list[float]]
    request_id: str | None = None
    stop_id: str | None = None
    distance_m: float | None = None
    eta: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewFlight:
    """A planned flight: a drone, a mission id, its legs in order and the requests it carries."""

    mission_id: str
    drone_id: str
    legs: tuple[NewLeg, ...]
    request_ids: tuple[str, ...]
    plan: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LegView:
    """A stored leg."""

    seq: int
    action: str
    waypoints: list[list[float]]
    request_id: str | None
    stop_id: str | None
    distance_m: float | None
    eta: datetime | None


@dataclass(frozen=True, slots=True)
class CommandView:
    """A command for a drone: created, then sent, then acked or nacked."""

    cmd_id: str
    mission_id: str | None
    drone_id: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None
    acked_at: datetime | None
    result: str | None
    result_detail: str | None


@dataclass(frozen=True, slots=True)
class RecordedCommand:
    """The outcome of recording a command: ``created`` is False when the cmd_id was already known."""

    command: CommandView
    created: bool


@dataclass(frozen=True, slots=True)
class FlightView:
    """A flight with its legs, carried requests and commands."""

    mission_id: str
    drone_id: str
    state: str
    plan: dict[str, Any]
    legs: tuple[LegView, ...]
    request_ids: tuple[str, ...]
    commands: tuple[CommandView, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly created API key: ``token`` is shown here once and never stored."""

    id: str
    token: str
    role: str
    office_id: str | None


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    """A stored API key (never the token)."""

    id: str
    role: str
    office_id: str | None
    label: str
    revoked: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ZoneView:
    """A stored zone: its GeoJSON feature and bookkeeping."""

    id: str
    feature: dict[str, Any]
    valid_from: datetime | None
    valid_until: datetime | None
    created_by: str
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """What a seed inserted or updated."""

    offices: int
    pads: int
    models: int
    ports: int
    drones: int


@dataclass(frozen=True, slots=True)
class OfficeView:
    """An office and the pad it sends from."""

    id: str
    name: str
    pad_id: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class DeliveryTimes:
    """When a delivered request was handed over, and the times its deadline is judged by."""

    delivered_at: datetime  # a delivered request changes no more: its last update is the hand-over
    ready_at: datetime  # the ready time filed, or the filing time
    deadline: datetime | None  # the deadline filed, if any
