"""`Database.fetch`, the driver read of the busiest lists: every connection goes back to the pool, also when a
read is cancelled, with and without connections over the pool's size."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from forest.database import Database
from tests.conftest import make_settings


async def _checked_out(db: Database, n: int) -> None:
    """Until `n` connections are out of the pool (at most 5 s)."""
    async with asyncio.timeout(5):
        while db.engine.pool.checkedout() != n:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("overflow", [0, 2], ids=["pool-size-only", "overflow"])
async def test_every_connection_goes_back_to_the_pool_also_from_a_cancelled_read(
        pg_migrated: str, tmp_path: Path, overflow: int) -> None:
    db = Database.from_settings(make_settings(pg_migrated, tmp_path, db_pool_size=2, db_pool_max_overflow=overflow))
    try:
        values = await asyncio.gather(*(db.fetch("SELECT $1::int AS n, pg_sleep(0.01)", i) for i in range(12)))
        assert [rows[0]["n"] for rows in values] == list(range(12))
        slow = [asyncio.create_task(db.fetch("SELECT pg_sleep(5)")) for _ in range(2 + overflow)]
        await _checked_out(db, 2 + overflow)  # every slow read holds a connection, the overflow ones included
        for task in slow:
            task.cancel()
        for task in slow:
            with pytest.raises(asyncio.CancelledError):
                await task
        await _checked_out(db, 0)
        rows = await asyncio.wait_for(db.fetch("SELECT 41 + $1::int AS n", 1), timeout=5)
        assert rows[0]["n"] == 42
    finally:
        await db.dispose()
