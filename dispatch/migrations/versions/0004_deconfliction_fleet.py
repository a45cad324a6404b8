"""Strategic deconfliction's fleet fields: a model's cruise layers and a port's landing spots.

``drone_models.cruise_altitudes_m``: the layers as JSON (NULL: only ``cruise_altitude_m``);
``ports.landing_spots`` (NULL: the default of ``fleet.description``). Flights keep their
operational intent in their ``plan`` JSON, which needs no change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("drone_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cruise_altitudes_m", sa.JSON(), nullable=True))
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("landing_spots", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_column("landing_spots")
    with op.batch_alter_table("drone_models", schema=None) as batch_op:
        batch_op.drop_column("cruise_altitudes_m")
