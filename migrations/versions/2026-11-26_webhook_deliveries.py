"""Webhook deliveries: a per-alert signing secret and the durable delivery table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 21:00:00+00:00

Why it exists and how to verify it: migrations/README.md, "0003".
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable first, filled per row (each alert its own random secret), then NOT NULL.
    op.add_column("alert", sa.Column("webhook_secret", sa.String(length=100), nullable=True))
    bind = op.get_bind()
    alert = sa.table("alert", sa.column("id", sa.BigInteger()), sa.column("webhook_secret", sa.String()))
    for (alert_id,) in bind.execute(sa.select(alert.c.id)).all():
        bind.execute(alert.update().where(alert.c.id == alert_id)
                     .values(webhook_secret="whsec_" + secrets.token_urlsafe(32)))
    with op.batch_alter_table("alert") as batch:
        batch.alter_column("webhook_secret", existing_type=sa.String(length=100), nullable=False)

    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("bid_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error_code", sa.String(length=40), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_webhook_delivery_alert_id_alert"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )
    op.create_index("ix_webhook_delivery_alert_id_created_at", "webhook_delivery", ["alert_id", "created_at", "id"])
    op.create_index("ix_webhook_delivery_state_next_attempt_at", "webhook_delivery", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_delivery_state_next_attempt_at", table_name="webhook_delivery")
    op.drop_index("ix_webhook_delivery_alert_id_created_at", table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("webhook_secret")
