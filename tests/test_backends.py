"""forest.backends: the same cases on PostgreSQL and on SQLite (the `backend` fixture runs each on both)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from forest.backends import PostgreSQL, SQLite, backend_for, backend_of
from forest.database import Database

# A temporary table: it lives as long as the session's connection and is seen by nothing else.
scratch = Table("backend_scratch", MetaData(), Column("k", Integer, primary_key=True), Column("v", String(20)),
                prefixes=["TEMPORARY"])


async def _scratch(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.run_sync(lambda s: scratch.create(s.connection()))
    if rows:
        await session.execute(scratch.insert(), rows)


async def _rows(session: AsyncSession) -> dict[int, str]:
    return {k: v for k, v in (await session.execute(select(scratch.c.k, scratch.c.v))).tuples()}


async def test_chosen_once_from_the_dialect(database: Database, backend: str) -> None:
    expected = PostgreSQL if backend == "postgres" else SQLite
    async with database.sessionmaker() as session, database.engine.connect() as conn:
        found = {backend_of(database.engine), backend_of(database.engine.sync_engine), backend_of(session),
                 backend_of(conn)}
    assert len(found) == 1 and isinstance(found.pop(), expected)


async def test_upsert(database: Database) -> None:
    async with database.sessionmaker() as session, session.begin():
        await _scratch(session, [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}])
        stmt = backend_of(session).insert(scratch).values([{"k": 2, "v": "B"}, {"k": 3, "v": "c"}])
        await session.execute(stmt.on_conflict_do_update(index_elements=["k"], set_={"v": stmt.excluded.v}))
        assert await _rows(session) == {1: "a", 2: "B", 3: "c"}


async def test_insert_ignore(database: Database) -> None:
    async with database.sessionmaker() as session, session.begin():
        await _scratch(session, [{"k": 1, "v": "a"}])
        ignore = backend_of(session).insert_ignore(scratch, ["k"])
        taken = await session.execute(ignore.values(k=1, v="z"))
        added = await session.execute(ignore.values(k=4, v="d"))
        # One row a statement: the row count says whether it was written (crawls.idempotency relies on it).
        assert (getattr(taken, "rowcount", None), getattr(added, "rowcount", None)) == (0, 1)
        await session.execute(ignore.values([{"k": 1, "v": "y"}, {"k": 5, "v": "e"}]))
        assert await _rows(session) == {1: "a", 4: "d", 5: "e"}


async def test_count_exact(database: Database) -> None:
    async with database.sessionmaker() as session, session.begin():
        await _scratch(session, [{"k": k, "v": "odd" if k % 2 else "even"} for k in range(1, 8)])
        stmt = select(scratch).where(scratch.c.v == "odd").order_by(scratch.c.k)
        assert await backend_of(session).count_rows(session, stmt, exact=True, timeout_ms=5000) == (4, True)
        # The session's statement timeout is what it was after the bounded count.
        if isinstance(backend_of(session), PostgreSQL):
            assert await session.scalar(text("SHOW statement_timeout")) != "5s"


async def test_count_estimated(database: Database, backend: str) -> None:
    async with database.sessionmaker() as session, session.begin():
        await _scratch(session, [{"k": k, "v": "x"} for k in range(1, 4)])
        value, exact = await backend_of(session).count_rows(session, select(scratch), exact=False, timeout_ms=5000)
    # PostgreSQL answers the planner's estimate; SQLite has none and counts.
    assert exact is (backend == "sqlite") and value >= 0
    assert backend == "postgres" or value == 3


async def test_lock_in_a_transaction(database: Database, backend: str) -> None:
    async with database.sessionmaker() as session, session.begin():
        await _scratch(session, [])
        chosen = backend_of(session)
        await chosen.lock(session, 7_000_001, 42)
        await chosen.lock(session, 7_000_001, 42)  # taken again by its holder: no wait
        await chosen.lock(session, 7_000_001, 2**40 + 42)  # a key past int4 is folded into range
        await session.execute(chosen.insert(scratch).values(k=1, v="locked"))
        if backend == "postgres":
            async with database.sessionmaker() as other:
                free = await other.scalar(text("SELECT pg_try_advisory_xact_lock(7000001, 42)"))
                assert free is False
        assert await _rows(session) == {1: "locked"}
    if backend == "postgres":  # released with the transaction
        async with database.sessionmaker() as other:
            assert await other.scalar(text("SELECT pg_try_advisory_xact_lock(7000001, 42)")) is True


async def test_explain(database: Database, backend: str) -> None:
    async with database.sessionmaker() as session, session.begin():
        await _scratch(session, [{"k": 1, "v": "x"}])
        plan_text, plan = await backend_of(session).explain(session, select(scratch).where(scratch.c.k == 1),
                                                            analyze=True)
    assert "backend_scratch" in plan_text and plan
    if backend == "postgres":
        assert "actual" in plan_text.lower()  # executed (ANALYZE)


async def test_unknown_dialect() -> None:
    class Other:
        name = "mysql"

    with pytest.raises(ValueError, match="not mysql"):
        backend_for(Other())  # type: ignore[arg-type]
