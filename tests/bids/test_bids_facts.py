"""Tender facts on the bid list and detail: filters, nulls-last keyset sorts, `q` over the body."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from forest.bids.filters import BidFilters, matches
from forest.bids.models import BidDetail
from forest.database import Database
from tests.bids.factories import DEPARTMENTS, FACTS_EPOCH, BidRow, make_bids
from tests.bids.test_bids_list import walk

FACT_SORTS = ["closes_at", "-closes_at", "amount", "-amount"]
FACT_FILTERS: list[dict[str, Any]] = [
    {},
    {"open": "true"},
    {"open": "false", "department": [DEPARTMENTS[0], DEPARTMENTS[3]]},
    {"closes_within_days": 1},
    {"closes_after": (FACTS_EPOCH - dt.timedelta(hours=5)).isoformat(),
     "closes_before": (FACTS_EPOCH + dt.timedelta(hours=10)).isoformat()},
    {"amount_gte": "25000001", "amount_lte": "100000004"},
    {"category": ["works", "sale"], "contract_method": ["일반경쟁"]},
]


def _key(sort: str, bid: BidRow) -> tuple[Any, ...]:
    value = bid.closes_at if sort.lstrip("-") == "closes_at" else bid.amount
    return (value, bid.id)


def expected(rows: list[BidRow], sort: str, params: dict[str, Any]) -> list[int]:
    """Filtered as `matches` says, values first in the sort's direction, then the nulls by id the same way."""
    chosen = [b for b in rows if matches(BidFilters(**params), b)]
    desc = sort.startswith("-")
    valued = sorted((b for b in chosen if _key(sort, b)[0] is not None), key=lambda b: _key(sort, b), reverse=desc)
    nulls = sorted((b for b in chosen if _key(sort, b)[0] is None), key=lambda b: b.id, reverse=desc)
    return [b.id for b in (*valued, *nulls)]


