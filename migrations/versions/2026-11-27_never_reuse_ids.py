"""Ids are never reused on SQLite, and access tokens carry a per-user version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:00:00+00:00

Why it exists and how to verify it: migrations/README.md, "0005".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose ids leave the database (tokens, URLs, alert filters, `?after=` replay positions).
REBUILT = ("user", "source", "alert", "bid", "job_event")


def _rebuild_sqlite(table: str, *, autoincrement: bool) -> None:
    # SQLite cannot add AUTOINCREMENT to a table: batch mode copies it into a new one (migrations/env.py
    # turns foreign keys off around this, so the copy's DROP TABLE cascades nowhere). Copying the rows
    # with their ids also sets sqlite_sequence to the highest id, so new ids start above every kept one.
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    op.add_column("user", sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False))
    if op.get_bind().dialect.name == "sqlite":
        for table in REBUILT:
            _rebuild_sqlite(table, autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in REBUILT:
            _rebuild_sqlite(table, autoincrement=False)
    with op.batch_alter_table("user") as batch:
        batch.drop_column("token_version")
