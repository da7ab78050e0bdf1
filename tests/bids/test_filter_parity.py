"""One definition of the bid filters (`bids.filters.RULES`): the same (filters, bid) cases give the same answers
through the list's SQL on both databases (with its values inline, and on PostgreSQL bound as the list's compiled
statements bind them) and through the alert matcher (`matches`), with one case folding (`fold_case`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from forest.bids.filters import BidFilters, bind_values, filter_clauses, matches
from forest.bids.models import Bid, BidDetail
from forest.database import Database, utcnow
from tests.bids.factories import BidRow, bid_values, make_source

NOW = utcnow().replace(microsecond=0)
DAY = dt.timedelta(days=1)

# (title, body, overrides): mixed-case English beside Korean, non-ASCII capitals, LIKE's special characters.
BIDS: list[tuple[str, str, dict[str, Any]]] = [
    ("Forest 산림 PROJECT 입찰 공고", "École Drone 조달", {
        "department": "산림경영과", "views": 120, "post_date": dt.date(2026, 11, 18), "closes_at": NOW + 3 * DAY,
        "amount": Decimal("1000000"), "category": "works", "contract_method": "일반경쟁"}),
    ("forest drone 구매", "", {
        "department": "산림경영과", "views": 5, "post_date": dt.date(2026, 11, 20), "closes_at": None,
        "amount": None, "category": None, "contract_method": None}),
    ("ÉCOLE 숲 체험 용역", "산림 PROJECT report", {
        "department": "산불방지과", "views": 0, "post_date": dt.date(2026, 11, 10), "closes_at": NOW - 2 * DAY,
        "amount": Decimal("50000000.50"), "category": "services", "contract_method": "제한경쟁"}),
    ("소나무재선충 방제", "forest Project 2차", {
        "department": "목재산업과", "views": 2500, "post_date": dt.date(2026, 11, 1), "closes_at": NOW + 40 * DAY,
        "amount": Decimal("0"), "category": "goods", "contract_method": "수의계약"}),
    ("50%_할인 목재 펠릿", r"C:\path\to 백슬래시", {
        "department": "운영지원과", "views": 1000, "post_date": dt.date(2026, 11, 19), "closes_at": NOW + DAY / 2,
        "amount": Decimal("12500000.50"), "category": "sale", "contract_method": "일반경쟁"}),
]

CASES: list[dict[str, Any]] = [
    {},
    # q: one case folding whatever the length (SQLite: LIKE below three characters, FTS5 from three on).
    {"q": "project"}, {"q": "PROJECT"}, {"q": "산림 project"}, {"q": "Project 입찰"}, {"q": "é"}, {"q": "ÉC"},
    {"q": "école"}, {"q": "DRONE"}, {"q": "forest drone"}, {"q": "재선충"}, {"q": "50%_"}, {"q": "%"},
    {"q": "_할"}, {"q": "\\path"}, {"q": "없는말"},
    {"department": ["산림경영과"]}, {"department": ["산림경영과", "산불방지과"]},
    {"views_gte": 100}, {"views_lte": 120}, {"views_gte": 5, "views_lte": 1000},
    {"posted_from": dt.date(2026, 11, 18)}, {"posted_to": dt.date(2026, 11, 10)},
    {"amount_gte": Decimal("0")}, {"amount_lte": Decimal("1000000")}, {"amount_gte": Decimal("1000000.01")},
    {"category": ["works", "services"]}, {"contract_method": ["제한경쟁"]}, {"contract_method": ["일반경쟁", "수의계약"]},
    {"open": True}, {"open": False}, {"closes_within_days": 7}, {"closes_after": NOW},
    {"closes_before": NOW + 10 * DAY}, {"closes_after": NOW - 3 * DAY, "closes_before": NOW + DAY},
    {"q": "forest", "amount_gte": Decimal("1"), "open": True},
    {"q": "산림", "department": ["산림경영과", "산불방지과"], "views_lte": 200},
]


async def _bids(database: Database) -> list[tuple[BidRow, str]]:
    source_id = await make_source(database)
    values = [bid_values(i, source_id, title=title, **overrides) for i, (title, _, overrides) in enumerate(BIDS)]
    async with database.sessionmaker() as session:
        ids = (await session.scalars(insert(Bid).returning(Bid.id, sort_by_parameter_order=True), values)).all()
        for bid_id, (_, body, _) in zip(ids, BIDS, strict=True):
            await session.execute(update(BidDetail).where(BidDetail.bid_id == bid_id).values(body=body))
        await session.commit()
    return [(BidRow(id=bid_id, source_id=v["source_id"], title=v["title"], department=v["department"],
                    views=v["views"], post_date=v["post_date"], closes_at=v["closes_at"], amount=v["amount"],
                    category=v["category"], contract_method=v["contract_method"]), body)
            for bid_id, v, (_, body, _) in zip(ids, values, BIDS, strict=True)]


async def _sql(database: Database, filters: BidFilters) -> set[int]:
    async with database.sessionmaker() as session:
        return set((await session.scalars(select(Bid.id).where(*filter_clauses(filters, now=NOW)))).all())


async def _sql_bound(database: Database, filters: BidFilters) -> set[int]:
    """PostgreSQL's compiled-once form: every value a bind parameter, as the list's page statements run."""
    compiled = select(Bid.id).where(*filter_clauses(filters, bound=True, now=NOW)).compile(
        dialect=database.engine.dialect)
    values = bind_values(filters, NOW)
    rows = await database.fetch(compiled.string, *(values[name] for name in compiled.positiontup or ()))
    return {row[0] for row in rows}


async def test_sql_on_both_databases_and_the_alert_matcher_agree(database: Database, backend: str) -> None:
    bids = await _bids(database)
    by_id = {bid.id: i for i, (bid, _) in enumerate(bids)}
    for params in CASES:
        filters = BidFilters(**params)
        expected = {bid.id for bid, body in bids if matches(filters, bid, body=body, now=NOW)}
        found = await _sql(database, filters)
        assert {by_id[i] for i in found} == {by_id[i] for i in expected}, params
        if backend == "postgres":
            assert await _sql_bound(database, filters) == expected, params


@pytest.mark.parametrize(("q", "positions"), [
    ("산림 project", {0, 2}), ("FOREST", {0, 1, 3}), ("é", {0, 2}), ("ÉC", {0, 2}), ("ÉCOLE", {0, 2}),
    ("Drone 조달", {0}),
])
async def test_mixed_case_korean_and_english_fold_the_same_way_everywhere(
    database: Database, backend: str, q: str, positions: set[int],
) -> None:
    """A mixed-case Korean/English title (or body) is found by `q` in any case, on both databases and by the
    alert matcher; `é` would miss `École` on SQLite with its built-in, ASCII-only `lower()`."""
    bids = await _bids(database)
    filters = BidFilters(q=q)
    wanted = {bids[i][0].id for i in positions}
    assert {bid.id for bid, body in bids if matches(filters, bid, body=body, now=NOW)} == wanted
    assert await _sql(database, filters) == wanted
    if backend == "postgres":
        assert await _sql_bound(database, filters) == wanted