@pytest.mark.parametrize("filters", FACT_FILTERS, ids=["all", "open", "closed", "within", "window", "amount", "cat"])
async def test_bids_fact_sorts_walk_nulls_last_each_row_once(
    client: httpx.AsyncClient, make_user, db: Database, filters: dict[str, Any],  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    rows = await make_bids(db, 120)
    for sort in FACT_SORTS:
        ids, _ = await walk(client, user.headers, {**filters, "sort": sort}, limit=7)
        assert ids == expected(rows, sort, filters), sort
    assert expected(rows, "closes_at", filters)
    if filters:
        assert len(expected(rows, "closes_at", filters)) < 120


@pytest.mark.parametrize("sort", FACT_SORTS)
async def test_bids_fact_sorts_walk_backwards_across_the_nulls(
    client: httpx.AsyncClient, make_user, db: Database, sort: str,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    await make_bids(db, 61)
    params = {"sort": sort}
    forward, pages = await walk(client, user.headers, params, limit=6)
    body = pages[-1]
    backward = [item["id"] for item in reversed(body["items"])]
    while body["prev_cursor"]:
        r = await client.get("/api/v1/bids", params={**params, "limit": 6, "cursor": body["prev_cursor"]},
                             headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        backward += [item["id"] for item in reversed(body["items"])]
    assert backward == list(reversed(forward))
    assert len(forward) == 61


async def test_bids_list_items_carry_the_facts(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await make_bids(db, 6)
    items = (await client.get("/api/v1/bids", params={"sort": "id"}, headers=user.headers)).json()["items"]
    first = next(i for i in items if i["id"] == rows[1].id)
    assert rows[1].closes_at is not None and rows[1].amount is not None
    assert dt.datetime.fromisoformat(first["closes_at"]) == rows[1].closes_at
    assert first["closes_at"].endswith("Z")
    assert first["amount"] == "87500003.5" and Decimal(first["amount"]) == rows[1].amount
    assert first["amount_kind"] == "estimated_price" and first["currency"] == "KRW" and first["category"] == "works"
    none = next(i for i in items if i["id"] == rows[0].id)
    assert none["closes_at"] is None and none["amount"] is None and none["category"] is None


@pytest.mark.parametrize("params", [
    {"amount_gte": "-1"}, {"amount_lte": "1e30"}, {"amount_gte": "abc"}, {"amount_gte": "NaN"},
    {"category": "bridges"}, {"open": "maybe"}, {"closes_within_days": "0"}, {"closes_within_days": "400"},
    {"closes_after": "yesterday"}, {"amount_gte": "10", "amount_lte": "5"},
    {"closes_after": "2026-12-02T00:00:00Z", "closes_before": "2026-12-01T00:00:00Z"},
    {"contract_method": "x" * 41}, {"contract_method": "a\x00b"},
])
async def test_bids_fact_filters_refuse_bad_values_with_422(
    client: httpx.AsyncClient, make_user, params: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    r = await client.get("/api/v1/bids", params=params, headers=user.headers)
    assert r.status_code == 422, (params, r.text)
    assert r.json()["code"] == "validation_error"


async def test_bids_fact_sort_cursor_is_bound_and_checked(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    await make_bids(db, 30)
    first = (await client.get("/api/v1/bids", params={"sort": "amount", "limit": 5}, headers=user.headers)).json()
    r = await client.get("/api/v1/bids", params={"sort": "-amount", "limit": 5, "cursor": first["next_cursor"]},
                         headers=user.headers)
    assert r.status_code == 400 and r.json()["code"] == "cursor_mismatch"
    r = await client.get("/api/v1/bids", params={"sort": "amount", "limit": 5, "open": "true",
                                                 "cursor": first["next_cursor"]}, headers=user.headers)
    assert r.status_code == 400 and r.json()["code"] == "cursor_mismatch"


async def _set_body(db: Database, bid_id: int, body: str, facts: dict[str, Any] | None = None) -> None:
    async with db.sessionmaker() as session:
        if await session.get(BidDetail, bid_id) is None:
            await session.execute(insert(BidDetail).values(bid_id=bid_id, body=body, facts=facts or {}))
        else:
            await session.execute(update(BidDetail).where(BidDetail.bid_id == bid_id).values(body=body))
        await session.commit()


@pytest.mark.parametrize("q", ["재선충", "방제", "Drone", "drone", "50%_할"])
async def test_bids_q_matches_title_or_body(
    client: httpx.AsyncClient, make_user, db: Database, q: str,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    rows = await make_bids(db, 30)
    bodies = {rows[2].id: "다. 소나무재선충병 방제 사업 (추정가격: 금1,000원)", rows[5].id: "Drone survey of the 숲"}
    for bid_id, body in bodies.items():
        await _set_body(db, bid_id, body)
    ids, _ = await walk(client, user.headers, {"q": q, "sort": "id"}, limit=5)
    want = [b.id for b in rows if matches(BidFilters(q=q), b, body=bodies.get(b.id))]
    assert ids == want
    assert ids  # each q finds something, by title or by body


async def test_bids_q_follows_a_body_edit(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await make_bids(db, 5)
    await _set_body(db, rows[1].id, "입찰마감 연장: 개찰 장소 변경")
    for q, want in (("개찰 장소", [rows[1].id]), ("낙찰자", [])):
        items = (await client.get("/api/v1/bids", params={"q": q}, headers=user.headers)).json()["items"]
        assert [i["id"] for i in items] == want
    await _set_body(db, rows[1].id, "낙찰자 결정 방법: 적격심사")
    for q, want in (("개찰 장소", []), ("낙찰자", [rows[1].id]), ("결정", [rows[1].id])):
        items = (await client.get("/api/v1/bids", params={"q": q}, headers=user.headers)).json()["items"]
        assert [i["id"] for i in items] == want, q


async def test_bid_detail_has_body_and_every_fact_with_evidence(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    rows = await make_bids(db, 2)
    body = "입찰(투찰)마감일시\t2026/12/03 10:00\n다. 추정가격: 금1,474,567,273원(부가가치세 별도)"
    facts = {"closes_at": "2026-12-03T01:00:00+00:00", "amount": "1474567273", "amount_kind": "estimated_price",
             "evidence": {"closes_at": {"start": 11, "end": 27, "text": "2026/12/03 10:00"},
                          "amount": {"start": 37, "end": 52, "text": "금1,474,567,273원"}}}
    await _set_body(db, rows[1].id, body, facts)
    r = await client.get(f"/api/v1/bids/{rows[1].id}", headers=user.headers)
    assert r.status_code == 200, r.text
    bid = r.json()
    assert bid["body"] == body
    for name in ("closes_at", "amount"):
        evidence = bid["facts"][name]["evidence"]
        assert body[evidence["start"]:evidence["end"]] == evidence["text"]
    assert bid["facts"]["amount"]["value"] == "1474567273"
    assert bid["facts"]["contract_method"] == {"value": None, "evidence": None}
