"""Migrations on both backends: one head, every step up and down, models equal to the migrated schema,
no empty revision, and the safe-migration helpers working for real.

pytest-alembic's built-in tests run once per backend through the `alembic_engine` of conftest.py.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import inspect

from forest.cli import migrate
from forest.config import Settings
from forest.database import Database
from tests.conftest import make_settings

__all__ = ["test_model_definitions_match_ddl", "test_single_head_revision", "test_up_down_consistency",
           "test_upgrade"]

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = {"user", "source", "bid", "crawl_job", "job_event", "alert", "idempotency_key", "ws_ticket",
          "webhook_delivery"}


def _columns(settings: Settings) -> dict[str, dict[str, bool]]:
    """{table: {column: nullable}} of the database."""

    async def run() -> dict[str, dict[str, bool]]:
        db = Database.from_settings(settings)
        try:
            async with db.engine.connect() as conn:
                return await conn.run_sync(lambda c: {
                    t: {col["name"]: bool(col["nullable"]) for col in inspect(c).get_columns(t)}
                    for t in inspect(c).get_table_names()})
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_migrations_upgrade_check_downgrade_base_and_again(migration_settings: Settings) -> None:
    """`forest db upgrade`, `db check` and `db downgrade base` as an operator runs them."""
    migrate.upgrade("head", migration_settings)
    assert TABLES <= set(_columns(migration_settings))
    migrate.check(migration_settings)  # raises if autogenerate finds any difference
    migrate.downgrade("base", migration_settings)
    assert set(_columns(migration_settings)) <= {"alembic_version"}
    migrate.upgrade("head", migration_settings)
    migrate.check(migration_settings)


def _is_empty(function: ast.FunctionDef) -> bool:
    body = [node for node in function.body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))  # docstring, `...`
            and not isinstance(node, ast.Pass)]
    return not body


def test_migrations_none_is_empty() -> None:
    """Every revision's upgrade and downgrade do something (an empty revision is a forgotten autogenerate)."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    empty = []
    for revision in script.walk_revisions():
        if isinstance(revision.down_revision, tuple):
            continue  # a merge point has nothing to do by design
        tree = ast.parse(Path(revision.path).read_text())
        for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            if function.name in ("upgrade", "downgrade") and _is_empty(function):
                empty.append(f"{Path(revision.path).name}: {function.name}()")
    assert not empty, f"empty migration functions: {empty}"


@pytest.mark.parametrize("helper_revision", ["f_safe"])
def test_migration_ops_helpers_apply_and_revert(migration_settings: Settings, helper_revision: str) -> None:
    """forest.migration_ops builds the index, the NOT NULL and the foreign key on both backends, twice."""
    config = migrate.alembic_config(migration_settings, extra_versions=(FIXTURES / "safe",))
    command.upgrade(config, "0003")
    for _round in range(2):
        command.upgrade(config, helper_revision)
        columns = _columns(migration_settings)
        assert columns["bid"]["region"] is False  # NOT NULL
        assert "owner_id" in columns["source"]
        command.downgrade(config, "0003")
        assert "region" not in _columns(migration_settings)["bid"]


def test_sqlite_rebuild_to_autoincrement_keeps_every_row_and_reference(tmp_path: Path) -> None:
    """0005 copies user, source, alert, bid and job_event into AUTOINCREMENT tables: nothing may cascade away."""
    import sqlite3

    db = tmp_path / "m.db"
    settings = make_settings(f"sqlite+aiosqlite:///{db}", tmp_path)
    migrate.upgrade("0003", settings)
    conn = sqlite3.connect(db)
    conn.executescript("""
        PRAGMA foreign_keys=ON;
        INSERT INTO user (id, email, password_hash, is_admin, created_at)
            VALUES (1, 'a@example.com', 'h', 0, '2026-01-01'), (2, 'b@example.com', 'h', 0, '2026-01-01');
        INSERT INTO source (id, name, start_url, max_pages, timezone, polite, enabled, created_at)
            VALUES (4, 'board', 'http://board.example/', 5, 'UTC', 1, 1, '2026-01-01');
        INSERT INTO bid (id, source_id, external_id, title, department, views, post_date, url, attachments,
                         content_hash, first_seen_at, updated_at)
            VALUES (9, 4, 'n1', 't', 'd', 1, '2026-01-01', 'http://board.example/1', '[]', 'c', '2026-01-01',
                    '2026-01-01');
        INSERT INTO alert (id, user_id, name, filters, webhook_secret, created_at)
            VALUES (7, 2, 'a', '{"source_id": [4]}', 'whsec_x', '2026-01-01');
        INSERT INTO job_event (id, user_id, alert_id, type, data, at)
            VALUES (5, 2, 7, 'bid.new', '{}', '2026-01-01');
    """)
    conn.commit()
    conn.close()

    migrate.upgrade("head", settings)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys=ON")
    assert conn.execute("SELECT id, token_version FROM user ORDER BY id").fetchall() == [(1, 0), (2, 0)]
    assert conn.execute("SELECT id, source_id FROM bid").fetchall() == [(9, 4)]
    assert conn.execute("SELECT id, user_id FROM alert").fetchall() == [(7, 2)]
    assert conn.execute("SELECT id, alert_id FROM job_event").fetchall() == [(5, 7)]
    for table in ("user", "source", "alert", "bid", "job_event"):
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        assert "AUTOINCREMENT" in sql, sql
    conn.execute("DELETE FROM user WHERE id = 2")
    conn.execute("INSERT INTO user (email, password_hash, is_admin, created_at) VALUES ('c@example.com', 'h', 0, 'x')")
    assert conn.execute("SELECT id FROM user WHERE email = 'c@example.com'").fetchone() == (3,)
    conn.commit()
    conn.close()
    migrate.check(settings)
    migrate.downgrade("0003", settings)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT id FROM user ORDER BY id").fetchall() == [(1,), (3,)]
    assert conn.execute("SELECT count(*) FROM bid").fetchone() == (1,)
    conn.close()
