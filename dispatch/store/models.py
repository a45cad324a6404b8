"""The database schema as SQLAlchemy 2 ORM models.

The migrations in ``dispatch/migrations`` create exactly this schema (a test compares them).
Columns holding secrets a drone or an office needs back (the pickup and recipient codes) carry
``info={"sensitive": True}``; the repositories never put them in ordinary views.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dispatch.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SENSITIVE = {"sensitive": True}

API_KEY_ROLES = ("office", "operator", "admin")
COMMAND_RESULTS = ("ack", "nack")


class Base(DeclarativeBase):
    """Declarative base: named constraints (so SQLite batch migrations can find them), UTC times."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Pad(Base):
    """A landing pad where documents are picked up or delivered."""

    __tablename__ = "pads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]


class Office(Base):
    """A government office that files requests from its own pad."""

    __tablename__ = "offices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    pad_id: Mapped[str | None] = mapped_column(ForeignKey("pads.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class DroneModelRow(Base):
    """A drone model's performance and energy figures (the ``models`` of FLEET.json)."""

    __tablename__ = "drone_models"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cruise_speed_mps: Mapped[float] = mapped_column(Float)
    cruise_altitude_m: Mapped[float] = mapped_column(Float)
    max_payload_kg: Mapped[float] = mapped_column(Float)
    battery_wh: Mapped[float] = mapped_column(Float)
    reserve_fraction: Mapped[float] = mapped_column(Float)
    wh_per_km: Mapped[float] = mapped_column(Float)
    wh_per_km_per_kg: Mapped[float] = mapped_column(Float)
    service_s: Mapped[float] = mapped_column(Float)
    turnaround_s: Mapped[float] = mapped_column(Float)
    cruise_altitudes_m: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # None: one layer
    options: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, nullable=True
    )  # optional fields; None: defaults


class PortRow(Base):
    """A drone port (depot)."""

    __tablename__ = "ports"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    landing_spots: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the default


class DroneRow(Base):
    """One airframe, based at a port."""

    __tablename__ = "drones"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(ForeignKey("drone_models.name"))
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id"))
    energy_wh: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The reason an operator took it out of service (None: in service); see drone_service.
    out_of_service: Mapped[str | None] = mapped_column(String(500))


class RequestRow(Base):
    """A delivery request: documents from a pickup place to a drop-off place."""

    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("office_id", "idempotency_key", name="office_idempotency_key"),
        Index("ix_requests_state_created", "state", "created_at"),
        Index("ix_requests_office_state", "office_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"))
    pickup_pad_id: Mapped[str | None] = mapped_column(ForeignKey("pads.id"))
    pickup_lon: Mapped[float] = mapped_column(Float)
    pickup_lat: Mapped[float] = mapped_column(Float)
    dropoff_pad_id: Mapped[str | None] = mapped_column(ForeignKey("pads.id"))
    dropoff_lon: Mapped[float] = mapped_column(Float)
    dropoff_lat: Mapped[float] = mapped_column(Float)
    weight_kg: Mapped[float] = mapped_column(Float)
    priority: Mapped[str] = mapped_column(String(16))
    ready_at: Mapped[datetime | None]
    deadline: Mapped[datetime | None]
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    state_reason: Mapped[str | None] = mapped_column(Text)
    intake: Mapped[dict[str, Any] | None]
    pickup_code: Mapped[str] = mapped_column(String(16), info=SENSITIVE)
    recipient_code: Mapped[str] = mapped_column(String(16), info=SENSITIVE)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FlightRow(Base):
    """One drone trip (a mission): its legs, the requests it carries and the commands sent for it."""

    __tablename__ = "flights"
    __table_args__ = (Index("ix_flights_state", "state"),)

    mission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    drone_id: Mapped[str] = mapped_column(ForeignKey("drones.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    plan: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FlightLegRow(Base):
    """One leg of a flight, from one stop to the next, with its waypoints ``[[lon, lat], ...]``."""

    __tablename__ = "flight_legs"

    mission_id: Mapped[str] = mapped_column(ForeignKey("flights.mission_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"))
    stop_id: Mapped[str | None] = mapped_column(String(64))
    waypoints: Mapped[list[Any]] = mapped_column(JSON)
    distance_m: Mapped[float | None] = mapped_column(Float)
    eta: Mapped[datetime | None]


class FlightRequestRow(Base):
    """Which requests a flight carries."""

    __tablename__ = "flight_requests"

    mission_id: Mapped[str] = mapped_column(ForeignKey("flights.mission_id"), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True, index=True)


class CommandRow(Base):
    """A command sent (or about to be sent) to a drone; ``cmd_id`` makes re-sending idempotent."""

    __tablename__ = "commands"
    __table_args__ = (
        CheckConstraint("result IS NULL OR result IN ('ack', 'nack')", name="result"),
        Index("ix_commands_drone_acked", "drone_id", "acked_at"),
    )

    cmd_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mission_id: Mapped[str | None] = mapped_column(ForeignKey("flights.mission_id"), index=True)
    drone_id: Mapped[str] = mapped_column(ForeignKey("drones.id"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(8))
    result_detail: Mapped[str | None] = mapped_column(Text)


class ZoneRow(Base):
    """An airspace zone, stored as its GeoJSON feature (the airspace format)."""

    __tablename__ = "zones"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    feature: Mapped[dict[str, Any]]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key: only the sha256 of the token is stored; the token is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('office', 'operator', 'admin')", name="role"),
        CheckConstraint("(role = 'office') = (office_id IS NOT NULL)", name="office_role"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    office_id: Mapped[str | None] = mapped_column(ForeignKey("offices.id"))
    label: Mapped[str] = mapped_column(String(200), default="")
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEntryRow(Base):
    """One chain-of-custody entry; ``payload`` is canonical JSON text (see ``dispatch.audit``)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_entity", "entity", "entity_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The single row recording the chain head; appends lock it, so the chain never forks."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class DronePositionRow(Base):
    """The fleet view: the latest telemetry sample per drone that any dispatcher process heard.

    Dispatcher processes split the telemetry (an MQTT 5 shared subscription); each writes the latest
    sample of the drones it heard, and the leader reads what the others wrote. ``sample`` is the
    protocol body (JSON text of :class:`fleet.messages.Telemetry`), ``received_at`` the writer's
    clock when it heard it, ``stamp_us`` the database's clock at the write (the readers' cursor).
    """

    __tablename__ = "drone_positions"
    __table_args__ = (Index("ix_drone_positions_stamp", "stamp_us"),)

    drone_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime]
    sample: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    writer: Mapped[str] = mapped_column(String(200))
    stamp_us: Mapped[int] = mapped_column(BigInteger)


class EventInboxRow(Base):
    """A drone event the dispatcher's link received and has not yet handled (the inbox).

    The link writes each event here *before* it acknowledges it to the broker, and the dispatcher
    deletes the row once the event is handled: an event a killed dispatcher had received but not
    handled is replayed by the process that takes over (``session`` is the area's MQTT client id,
    shared by the leader and its standbys). ``body`` is the event exactly as received (JSON text,
    signature included); rows replay in ``(received_at, seq)`` order.
    """

    __tablename__ = "event_inbox"

    session: Mapped[str] = mapped_column(String(200), primary_key=True)
    drone_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(BigInteger)
