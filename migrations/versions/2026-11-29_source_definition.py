"""Source definitions: a JSON column holding how a board is paged and read.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 20:00:00+00:00

Why it exists and how to verify it: migrations/README.md, "0008".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: a catalogue-only change on PostgreSQL, the small source table is never rewritten.
    op.add_column("source", sa.Column(
        "definition", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.drop_column("definition")
