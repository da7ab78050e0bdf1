"""What differs between the databases Forest runs on, chosen once from the dialect: PostgreSQL (asyncpg) and the
embedded SQLite (aiosqlite).

Code that needs a database-specific statement asks `backend_of(session)` (or of an engine or connection)
for its `Backend` instead of testing the dialect's name itself:

- `insert(table)`: the dialect's INSERT, which has `on_conflict_do_update` / `on_conflict_do_nothing` and
  `excluded` (both databases spell ON CONFLICT the same way, but SQLAlchemy builds it per dialect);
  `insert_ignore(table, index_elements)`: INSERT … ON CONFLICT (…) DO NOTHING.
- `count_rows`: how many rows a select returns. PostgreSQL counts exactly within a statement timeout and
  otherwise answers the planner's estimate; SQLite always counts.
- `lock(session, namespace, key)`: a lock held until the transaction ends (PostgreSQL:
  `pg_advisory_xact_lock`). SQLite has one writer at a time: the database's write lock, taken by the
  transaction's first write, already serialises what the lock would, so it is a no-op there.
- `explain`: the plan of a select, as text and as data (`EXPLAIN (FORMAT JSON)` / `EXPLAIN QUERY PLAN`).
- `fold_case`: the one case folding of text filters (`bids.filters`), which SQLite is given on connect.
- `array_batches`: whether a whole batch may be bound as one array parameter per column (asyncpg binds a
  list as an array; SQLite has no arrays), for the statements that read or write many rows at once.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from forest.explain import Explain

# Advisory lock keys are (int4, int4): the second half of a key is taken modulo the largest int4.
_INT4_MAX = 2_147_483_647
_SET_TIMEOUT = text("SELECT set_config('statement_timeout', :t, true)")
_ADVISORY_XACT_LOCK = text("SELECT pg_advisory_xact_lock(:ns, :key)")

Insert = postgresql.Insert | sqlite.Insert


def fold_case(value: str) -> str:
    """The case folding of every text filter, on both databases and in Python: Unicode lower case.

    PostgreSQL's `lower()` and `ILIKE` fold this way in a UTF-8 database with a UTF-8 ctype (C.UTF-8 or a
    language's). SQLite's built-in `lower()` folds ASCII letters only, so every SQLite connection replaces
    it with this function (`SQLite.on_connect`).
    """
    return value.lower()


def _sqlite_lower(value: object) -> str | None:
    # As the built-in: NULL stays NULL, a number is lowered as its text.
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return fold_case(value if isinstance(value, str) else str(value))


class Backend(ABC):
    """The database-specific statements of one database (see the module docstring)."""

    name: ClassVar[str]
    array_batches: ClassVar[bool]

    @abstractmethod
    def insert(self, table: Any) -> Insert:
        """INSERT into `table` (a Table or a mapped class), with the dialect's ON CONFLICT clauses."""

    def insert_ignore(self, table: Any, index_elements: list[str]) -> Insert:
        """INSERT into `table` that skips a row conflicting on the unique index of `index_elements`."""
        return self.insert(table).on_conflict_do_nothing(index_elements=index_elements)

    @abstractmethod
    async def count_rows(self, session: AsyncSession, stmt: Select[Any], *, exact: bool,
                         timeout_ms: int) -> tuple[int, bool]:
        """How many rows `stmt` selects, and whether that number is exact (`exact`: count, within
        `timeout_ms` where the backend bounds it; else an estimate may do)."""

    @abstractmethod
    async def lock(self, session: AsyncSession, namespace: int, key: int) -> None:
        """Hold the lock `(namespace, key)` until the session's transaction ends."""

    @abstractmethod
    async def explain(self, session: AsyncSession, stmt: Select[Any], *, analyze: bool) -> tuple[str, Any]:
        """The database's plan for `stmt`, as text for people and as data (executed when `analyze`, where the
        database can)."""


