"""Alembic environment: async engine from Forest's settings, batch mode on SQLite, lock_timeout on PostgreSQL."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from forest.config import Settings, get_settings
from forest.database import create_engine
from forest.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _settings() -> Settings:
    settings = config.attributes.get("settings")
    return settings if isinstance(settings, Settings) else get_settings()


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Indexes that only exist on PostgreSQL (trigram, bigram) are created in migrations, not in the models.
    if type_ == "index" and name is not None and name.endswith(("_trgm", "_bigram")):
        return False
    # SQLite's FTS5 search table (and its shadow tables) behind `q`, created by migration 0006.
    return not (type_ == "table" and name is not None and name.startswith("bid_search"))


def _session_settings() -> list[str]:
    """PostgreSQL session settings every migration runs under (also emitted into `--sql` scripts).

    Session-level (not LOCAL), so they hold in a migration's autocommit steps too: a statement waiting
    longer than the lock timeout for its lock fails instead of queueing every request on the table behind
    it, and index builds are not cut off by the service's statement timeout.
    """
    settings = _settings()
    return [f"SET lock_timeout = '{settings.migration_lock_timeout_ms}ms'",
            f"SET statement_timeout = '{settings.migration_statement_timeout_ms}ms'"]


def _configure(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys_off(connection)
    else:
        for statement in _session_settings():
            connection.exec_driver_sql(statement)
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
        # One transaction per revision: a failed migration leaves the ones before it applied, and a
        # migration's autocommit steps (concurrent index builds) commit only its own work.
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            _check_foreign_keys(connection)


def _foreign_keys_off(connection: Connection) -> None:
    # Batch mode rebuilds a SQLite table by copying it and dropping the original. With foreign keys on,
    # that DROP TABLE runs an implicit DELETE whose ON DELETE actions empty or null every referencing row
    # (rebuilding `user` would delete every job, alert and event). SQLite's own procedure for rebuilding a
    # table turns them off first; the pragma is ignored inside a transaction, so it must come before one.
    began = not connection.in_transaction()
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar() != 0:
        raise RuntimeError("cannot migrate SQLite inside an open transaction: foreign keys would cascade")
    if began:
        connection.commit()  # end the transaction the pragmas began, so Alembic's own one commits the migration


def _check_foreign_keys(connection: Connection) -> None:
    # With the checks off during the rebuilds, prove afterwards that every reference still holds.
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")


async def _run_async(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.run_sync(_configure)


async def _run_online() -> None:
    engine = create_engine(_settings())
    try:
        await _run_async(engine)
    finally:
        await engine.dispose()


def run_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade 0003:head --sql`)."""
    url = _settings().database_url
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, include_object=_include_object,
                      transaction_per_migration=True)
    if url.startswith("postgresql"):
        for statement in _session_settings():
            context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    # Tests hand in a connection or an engine (pytest-alembic passes its `alembic_engine`).
    connectable = config.attributes.get("connection")
    if isinstance(connectable, Connection):
        _configure(connectable)
    elif isinstance(connectable, Engine):
        with connectable.connect() as conn:
            _configure(conn)
    elif isinstance(connectable, AsyncEngine):
        asyncio.run(_run_async(connectable))
    elif isinstance(connectable, AsyncConnection):
        raise TypeError("pass the AsyncEngine or a sync Connection, not an AsyncConnection")
    else:
        asyncio.run(_run_online())
