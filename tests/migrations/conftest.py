"""pytest-alembic's fixtures on both backends: a scratch PostgreSQL database and a SQLite file per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import Engine, create_engine

from forest.cli import migrate
from forest.config import Settings
from tests.plugin import database_name, make_settings, pg_url, recreate_database

MIGRATIONS_DB = database_name("migrations")


@pytest.fixture(params=["postgres", "sqlite"])
def migration_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for an empty database on each backend."""
    if request.param == "postgres":
        asyncio.run(recreate_database(MIGRATIONS_DB))
        yield make_settings(pg_url(MIGRATIONS_DB), tmp_path)
        asyncio.run(recreate_database(MIGRATIONS_DB, drop_only=True))
    else:
        yield make_settings(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", tmp_path)


@pytest.fixture
def alembic_config(migration_settings: Settings) -> Config:
    """The repository's migrations, configured as `forest db upgrade` configures them."""
    return migrate.alembic_config(migration_settings)


@pytest.fixture
def alembic_engine(migration_settings: Settings) -> Iterator[Engine]:
    """The engine pytest-alembic migrates: the same database through a synchronous driver, since the
    plugin runs each step in its own event loop and pooled asyncpg connections cannot cross loops."""
    url = migration_settings.database_url.replace("+asyncpg", "+psycopg").replace("+aiosqlite", "")
    engine = create_engine(url)
    yield engine
    engine.dispose()
