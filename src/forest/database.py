"""Async engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg
import pydantic_core
from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import greenlet_spawn

from forest.backends import SQLite
from forest.config import Settings
from forest.errors import ServiceUnavailable
from forest.filemodes import protect_sqlite

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON().with_variant(JSONB(), "postgresql")
# Table options of every table whose ids leave the database (tokens, URLs, filters, replay positions): on
# SQLite an INTEGER PRIMARY KEY without AUTOINCREMENT hands a deleted top row's id to the next insert, so an old
# token, alert filter or `?after=` position would point at someone else's row. PostgreSQL identities never reuse.
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # API, worker and beat share one file: WAL lets readers run beside the writer and the busy
    # timeout makes a writer wait for the lock instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    SQLite.on_connect(dbapi_connection)


def _json_loads(value: str | bytes) -> Any:
    # JSON columns (bid attachments, event payloads) decoded in Rust: about 3x faster than json.loads.
    return pydantic_core.from_json(value)


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """Build an async engine with bounded timeouts, so a dead database fails fast instead of hanging."""
    url = settings.database_url
    if url.startswith("sqlite"):
        protect_sqlite(url, settings.var_dir)
        engine = create_async_engine(
            url, connect_args={"timeout": 10}, pool_pre_ping=False, json_deserializer=_json_loads, **overrides
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
        "pool_pre_ping": settings.db_pool_pre_ping,
        "pool_recycle": 1800,
        "json_deserializer": _json_loads,
        "connect_args": {
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_statement_timeout_ms / 1000 + 5,
            "server_settings": {
                "application_name": "forest",
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    }
    kwargs.update(overrides)
    return create_async_engine(url, **kwargs)


# asyncpg errors that mean the connection (or the server) is gone rather than the statement being wrong. A
# connection the server ended while it sat in the pool can also fail with InternalClientError (the protocol
# is left mid-operation by the server's termination message); it cannot be used again either.
_DISCONNECTS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError,
                asyncpg.AdminShutdownError,
                asyncpg.CrashShutdownError, asyncpg.CannotConnectNowError, ConnectionError, OSError)


async def _to_completion(coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` to its end in a task of its own even if the caller is cancelled meanwhile (then re-raise)."""
    task = asyncio.ensure_future(coro)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError as exc:
            if task.done():
                raise
            cancelled = exc
    if cancelled is not None:
        raise cancelled


@dataclass
class Database:
    """One engine and its session factory, owned by one event loop."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Database:
        """Create the engine and session factory for these settings."""
        engine = create_engine(settings, **overrides)
        return cls(engine=engine, sessionmaker=async_sessionmaker(engine, expire_on_commit=False))

    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield one session, closed (and rolled back if uncommitted) afterwards."""
        async with self.sessionmaker() as session:
            yield session

    async def fetch(self, sql: str, *args: Any, timeout_ms: int | None = None) -> list[asyncpg.Record]:
        """Run one read-only statement (PostgreSQL) on a pooled connection's asyncpg driver, outside a transaction.

        For the hottest reads: it skips SQLAlchemy's execution layer and the BEGIN/ROLLBACK around a session's
        statement (see bench/RESULTS.md, Pagination). `sql` is compiled by SQLAlchemy with `$n` parameters;
        no bind or result processing happens here, so it suits columns the driver returns as they are.
        A dropped connection empties the pool, as SQLAlchemy does on a disconnect; the error is a 503.
        `timeout_ms`: a statement timeout below the service's for this statement alone (in a read-only
        transaction: `SET LOCAL`).
        """
        # The pool's connection itself, not a Connection around it: SQLAlchemy's Connection (its construction,
        # events and a task per close) cost ~200 µs of CPU per read, against ~90 µs for this way and ~90 µs for
        # the query itself (on a held connection; 3 rounds on the AMD EPYC VM, 2026-11-30). Giving the connection
        # back never waits unless the pool is over its size (an overflow connection is closed): only then is the
        # close run to completion in a task of its own, so a cancelled request cannot abandon it halfway.
        fairy = await greenlet_spawn(self.engine.sync_engine.raw_connection)
        try:
            driver: asyncpg.Connection = fairy.driver_connection
            if timeout_ms is None:
                rows: list[asyncpg.Record] = await driver.fetch(sql, *args)
            else:
                async with driver.transaction(readonly=True):
                    await driver.execute("SELECT set_config('statement_timeout', $1, true)", str(timeout_ms))
                    rows = await driver.fetch(sql, *args)
        except asyncpg.QueryCanceledError as exc:
            raise ServiceUnavailable("The query took too long; try a narrower filter.") from exc
        except TimeoutError as exc:
            await greenlet_spawn(fairy.invalidate, exc)  # the driver gave up; the server may still be busy with it
            raise ServiceUnavailable("The query took too long; try a narrower filter.") from exc
        except _DISCONNECTS as exc:
            log.warning("database connection lost: %s", exc)
            await greenlet_spawn(fairy.invalidate, exc)
            await self.engine.dispose()
            raise ServiceUnavailable("The database is unreachable; try again shortly.") from exc
        finally:
            overflow = getattr(self.engine.pool, "overflow", None)
            if overflow is None or overflow() > 0:
                await _to_completion(greenlet_spawn(fairy.close))
            else:
                await greenlet_spawn(fairy.close)
        return rows

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
