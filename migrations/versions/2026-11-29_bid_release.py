"""Bid release history: the earlier versions of an edited notice, for the OCDS records view.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 23:00:00+00:00

Why it exists and how to verify it: migrations/README.md, "0010".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UtcDateTime = sa.DateTime(timezone=True)
_COLUMNS = ("bid_id, content_hash, updated_at, title, url, attachments, closes_at, amount, currency, category, "
            "contract_method, body, facts")
# When an edit replaces a notice (its content hash changes: crawler upserts, any other writer too), the
# replaced version is copied here with the body and facts its `bid_detail` row still holds (ingest writes the
# new ones after the `bid` row). Inserts and views-only updates never fire it, so new notices cost nothing.
PG_KEEP = [
    "CREATE FUNCTION bid_release_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"INSERT INTO bid_release ({_COLUMNS}) "
    "SELECT OLD.id, OLD.content_hash, OLD.updated_at, OLD.title, OLD.url, OLD.attachments, OLD.closes_at, "
    "OLD.amount, OLD.currency, OLD.category, OLD.contract_method, coalesce(d.body, ''), "
    "coalesce(d.facts - 'evidence', '{}') "
    "FROM (VALUES (1)) AS one LEFT JOIN bid_detail AS d ON d.bid_id = OLD.id "
    "ON CONFLICT DO NOTHING; RETURN NULL; END $$",
    "CREATE TRIGGER bid_release_keep AFTER UPDATE OF content_hash ON bid FOR EACH ROW "
    "WHEN (OLD.content_hash IS DISTINCT FROM NEW.content_hash) EXECUTE FUNCTION bid_release_keep()",
]
# `WHERE true` before ON CONFLICT: SQLite's parser needs it after an INSERT … SELECT.
SQLITE_KEEP = [
    "CREATE TRIGGER bid_release_keep AFTER UPDATE OF content_hash ON bid "
    "WHEN old.content_hash IS NOT new.content_hash BEGIN "
    f"INSERT INTO bid_release ({_COLUMNS}) "
    "SELECT old.id, old.content_hash, old.updated_at, old.title, old.url, old.attachments, old.closes_at, "
    "old.amount, old.currency, old.category, old.contract_method, "
    "coalesce((SELECT body FROM bid_detail WHERE bid_id = old.id), ''), "
    "coalesce((SELECT json_remove(facts, '$.evidence') FROM bid_detail WHERE bid_id = old.id), '{}') "
    "WHERE true ON CONFLICT DO NOTHING; END",
]


def upgrade() -> None:
    # A new table (nothing reads it yet) and a trigger; no existing row is rewritten or scanned.
    op.create_table(
        "bid_release",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bid_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("attachments", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("closes_at", UtcDateTime, nullable=True),
        sa.Column("amount", sa.Numeric(20, 2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("contract_method", sa.String(length=40), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("facts", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(["bid_id"], ["bid.id"], name=op.f("fk_bid_release_bid_id_bid"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_release")),
        sa.UniqueConstraint("bid_id", "updated_at", "content_hash",
                            name=op.f("uq_bid_release_bid_id_updated_at_content_hash")),
    )
    statements = PG_KEEP if op.get_bind().dialect.name == "postgresql" else SQLITE_KEEP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS bid_release_keep ON bid")
        op.execute("DROP FUNCTION IF EXISTS bid_release_keep()")
    else:
        op.execute("DROP TRIGGER IF EXISTS bid_release_keep")
    op.drop_table("bid_release")
