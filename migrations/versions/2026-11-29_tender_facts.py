"""Tender facts: deadline, amount and friends on `bid`, the body and evidence in `bid_detail`, search over both.

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-29 19:30:00+00:00

Why each column, table and index exists and how to verify it: migrations/README.md, "0006".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Waiting longer than this for a lock on `bid` (a long report holding it) fails the migration instead
# of queueing every crawl and list request behind it; run it again when the table is quiet.
LOCK_TIMEOUT = "5s"
BTREE = [("ix_bid_closes_at_id", ["closes_at", "id"]), ("ix_bid_amount_id", ["amount", "id"])]
UtcDateTime = sa.DateTime(timezone=True)

# SQLite: `q` is served by an FTS5 trigram table kept in step with `bid` and `bid_detail` by triggers
# (rowid = bid.id). PostgreSQL uses trigram GIN indexes instead.
SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE bid_search USING fts5(title, body, tokenize='trigram')",
    "INSERT INTO bid_search (rowid, title, body) "
    "SELECT bid.id, bid.title, coalesce(bid_detail.body, '') FROM bid LEFT JOIN bid_detail ON bid_detail.bid_id = bid.id",
    "CREATE TRIGGER bid_search_insert AFTER INSERT ON bid BEGIN "
    "INSERT INTO bid_search (rowid, title, body) VALUES (new.id, new.title, ''); END",
    "CREATE TRIGGER bid_search_title AFTER UPDATE OF title ON bid BEGIN "
    "UPDATE bid_search SET title = new.title WHERE rowid = new.id; END",
    "CREATE TRIGGER bid_search_delete AFTER DELETE ON bid BEGIN DELETE FROM bid_search WHERE rowid = old.id; END",
    "CREATE TRIGGER bid_search_body_insert AFTER INSERT ON bid_detail BEGIN "
    "UPDATE bid_search SET body = new.body WHERE rowid = new.bid_id; END",
    "CREATE TRIGGER bid_search_body_update AFTER UPDATE OF body ON bid_detail BEGIN "
    "UPDATE bid_search SET body = new.body WHERE rowid = new.bid_id; END",
    "CREATE TRIGGER bid_search_body_delete AFTER DELETE ON bid_detail BEGIN "
    "UPDATE bid_search SET body = '' WHERE rowid = old.bid_id; END",
]
SQLITE_SEARCH_DROP = [
    "DROP TRIGGER IF EXISTS bid_search_body_delete", "DROP TRIGGER IF EXISTS bid_search_body_update",
    "DROP TRIGGER IF EXISTS bid_search_body_insert", "DROP TRIGGER IF EXISTS bid_search_delete",
    "DROP TRIGGER IF EXISTS bid_search_title", "DROP TRIGGER IF EXISTS bid_search_insert",
    "DROP TABLE IF EXISTS bid_search",
]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    # Nullable without a default: on PostgreSQL a catalogue change, no table rewrite.
    with op.batch_alter_table("bid") as batch:
        batch.add_column(sa.Column("closes_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("opens_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("amount", sa.Numeric(20, 2), nullable=True))
        batch.add_column(sa.Column("amount_kind", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("category", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("contract_method", sa.String(length=40), nullable=True))
    op.create_table(
        "bid_detail",
        sa.Column("bid_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False,
                  nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("facts", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(["bid_id"], ["bid.id"], name=op.f("fk_bid_detail_bid_id_bid"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bid_id", name=op.f("pk_bid_detail")),
    )
    if not postgresql:
        for name, columns in BTREE:
            op.create_index(name, "bid", columns)
        for statement in SQLITE_SEARCH:
            op.execute(statement)
        return
    # A plain CREATE INDEX blocks every write to `bid` (crawls) for as long as it builds on a big table;
    # CONCURRENTLY does not, and cannot run inside a transaction.
    with op.get_context().autocommit_block():
        op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        for name, columns in BTREE:
            op.create_index(name, "bid", columns, postgresql_concurrently=True, if_not_exists=True)
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_bid_detail_body_trgm "
                   "ON bid_detail USING gin (body gin_trgm_ops)")
        op.execute("RESET lock_timeout")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        op.execute("DROP INDEX IF EXISTS ix_bid_detail_body_trgm")
    else:
        for statement in SQLITE_SEARCH_DROP:
            op.execute(statement)
    for name, _columns in reversed(BTREE):
        op.drop_index(name, table_name="bid", if_exists=True)
    op.drop_table("bid_detail")
    with op.batch_alter_table("bid") as batch:
        for column in ("contract_method", "category", "currency", "amount_kind", "amount", "opens_at", "closes_at"):
            batch.drop_column(column)
