"""Alembic environment: async engine from Forest's settings, batch mode on SQLite."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

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
    # Indexes that only exist on PostgreSQL (trigram) are created in migrations, not in the models.
    if type_ == "index" and name is not None and name.endswith("_trgm"):
        return False
    return True


def _configure(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys_off(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
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


async def _run_online() -> None:
    engine = create_engine(_settings())
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_configure)
    finally:
        await engine.dispose()


def run_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    context.configure(url=_settings().database_url, target_metadata=target_metadata, literal_binds=True,
                      include_object=_include_object)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_online())
