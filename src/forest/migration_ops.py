"""Schema changes that keep a live PostgreSQL serving: the building blocks of Forest's migrations.

On PostgreSQL each helper takes the form that holds no long lock on a big table (a concurrent index build
outside the migration's transaction, a constraint added `NOT VALID` and validated in its own step); on
SQLite, where one writer runs at a time and nothing is built concurrently, the plain form. The migration
environment sets `lock_timeout` for every migration (migrations/env.py). How and when to use each:
migrations/README.md, "Writing a safe migration"; tests/migrations/test_lint.py checks the SQL with squawk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op


def _postgresql() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def _quote(name: str) -> str:
    return str(op.get_context().dialect.identifier_preparer.quote(name))


def _constraint_exists(name: str) -> bool:
    """Whether a constraint of this name is in place (a re-run after a failed autocommit step); never offline."""
    if op.get_context().as_sql:
        return False
    found = op.get_bind().execute(sa.text(
        "SELECT 1 FROM pg_constraint WHERE conname = :name AND connamespace = current_schema()::regnamespace"),
        {"name": name}).first()
    return found is not None


def create_index_concurrently(name: str, table: str, columns: Sequence[str | sa.TextClause], *,
                              unique: bool = False, **kw: Any) -> None:
    """Build an index without blocking writes: `CREATE INDEX CONCURRENTLY` in its own autocommit step.

    A concurrent build that failed (a lock timeout, a duplicate for a unique index) leaves an INVALID index
    behind; running the migration again drops that and builds anew. `kw` goes to `op.create_index`
    (`postgresql_include=`, `postgresql_where=`, `postgresql_using=`).
    """
    if not _postgresql():
        op.create_index(name, table, list(columns), unique=unique,
                        **{k: v for k, v in kw.items() if not k.startswith("postgresql_")})
        return
    with op.get_context().autocommit_block():
        if not op.get_context().as_sql:
            invalid = op.get_bind().execute(sa.text(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid"),
                {"name": name}).first()
            if invalid is not None:
                op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(name, table, list(columns), unique=unique, postgresql_concurrently=True, if_not_exists=True,
                        **kw)


def drop_index_concurrently(name: str, table: str) -> None:
    """Drop an index without blocking reads and writes: `DROP INDEX CONCURRENTLY` in its own autocommit step."""
    if not _postgresql():
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def set_not_null(table: str, column: str, *, existing_type: sa.types.TypeEngine[Any]) -> None:
    """Make a filled column NOT NULL without holding an exclusive lock while every row is checked.

    PostgreSQL: a `CHECK (column IS NOT NULL) NOT VALID` (instant), validated in its own step (reads and
    writes go on meanwhile), after which `SET NOT NULL` trusts the check instead of scanning the table;
    the check is then dropped. Fill the column (in batches, for a big table) before calling this.
    """
    if not _postgresql():
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=existing_type, nullable=False)
        return
    check = f"ck_{table}_{column}_not_null"
    if not _constraint_exists(check):
        op.create_check_constraint(op.f(check), table, sa.text(f"{_quote(column)} IS NOT NULL"),
                                   postgresql_not_valid=True)
    with op.get_context().autocommit_block():
        op.execute(f"ALTER TABLE {_quote(table)} VALIDATE CONSTRAINT {_quote(check)}")
        op.alter_column(table, column, existing_type=existing_type, nullable=False)
        # The check only stood in for NOT NULL while the rows were checked; dropping it is the point.
        op.execute(f"-- squawk-ignore ban-drop-constraint\n"
                   f"ALTER TABLE {_quote(table)} DROP CONSTRAINT IF EXISTS {_quote(check)}")


def add_foreign_key(name: str, table: str, referent: str, local_cols: Sequence[str], remote_cols: Sequence[str],
                    *, ondelete: str | None = None) -> None:
    """A foreign key added `NOT VALID` (a brief lock) and validated in its own step (no lock on writes).

    Put the referencing column's index in place first (`create_index_concurrently`), so deletes on the
    referenced table do not scan this one.
    """
    if not _postgresql():
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, referent, list(local_cols), list(remote_cols), ondelete=ondelete)
        return
    if not _constraint_exists(name):
        op.create_foreign_key(op.f(name), table, referent, list(local_cols), list(remote_cols), ondelete=ondelete,
                              postgresql_not_valid=True)
    with op.get_context().autocommit_block():
        op.execute(f"ALTER TABLE {_quote(table)} VALIDATE CONSTRAINT {_quote(name)}")
