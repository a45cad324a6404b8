"""Drones taken out of service by an operator: the reason, kept across restarts (NULL: in service).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("drones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("out_of_service", sa.String(length=500), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("drones", schema=None) as batch_op:
        batch_op.drop_column("out_of_service")
