"""`q` pages read in two steps on PostgreSQL (search.fetch_run): the walk of the sort's index, then the index's
matches from where the walk stopped. Whatever the steps, every page holds exactly the rows the plain filter
selects, in order, each once, forwards and backwards; on SQLite the same assertions hold for FTS5."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update

from forest.bids import search
from forest.bids.filters import BidFilters, matches
from forest.bids.models import BidDetail
from forest.database import Database
from forest.errors import ServiceUnavailable
from tests.bids.factories import DEPARTMENTS, BidRow, make_bids
from tests.bids.test_bids_list import walk

WORD = "소나무재선충"
FAR = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def _body(i: int) -> str:
    """Bodies where the word is common early in the id order and rare later (a walk of the newest rows finds
    a page or not, depending on where it starts), some with the word in another case or split."""
    if (i < 30 and i % 2 == 0) or (i >= 30 and i % 11 == 0):
        return f"다. {WORD}병 방제 사업 (추정가격: 금1,000원) 제{i}차"
    if i % 7 == 0:
        return f"소나무 재선충 예찰 {i}"  # both halves, not the word: the bigrams match, the text does not
    return f"숲가꾸기 사업 {i}"


async def _with_bodies(db: Database, n: int) -> tuple[list[BidRow], dict[int, str]]:
    rows = await make_bids(db, n)
    bodies = {b.id: _body(i) for i, b in enumerate(rows)}
    async with db.sessionmaker() as session:
        for bid_id, body in bodies.items():
            await session.execute(update(BidDetail).where(BidDetail.bid_id == bid_id).values(body=body))
        await session.commit()
    return rows, bodies


def _sort_key(sort: str, bid: BidRow) -> tuple[Any, ...]:
    name = sort.lstrip("-")
    value = {"post_date": bid.post_date, "views": bid.views, "id": bid.id, "closes_at": bid.closes_at}[name]
    return (value, bid.id)


def expected(rows: list[BidRow], bodies: dict[int, str], sort: str, params: dict[str, Any]) -> list[int]:
    """The plain filter (`matches`, the same rules as the SQL), ordered as the API orders, nulls last."""
    filters = BidFilters(**params)
    chosen = [b for b in rows if matches(filters, b, body=bodies.get(b.id))]
    desc = sort.startswith("-")
    valued = sorted((b for b in chosen if _sort_key(sort, b)[0] is not None), key=lambda b: _sort_key(sort, b),
                    reverse=desc)
    nulls = sorted((b for b in chosen if _sort_key(sort, b)[0] is None), key=lambda b: b.id, reverse=desc)
    return [b.id for b in (*valued, *nulls)]


async def _walk_back(client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any],
                     last: dict[str, Any], limit: int) -> list[int]:
    """From the last page, follow prev_cursor to the first page; the ids in display order."""
    pages = [[item["id"] for item in last["items"]]]
    cursor = last["prev_cursor"]
    while cursor:
        body = (await client.get("/api/v1/bids", params={**params, "limit": limit, "cursor": cursor},
                                 headers=headers)).json()
        pages.insert(0, [item["id"] for item in body["items"]])
        cursor = body["prev_cursor"]
    return [i for page in pages for i in page]


@pytest.mark.parametrize("steps", ["walk-stops-early", "walk-only", "index-only"])
async def test_bids_q_pages_are_exact_whatever_the_steps(
    client: httpx.AsyncClient, make_user, db: Database, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    steps: str,
) -> None:
    """walk-stops-early: a walk of 3 rows, so most pages are finished by the index from where it stopped;
    walk-only: the walk finds every page; index-only: a word with a rare bigram."""
    if steps == "walk-stops-early":
        monkeypatch.setattr(search, "WALK_MIN_ROWS", 3)
        monkeypatch.setattr(search, "WALK_ROWS_PER_ROW", 0)

    async def walks_first(_db: Database, _q: str) -> bool:
        return steps != "index-only"

    monkeypatch.setattr(search, "walks_first", walks_first)
    user = await make_user()
    rows, bodies = await _with_bodies(db, 90)
    cases: list[dict[str, Any]] = [
        {"q": WORD}, {"q": WORD.upper()}, {"q": "재선충"}, {"q": "소나무 재선충"}, {"q": "방"},
        {"q": WORD, "department": [DEPARTMENTS[1], DEPARTMENTS[3]]}, {"q": "없는말"},
    ]
    for params in cases:
        for sort in ("-post_date", "post_date", "closes_at", "-closes_at", "-views", "id"):
            want = expected(rows, bodies, sort, params)
            ids, pages = await walk(client, user.headers, {**params, "sort": sort}, limit=4)
            assert ids == want, (params, sort)
            if len(pages) > 1:
                back = await _walk_back(client, user.headers, {**params, "sort": sort}, pages[-1], 4)
                assert back == want, (params, sort, "backwards")
    assert len(expected(rows, bodies, "id", {"q": WORD})) >= 20  # several pages, dense then sparse


@pytest.mark.parametrize("backend", ["postgres"])  # the walk is PostgreSQL's plan; SQLite reads FTS5
async def test_bids_q_walks_first_only_for_words_of_common_bigrams(db: Database, backend: str) -> None:
    """The choice reads ANALYZE's common elements of the search index: a word whose every bigram is in many
    bodies is walked, a word with a bigram in few is not, a one-character q (no bigram, no index) always is."""
    await _with_bodies(db, 90)
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE bid_detail"))
    assert await search.walks_first(db, "숲가꾸기")
    assert await search.walks_first(db, "방")
    assert not await search.walks_first(db, "산양")
    assert not await search.walks_first(db, "숲가꾸기 산양")


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_statement_past_its_own_timeout_is_a_503_and_leaves_the_connection_as_it_was(
    db: Database, backend: str,
) -> None:
    """The rest of a `q` page after a walk runs under `search.REST_TIMEOUT_MS` (Database.fetch's
    `timeout_ms`): past it the request is refused like any statement past the service's timeout, and the
    pooled connection keeps the service's own timeout."""
    before = (await db.fetch("SHOW statement_timeout"))[0][0]
    with pytest.raises(ServiceUnavailable):
        await db.fetch("SELECT pg_sleep(2)", timeout_ms=100)
    rows = await db.fetch("SELECT $1::int + 1", 1, timeout_ms=search.REST_TIMEOUT_MS)
    assert rows[0][0] == 2
    for _ in range(3):  # every pooled connection the pool hands out
        assert (await db.fetch("SHOW statement_timeout"))[0][0] == before != "100ms"
