"""The fleet view: the latest telemetry sample per drone, shared by the dispatcher processes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "drone_positions",
        sa.Column("drone_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sample", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("writer", sa.String(length=200), nullable=False),
        sa.Column("stamp_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("drone_id", name=op.f("pk_drone_positions")),
    )
    with op.batch_alter_table("drone_positions", schema=None) as batch_op:
        batch_op.create_index("ix_drone_positions_stamp", ["stamp_us"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("drone_positions", schema=None) as batch_op:
        batch_op.drop_index("ix_drone_positions_stamp")
    op.drop_table("drone_positions")