def _count_statement(stmt: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(stmt.order_by(None).subquery())


class PostgreSQL(Backend):
    """PostgreSQL through asyncpg."""

    name = "postgresql"
    array_batches = True

    def insert(self, table: Any) -> Insert:
        return postgresql.insert(table)

    async def count_rows(self, session: AsyncSession, stmt: Select[Any], *, exact: bool,
                         timeout_ms: int) -> tuple[int, bool]:
        if exact:
            previous = str(await session.scalar(text("SHOW statement_timeout")))
            try:
                async with session.begin_nested():
                    await session.execute(_SET_TIMEOUT, {"t": f"{timeout_ms}ms"})
                    value = int((await session.scalar(_count_statement(stmt))) or 0)
                    await session.execute(_SET_TIMEOUT, {"t": previous})
                return value, True
            except DBAPIError:
                pass  # Too slow to count exactly within the budget: fall back to the planner's estimate.
        plan = (await session.execute(Explain(stmt.order_by(None), options="FORMAT JSON"))).scalar_one()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"]), False

    async def lock(self, session: AsyncSession, namespace: int, key: int) -> None:
        await session.execute(_ADVISORY_XACT_LOCK, {"ns": namespace, "key": key % _INT4_MAX})

    async def explain(self, session: AsyncSession, stmt: Select[Any], *, analyze: bool) -> tuple[str, Any]:
        options = "ANALYZE, BUFFERS, " if analyze else ""
        raw = (await session.execute(Explain(stmt, options=f"{options}FORMAT JSON"))).scalar_one()
        plan = json.loads(raw) if isinstance(raw, str) else raw
        lines = (await session.execute(Explain(stmt, options=f"{options}FORMAT TEXT"))).scalars().all()
        return "\n".join(lines), plan


class SQLite(Backend):
    """The embedded SQLite through aiosqlite."""

    name = "sqlite"
    array_batches = False

    def insert(self, table: Any) -> Insert:
        return sqlite.insert(table)

    async def count_rows(self, session: AsyncSession, stmt: Select[Any], *, exact: bool,
                         timeout_ms: int) -> tuple[int, bool]:
        return int((await session.scalar(_count_statement(stmt))) or 0), True

    async def lock(self, session: AsyncSession, namespace: int, key: int) -> None:
        return None  # one writer at a time already (see the module docstring)

    async def explain(self, session: AsyncSession, stmt: Select[Any], *, analyze: bool) -> tuple[str, Any]:
        # EXPLAIN QUERY PLAN never runs the statement: `analyze` has no equivalent.
        rows = (await session.execute(Explain(stmt))).all()
        plan = [{"id": r[0], "parent": r[1], "detail": r[3]} for r in rows]
        return _tree(plan), plan

    @staticmethod
    def on_connect(dbapi_connection: Any) -> None:
        """Set up a new connection: `lower()` folds case as `fold_case` does, so `ILIKE` (which SQLAlchemy
        writes as `lower(x) LIKE lower(y)` on SQLite) matches non-ASCII letters as PostgreSQL does."""
        dbapi_connection.create_function("lower", 1, _sqlite_lower, deterministic=True)


def _tree(rows: list[dict[str, Any]]) -> str:
    """EXPLAIN QUERY PLAN's rows as an indented tree (each row names its parent)."""
    depth: dict[int, int] = {0: -1}
    lines = []
    for row in rows:
        level = depth.get(row["parent"], -1) + 1
        depth[row["id"]] = level
        lines.append("  " * level + row["detail"])
    return "\n".join(lines)


_BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (PostgreSQL(), SQLite())}


def backend_for(dialect: Dialect) -> Backend:
    """The backend of a SQLAlchemy dialect."""
    try:
        return _BACKENDS[dialect.name]
    except KeyError:
        raise ValueError(f"Forest runs on PostgreSQL or SQLite, not {dialect.name}") from None


def backend_of(bound: AsyncSession | AsyncEngine | AsyncConnection | Engine | Connection) -> Backend:
    """The backend of what a session, engine or connection is bound to."""
    if isinstance(bound, AsyncSession):
        return backend_for(bound.get_bind().dialect)
    return backend_for(bound.dialect)


__all__ = ["Backend", "Insert", "PostgreSQL", "SQLite", "backend_for", "backend_of", "fold_case"]
