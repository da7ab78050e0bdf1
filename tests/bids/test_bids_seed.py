"""The synthetic bid seeder: deterministic rows, realistic spread, both backends."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import select

from forest.bids.models import Bid
from forest.bids.seed import COPY_COLUMNS, DEPARTMENTS, seed_bids, synthetic_bids
from forest.database import Database

TODAY = dt.date(2026, 11, 26)


def test_synthetic_bids_same_seed_same_rows() -> None:
    first = list(synthetic_bids(300, source_ids=[1, 2], seed=7, today=TODAY))
    assert first == list(synthetic_bids(300, source_ids=[1, 2], seed=7, today=TODAY))
    assert first != list(synthetic_bids(300, source_ids=[1, 2], seed=8, today=TODAY))
    rows = [dict(zip(COPY_COLUMNS, r, strict=True)) for r in first]
    assert {r["department"] for r in rows} <= set(DEPARTMENTS) and len({r["department"] for r in rows}) >= 10
    assert all(TODAY - dt.timedelta(days=730) < r["post_date"] <= TODAY for r in rows)
    assert len({r["post_date"] for r in rows}) < 300  # many rows per day: ties
    assert max(r["views"] for r in rows) > 10 * sorted(r["views"] for r in rows)[150]  # skewed


async def _dump(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(Bid.external_id, Bid.title, Bid.department, Bid.views, Bid.post_date,
                                             Bid.attachments).order_by(Bid.external_id))).all()
    return [tuple(r) for r in rows]


async def test_seed_bids_is_deterministic_in_the_database(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    async with db.sessionmaker() as session:
        report = await seed_bids(session=session, n=250, sources=3, seed=5, today=TODAY)
    assert report.rows == 250 and report.sources == 3
    first = await _dump(db)
    assert len(first) == 250
    async with db.sessionmaker() as session:
        await session.execute(Bid.__table__.delete())
        await session.commit()
        await seed_bids(session=session, n=250, sources=3, seed=5, today=TODAY)
    assert await _dump(db) == first
    async with db.sessionmaker() as session:  # a second run adds rows instead of colliding
        await seed_bids(session=session, n=10, sources=3, seed=5, today=TODAY)
    assert len(await _dump(db)) == 260
    user = await make_user()
    page = (await client.get("/api/v1/bids?limit=3", headers=user.headers)).json()
    assert len(page["items"]) == 3 and page["items"][0]["attachments"] is not None
