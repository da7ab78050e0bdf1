"""The bid detail: shape, formats and 404."""

from __future__ import annotations

import re

import httpx

from forest.database import Database
from tests.bids.factories import make_bids


async def test_bid_detail_shape_and_formats(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await make_bids(db, 4)
    r = await client.get(f"/api/v1/bids/{rows[0].id}", headers=user.headers)
    assert r.status_code == 200, r.text
    bid = r.json()
    assert set(bid) == {"id", "source_id", "external_id", "title", "department", "views", "post_date", "url",
                        "attachments", "first_seen_at", "updated_at", "closes_at", "amount", "amount_kind",
                        "currency", "category", "body", "facts"}
    # Crawled without a detail page: no body, every fact known by name and null.
    assert bid["body"] is None and bid["closes_at"] is None and bid["amount"] is None
    assert bid["facts"]["closes_at"] == {"value": None, "evidence": None}
    assert {"notice_no", "opens_at", "contract_method", "bid_method", "region_limit", "procuring_entity",
            "demand_entity"} <= set(bid["facts"])
    assert bid["id"] == rows[0].id and bid["title"] == rows[0].title
    assert bid["post_date"] == rows[0].post_date.isoformat()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", bid["first_seen_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", bid["updated_at"])
    assert bid["attachments"] == [{"name": "공고문0.hwp", "url": "https://board.example.kr/f/0"}]
    listed = (await client.get("/api/v1/bids?sort=id&limit=1", headers=user.headers)).json()["items"][0]
    assert listed == {k: v for k, v in bid.items() if k not in ("body", "facts")}


async def test_bid_detail_unknown_is_404_problem(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    r = await client.get("/api/v1/bids/424242", headers=user.headers)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"
    for bad in ("abc", "0", "99999999999999999999"):
        r = await client.get(f"/api/v1/bids/{bad}", headers=user.headers)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", bad
