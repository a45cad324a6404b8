"""The event inbox: drone events received and not yet handled, so a dispatcher that takes over
replays what a killed one had acknowledged to the broker but not handled.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "event_inbox",
        sa.Column("session", sa.String(length=200), nullable=False),
        sa.Column("drone_id", sa.String(length=64), nullable=False),
        sa.Column("msg_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session", "drone_id", "msg_id", name=op.f("pk_event_inbox")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("event_inbox")
