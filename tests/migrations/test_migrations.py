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
