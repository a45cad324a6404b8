"""Initial schema: offices, pads, fleet, requests, flights, commands, zones, API keys, audit log.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 08:36:27.457082
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_entity", ["entity", "entity_id", "seq"], unique=False)

    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    # The chain starts empty: its head is entry 0 with the genesis hash (64 zeros).
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
    op.create_table(
        "drone_models",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cruise_speed_mps", sa.Float(), nullable=False),
        sa.Column("cruise_altitude_m", sa.Float(), nullable=False),
        sa.Column("max_payload_kg", sa.Float(), nullable=False),
        sa.Column("battery_wh", sa.Float(), nullable=False),
        sa.Column("reserve_fraction", sa.Float(), nullable=False),
        sa.Column("wh_per_km", sa.Float(), nullable=False),
        sa.Column("wh_per_km_per_kg", sa.Float(), nullable=False),
        sa.Column("service_s", sa.Float(), nullable=False),
        sa.Column("turnaround_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_drone_models")),
    )
    op.create_table(
        "pads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pads")),
    )
    op.create_table(
        "ports",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ports")),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("feature", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
    )
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zones_active"), ["active"], unique=False)

    op.create_table(
        "drones",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("port_id", sa.String(length=64), nullable=False),
        sa.Column("energy_wh", sa.Float(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["model"], ["drone_models.name"], name=op.f("fk_drones_model_drone_models")),
        sa.ForeignKeyConstraint(["port_id"], ["ports.id"], name=op.f("fk_drones_port_id_ports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drones")),
    )
    op.create_table(
        "offices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pad_id", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["pad_id"], ["pads.id"], name=op.f("fk_offices_pad_id_pads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offices")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("office_id", sa.String(length=64), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role = 'office') = (office_id IS NOT NULL)", name=op.f("ck_api_keys_office_role")
        ),
        sa.CheckConstraint("role IN ('office', 'operator', 'admin')", name=op.f("ck_api_keys_role")),
        sa.ForeignKeyConstraint(["office_id"], ["offices.id"], name=op.f("fk_api_keys_office_id_offices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_keys_token_sha256")),
    )
    op.create_table(
        "flights",
        sa.Column("mission_id", sa.String(length=64), nullable=False),
        sa.Column("drone_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["drone_id"], ["drones.id"], name=op.f("fk_flights_drone_id_drones")),
        sa.PrimaryKeyConstraint("mission_id", name=op.f("pk_flights")),
    )
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flights_drone_id"), ["drone_id"], unique=False)
        batch_op.create_index("ix_flights_state", ["state"], unique=False)

    op.create_table(
        "requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("office_id", sa.String(length=64), nullable=False),
        sa.Column("pickup_pad_id", sa.String(length=64), nullable=True),
        sa.Column("pickup_lon", sa.Float(), nullable=False),
        sa.Column("pickup_lat", sa.Float(), nullable=False),
        sa.Column("dropoff_pad_id", sa.String(length=64), nullable=True),
        sa.Column("dropoff_lon", sa.Float(), nullable=False),
        sa.Column("dropoff_lat", sa.Float(), nullable=False),
        sa.Column("weight_kg", sa.Float(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("intake", sa.JSON(), nullable=True),
        sa.Column("pickup_code", sa.String(length=16), nullable=False),
        sa.Column("recipient_code", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("idempotency_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dropoff_pad_id"], ["pads.id"], name=op.f("fk_requests_dropoff_pad_id_pads")
        ),
        sa.ForeignKeyConstraint(["office_id"], ["offices.id"], name=op.f("fk_requests_office_id_offices")),
        sa.ForeignKeyConstraint(["pickup_pad_id"], ["pads.id"], name=op.f("fk_requests_pickup_pad_id_pads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
        sa.UniqueConstraint("office_id", "idempotency_key", name="office_idempotency_key"),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index("ix_requests_office_state", ["office_id", "state"], unique=False)
        batch_op.create_index("ix_requests_state_created", ["state", "created_at"], unique=False)

    op.create_table(
        "commands",
        sa.Column("cmd_id", sa.String(length=64), nullable=False),
        sa.Column("mission_id", sa.String(length=64), nullable=True),
        sa.Column("drone_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=8), nullable=True),
        sa.Column("result_detail", sa.Text(), nullable=True),
        sa.CheckConstraint("result IS NULL OR result IN ('ack', 'nack')", name=op.f("ck_commands_result")),
        sa.ForeignKeyConstraint(["drone_id"], ["drones.id"], name=op.f("fk_commands_drone_id_drones")),
        sa.ForeignKeyConstraint(
            ["mission_id"], ["flights.mission_id"], name=op.f("fk_commands_mission_id_flights")
        ),
        sa.PrimaryKeyConstraint("cmd_id", name=op.f("pk_commands")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index("ix_commands_drone_acked", ["drone_id", "acked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_commands_mission_id"), ["mission_id"], unique=False)

    op.create_table(
        "flight_legs",
        sa.Column("mission_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("stop_id", sa.String(length=64), nullable=True),
        sa.Column("waypoints", sa.JSON(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("eta", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mission_id"], ["flights.mission_id"], name=op.f("fk_flight_legs_mission_id_flights")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_flight_legs_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("mission_id", "seq", name=op.f("pk_flight_legs")),
    )
    op.create_table(
        "flight_requests",
        sa.Column("mission_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["mission_id"], ["flights.mission_id"], name=op.f("fk_flight_requests_mission_id_flights")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_flight_requests_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("mission_id", "request_id", name=op.f("pk_flight_requests")),
    )
    with op.batch_alter_table("flight_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flight_requests_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("flight_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flight_requests_request_id"))

    op.drop_table("flight_requests")
    op.drop_table("flight_legs")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commands_mission_id"))
        batch_op.drop_index("ix_commands_drone_acked")

    op.drop_table("commands")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_state_created")
        batch_op.drop_index("ix_requests_office_state")

    op.drop_table("requests")
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_index("ix_flights_state")
        batch_op.drop_index(batch_op.f("ix_flights_drone_id"))

    op.drop_table("flights")
    op.drop_table("api_keys")
    op.drop_table("offices")
    op.drop_table("drones")
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zones_active"))

    op.drop_table("zones")
    op.drop_table("ports")
    op.drop_table("pads")
    op.drop_table("drone_models")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_entity")

    op.drop_table("audit_entries")
