"""Notices of a user's ad-hoc source are theirs (and admins'): lists, counts, detail, analytics."""

from __future__ import annotations

import datetime as dt

import httpx

from forest.database import Database
from tests.bids.factories import make_bids, make_source
from tests.tenancy.conftest import adhoc_source

TODAY = dt.datetime.now(dt.UTC).date()


async def _ids(client: httpx.AsyncClient, headers: dict[str, str], **params: object) -> list[int]:
    ids: list[int] = []
    query: dict[str, object] = {"limit": 7, **params}
    while True:
        r = await client.get("/api/v1/bids", params=query, headers=headers)
        assert r.status_code == 200, r.text
        ids += [b["id"] for b in r.json()["items"]]
        if not r.json()["next_cursor"]:
            return ids
        query = {"limit": 7, **params, "cursor": r.json()["next_cursor"]}


async def test_bids_of_an_adhoc_source_are_seen_by_its_owner_and_admins_only(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    mallory, victim, admin = await make_user(), await make_user(), await make_user(admin=True)
    shared = await make_source(db, "Shared board")
    private = await adhoc_source(client, mallory.headers)
    shared_rows = await make_bids(db, 15, source_ids=[shared])
    # A board Mallory controls, posing as the shared one's newest notices.
    planted = await make_bids(db, 12, source_ids=[private], department=shared_rows[0].department,
                              title="긴급 입찰 공고 — 계좌 변경 안내")
    shared_ids = {b.id for b in shared_rows}
    planted_ids = {b.id for b in planted}

    for sort in ("-post_date", "views", "-id"):
        assert set(await _ids(client, victim.headers, sort=sort)) == shared_ids, sort
        assert set(await _ids(client, mallory.headers, sort=sort)) == shared_ids | planted_ids, sort
        assert set(await _ids(client, admin.headers, sort=sort)) == shared_ids | planted_ids, sort
    # Filters, repeated values and counts do not widen it either.
    assert await _ids(client, victim.headers, source_id=private) == []
    assert set(await _ids(client, victim.headers, source_id=[private, shared])) == shared_ids
    assert set(await _ids(client, victim.headers, department=shared_rows[0].department)) == \
        {b.id for b in shared_rows if b.department == shared_rows[0].department}
    assert await _ids(client, victim.headers, q="계좌 변경") == []
    for count in ("exact", "estimated"):
        r = await client.get("/api/v1/bids", params={"count": count}, headers=victim.headers)
        assert r.status_code == 200
        if count == "exact":
            assert r.json()["count"] == {"value": len(shared_ids), "exact": True}
    r = await client.get("/api/v1/bids", params={"count": "exact"}, headers=mallory.headers)
    assert r.json()["count"]["value"] == len(shared_ids) + len(planted_ids)

    detail = f"/api/v1/bids/{planted[0].id}"
    r = await client.get(detail, headers=victim.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await client.get(detail, headers=mallory.headers)).status_code == 200
    assert (await client.get(detail, headers=admin.headers)).status_code == 200
    assert (await client.get(f"/api/v1/bids/{shared_rows[0].id}", headers=victim.headers)).status_code == 200


async def test_analytics_count_only_the_bids_a_user_may_see(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    mallory, victim, admin = await make_user(), await make_user(), await make_user(admin=True)
    shared = await make_source(db, "Shared board")
    private = await adhoc_source(client, mallory.headers)
    await make_bids(db, 3, source_ids=[shared], post_date=TODAY, views=5000, department="산림경영과")
    await make_bids(db, 40, source_ids=[private], post_date=TODAY, views=99999, department="가짜 부서")

    async def high_value(headers: dict[str, str]) -> dict[str, int]:
        r = await client.get("/api/v1/analytics/high-value-departments", params={"days": 3}, headers=headers)
        assert r.status_code == 200, r.text
        return {i["department"]: i["high_value_bid_count"] for i in r.json()["items"]}

    async def today(headers: dict[str, str]) -> int:
        r = await client.get("/api/v1/analytics/daily-counts", params={"days": 1}, headers=headers)
        assert r.status_code == 200, r.text
        return int(r.json()["items"][-1]["bid_count"])

    assert await high_value(victim.headers) == {"산림경영과": 3}
    assert await high_value(mallory.headers) == {"가짜 부서": 40, "산림경영과": 3}
    assert await high_value(admin.headers) == {"가짜 부서": 40, "산림경영과": 3}
    assert (await today(victim.headers), await today(mallory.headers), await today(admin.headers)) == (3, 43, 43)
