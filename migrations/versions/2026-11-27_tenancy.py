"""Tenancy of crawled data: source owners, ad-hoc sources keyed by their full URL, the alert-filter index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00+00:00

Why it exists, the data migration of existing ad-hoc sources, and how to verify it: migrations/README.md, "0004".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

# The same rules as the application, so migrated rows look exactly like new ones.
from forest.alerts.models import routes_of
from forest.migration_ops import add_foreign_key, create_index_concurrently
from forest.sources import urls

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COVERING = "ix_bid_post_date_covering"
LOCK_TIMEOUT = "5s"

source = sa.table("source", sa.column("id", BigId), sa.column("name", sa.String()), sa.column("start_url", sa.String()),
                  sa.column("enabled", sa.Boolean()), sa.column("owner_id", BigId), sa.column("url_key", sa.String()))
crawl_job = sa.table("crawl_job", sa.column("source_id", BigId), sa.column("user_id", BigId),
                     sa.column("created_at", sa.DateTime(timezone=True)))
user = sa.table("user", sa.column("id", BigId), sa.column("is_admin", sa.Boolean()))
alert = sa.table("alert", sa.column("id", BigId), sa.column("filters", sa.JSON()))
alert_route = sa.table("alert_route", sa.column("alert_id", BigId), sa.column("kind", sa.String()),
                       sa.column("value", sa.String()))


def _swap_covering_index(include: str) -> None:
    """Rebuild the analytics index with another INCLUDE list without a window where none exists."""
    with op.get_context().autocommit_block():
        op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {COVERING}_new")  # left INVALID by a failed earlier run
        op.execute(f"CREATE INDEX CONCURRENTLY {COVERING}_new ON bid (post_date) INCLUDE ({include})")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {COVERING}")
        # Only the planner refers to this index, never by name: the rename breaks no client.
        op.execute(f"-- squawk-ignore renaming-object\nALTER INDEX {COVERING}_new RENAME TO {COVERING}")
        op.execute("RESET lock_timeout")


def _adhoc_name(owner_id: int | None, normalised: str, url_key: str) -> str:
    name = f"url:{normalised}" if owner_id is None else f"url:u{owner_id}:{normalised}"
    return name if len(name) <= 200 else f"{name[:187]}#{url_key[:12]}"


def _migrate_adhoc_sources(bind: sa.Connection) -> None:
    """Give every existing ad-hoc source (named `url:<host><path>`) an owner and its full-URL key."""
    rows = bind.execute(sa.select(source.c.id, source.c.start_url).where(source.c.name.like("url:%"))
                        .order_by(source.c.id)).all()
    taken: set[tuple[int | None, str]] = set()
    names = set(bind.execute(sa.select(source.c.name)).scalars().all())
    for source_id, start_url in rows:
        # The creator is the user of its first job; an admin's (or one nobody can be traced to) stays shared.
        first = bind.execute(sa.select(crawl_job.c.user_id, user.c.is_admin)
                             .join(user, user.c.id == crawl_job.c.user_id)
                             .where(crawl_job.c.source_id == source_id)
                             .order_by(crawl_job.c.created_at).limit(1)).first()
        owner_id = first.user_id if first is not None and not first.is_admin else None
        normalised = urls.normalise(start_url)
        url_key = urls.key(normalised)
        values: dict[str, object] = {"owner_id": owner_id, "enabled": True}
        if (owner_id, url_key) not in taken:  # two old spellings of one URL: the older keeps the key
            taken.add((owner_id, url_key))
            values["url_key"] = url_key
            name = _adhoc_name(owner_id, normalised, url_key)
            if name not in names:
                names.add(name)
                values["name"] = name
        bind.execute(source.update().where(source.c.id == source_id).values(**values))


def _fill_alert_routes(bind: sa.Connection) -> None:
    for alert_id, filters in bind.execute(sa.select(alert.c.id, alert.c.filters)).all():
        bind.execute(alert_route.insert(), [{"alert_id": alert_id, "kind": kind, "value": value}
                                            for kind, value in routes_of(filters)])


def _add_source_owner() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # migrations/env.py turns SQLite's foreign keys off around every migration: this copy-and-drop of
        # `source` cascades to no bid or job.
        with op.batch_alter_table("source") as batch:
            batch.add_column(sa.Column("owner_id", BigId, nullable=True))
            batch.add_column(sa.Column("url_key", sa.String(length=64), nullable=True))
            batch.create_foreign_key(op.f("fk_source_owner_id_user"), "user", ["owner_id"], ["id"],
                                     ondelete="CASCADE")
            batch.create_unique_constraint(op.f("uq_source_owner_id_url_key"), ["owner_id", "url_key"])
            batch.create_index(op.f("ix_source_owner_id"), ["owner_id"])
        return
    # PostgreSQL: nullable columns (no rewrite), indexes built concurrently, the unique constraint adopted
    # from its concurrently built index, the foreign key added NOT VALID and validated apart.
    op.add_column("source", sa.Column("owner_id", BigId, nullable=True))
    op.add_column("source", sa.Column("url_key", sa.String(length=64), nullable=True))
    create_index_concurrently("ix_source_owner_id", "source", ["owner_id"])
    create_index_concurrently("uq_source_owner_id_url_key", "source", ["owner_id", "url_key"], unique=True)
    op.execute("ALTER TABLE source ADD CONSTRAINT uq_source_owner_id_url_key "
               "UNIQUE USING INDEX uq_source_owner_id_url_key")
    add_foreign_key("fk_source_owner_id_user", "source", "user", ["owner_id"], ["id"], ondelete="CASCADE")


def upgrade() -> None:
    _add_source_owner()
    op.create_table(
        "alert_route",
        sa.Column("alert_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_alert_route_alert_id_alert"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id", "kind", "value", name=op.f("pk_alert_route")),
    )
    op.create_index("ix_alert_route_kind_value", "alert_route", ["kind", "value"])
    bind = op.get_bind()
    # The data steps read rows, so they run online only; `alembic upgrade --sql` (the migration lint)
    # emits the schema changes, which are what can lock a table.
    if not context.is_offline_mode():
        _migrate_adhoc_sources(bind)
        _fill_alert_routes(bind)
    if bind.dialect.name == "postgresql":
        _swap_covering_index("department, views, source_id")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _swap_covering_index("department, views")
    op.drop_index("ix_alert_route_kind_value", table_name="alert_route")
    op.drop_table("alert_route")
    # Ad-hoc sources keep their new names; the old code looks them up by `url:<host><path>`, so its next
    # bare-URL crawl of such a board starts a new source.
    with op.batch_alter_table("source") as batch:
        batch.drop_index(op.f("ix_source_owner_id"))
        batch.drop_constraint(op.f("uq_source_owner_id_url_key"), type_="unique")
        batch.drop_constraint(op.f("fk_source_owner_id_user"), type_="foreignkey")
        batch.drop_column("url_key")
        batch.drop_column("owner_id")
