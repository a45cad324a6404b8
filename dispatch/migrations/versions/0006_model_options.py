"""A drone model's optional fields: weather limits and terrain following.

``drone_models.options``: the optional fields FLEET.json gives for the model that differ from
their defaults (``max_wind_mps`` ..., ``climb_rate_mps``, ``wh_per_100m_climb``), as JSON
(NULL: all defaults).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("drone_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("drone_models", schema=None) as batch_op:
        batch_op.drop_column("options")
