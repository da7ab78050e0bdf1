"""The synthetic bid seeder: deterministic rows, realistic spread, both backends."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from sqlalchemy import select

from forest.bids.models import Bid
from forest.bids.seed import DEPARTMENTS, ROW_COLUMNS, seed_bids, synthetic_bids
from forest.crawler.facts import extract
from forest.database import Database

TODAY = dt.date(2026, 11, 26)


def test_synthetic_bids_same_seed_same_rows() -> None:
    first = list(synthetic_bids(300, source_ids=[1, 2], seed=7, today=TODAY))
    assert first == list(synthetic_bids(300, source_ids=[1, 2], seed=7, today=TODAY))
    assert first != list(synthetic_bids(300, source_ids=[1, 2], seed=8, today=TODAY))
    rows = [dict(zip(ROW_COLUMNS, r, strict=True)) for r in first]
    assert {r["department"] for r in rows} <= set(DEPARTMENTS) and len({r["department"] for r in rows}) >= 10
    assert all(TODAY - dt.timedelta(days=730) < r["post_date"] <= TODAY for r in rows)
    assert len({r["post_date"] for r in rows}) < 300  # many rows per day: ties
    assert max(r["views"] for r in rows) > 10 * sorted(r["views"] for r in rows)[150]  # skewed


FACT_COLUMNS = ("closes_at", "opens_at", "amount", "amount_kind", "currency", "category", "contract_method")


def test_synthetic_bodies_state_their_facts() -> None:
    """Every seeded body says what its row holds: the extractor reads back the same facts, and each evidence
    span is the text at that place in the body."""
    rows = [dict(zip(ROW_COLUMNS, r, strict=True)) for r in synthetic_bids(600, source_ids=[1], seed=11, today=TODAY)]
    for row in rows:
        read = extract(row["body"], posted_on=row["post_date"])
        assert {c: getattr(read, c) for c in FACT_COLUMNS} == {c: row[c] for c in FACT_COLUMNS}, row["body"]
        stored = json.loads(row["facts"])
        for name, span in stored["evidence"].items():
            assert row["body"][span["start"]:span["end"]] == span["text"] and span["text"], name
        assert row["title"] in row["body"] and "\n" in row["body"]
    # A realistic spread: both styles, every amount kind and category, some notices without amount or deadline.
    assert {r["amount_kind"] for r in rows} == {"estimated_price", "base_amount", "estimated_total", "budget", None}
    assert {r["category"] for r in rows} == {"works", "goods", "services", None}
    assert sum(r["closes_at"] is None for r in rows) > 5 and sum(r["amount"] is None for r in rows) > 30
    assert sum("공고번호\t" in r["body"] for r in rows) > 150 and sum("1. 입찰에 부치는 사항" in r["body"] for r in rows) > 300
    assert any("억" in r["body"] for r in rows) and any("금1" in r["body"] or "금2" in r["body"] for r in rows)


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
    page = (await client.get("/api/v1/bids?limit=3&sort=-amount", headers=user.headers)).json()
    assert len(page["items"]) == 3 and page["items"][0]["attachments"] is not None
    top = page["items"][0]
    assert top["amount"] is not None and top["amount_kind"] is not None and top["currency"] == "KRW"
    detail = (await client.get(f"/api/v1/bids/{top['id']}", headers=user.headers)).json()
    assert detail["body"] and detail["facts"]["amount"]["value"] is not None
    span = detail["facts"]["amount"]["evidence"]
    assert detail["body"][span["start"]:span["end"]] == span["text"]
    # q reaches the seeded bodies (a word of the body that is never in a title).
    found = (await client.get("/api/v1/bids?q=주된 영업소&count=exact", headers=user.headers)).json()
    assert 100 < found["count"]["value"] < 260 and found["count"]["exact"]
