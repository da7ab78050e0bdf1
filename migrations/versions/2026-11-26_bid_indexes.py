"""Bid indexes: keyset orders, filtered lists, title search (trigram, PostgreSQL) and analytics.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:00:00+00:00

Why each index exists and the plan it changes: migrations/README.md, "0002".
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, columns): B-tree indexes on every backend.
BTREE = [
    ("ix_bid_post_date_id", ["post_date", "id"]),
    ("ix_bid_views_id", ["views", "id"]),
    ("ix_bid_department_post_date_id", ["department", "post_date", "id"]),
    ("ix_bid_source_id_post_date_id", ["source_id", "post_date", "id"]),
]


def upgrade() -> None:
    for name, columns in BTREE:
        op.create_index(name, "bid", columns)
    # INCLUDE makes it covering on PostgreSQL (index-only scans for the analytics); SQLite has no INCLUDE.
    op.create_index("ix_bid_post_date_covering", "bid", ["post_date"], postgresql_include=["department", "views"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_bid_title_trgm ON bid USING gin (title gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_bid_title_trgm")
    op.drop_index("ix_bid_post_date_covering", table_name="bid")
    for name, _columns in reversed(BTREE):
        op.drop_index(name, table_name="bid")
