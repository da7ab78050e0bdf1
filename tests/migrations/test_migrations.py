"""Migrations: upgrade, downgrade and upgrade again on both backends, and models that match them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect

from forest.cli import migrate
from forest.database import Database
from tests.conftest import _recreate_pg, make_settings, pg_url


def _tables(settings) -> set[str]:  # type: ignore[no-untyped-def]
    async def run() -> set[str]:
        db = Database.from_settings(settings)
        try:
            async with db.engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_upgrade_downgrade_upgrade_and_models_agree(backend: str, tmp_path: Path) -> None:
    if backend == "postgres":
        asyncio.run(_recreate_pg("forest_test_migrations"))
        url = pg_url("forest_test_migrations")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    settings = make_settings(url, tmp_path)
    migrate.upgrade("head", settings)
    assert {"user", "source", "bid", "crawl_job", "job_event", "alert", "idempotency_key"} <= _tables(settings)
    migrate.check(settings)  # raises if autogenerate finds any difference
    migrate.downgrade("base", settings)
    assert _tables(settings) <= {"alembic_version"}
    migrate.upgrade("head", settings)
    migrate.check(settings)
