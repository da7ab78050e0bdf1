"""Alert feeds: the secret feed link of an alert (Atom and iCalendar, no bearer token).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:30:00+00:00

Why it exists and how to verify it: migrations/README.md, "0007".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new, empty table: no lock on a busy one, nothing to backfill.
    op.create_table(
        "alert_feed",
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_alert_feed_alert_id_alert"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert_feed")),
        sa.UniqueConstraint("token_id", name=op.f("uq_alert_feed_token_id")),
    )


def downgrade() -> None:
    op.drop_table("alert_feed")
