"""The bid list: keyset walks in every sort, with filters, backwards and under concurrent inserts."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import httpx
import pytest

from forest.bids.filters import BidFilters, matches
from forest.database import Database
from tests.bids.factories import BASE_DATE, DEPARTMENTS, BidRow, make_bids, make_source
from tests.conftest import PG_ADMIN_DSN, PG_TEST_DB

SORTS = ["-post_date", "post_date", "-views", "views", "id", "-id"]
FILTER_SETS: list[dict[str, Any]] = [
    {},
    {"department": [DEPARTMENTS[0], DEPARTMENTS[2]], "views_gte": 5, "posted_to": str(BASE_DATE - dt.timedelta(days=1))},
    {"department": [DEPARTMENTS[1]], "posted_from": str(BASE_DATE - dt.timedelta(days=3))},  # one value: an equality
]


async def walk(client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any],
               *, limit: int = 17) -> tuple[list[int], list[dict[str, Any]]]:
    """Follow next_cursor from the first page to the last; return the ids and every page body."""
    ids: list[int] = []
    pages: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": limit}
    while True:
        r = await client.get("/api/v1/bids", params=query, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        ids += [item["id"] for item in body["items"]]
        assert len(body["items"]) <= limit
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return ids, pages
        query = {**params, "limit": limit, "cursor": body["next_cursor"]}


def expected(rows: list[BidRow], sort: str, params: dict[str, Any]) -> list[int]:
    filters = BidFilters(**params)
    chosen = [b for b in rows if matches(filters, b)]
    keys = {"post_date": lambda b: (b.post_date, b.id), "views": lambda b: (b.views, b.id), "id": lambda b: (b.id,)}
    return [b.id for b in sorted(chosen, key=keys[sort.lstrip("-")], reverse=sort.startswith("-"))]


@pytest.mark.parametrize("filters", FILTER_SETS, ids=["unfiltered", "filtered", "one-department"])
async def test_bids_walk_every_sort_yields_each_row_once_in_order(
    client: httpx.AsyncClient, make_user, db: Database, filters: dict[str, Any],  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    rows = await make_bids(db, 150)
    for sort in SORTS:
        ids, _ = await walk(client, user.headers, {**filters, "sort": sort})
        want = expected(rows, sort, filters)
        assert ids == want, sort
        assert len(set(ids)) == len(ids)
    assert len(expected(rows, "id", filters)) < 150 or not filters


async def test_bids_default_sort_is_newest_first(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await make_bids(db, 40)
    ids, _ = await walk(client, user.headers, {})
    assert ids == expected(rows, "-post_date", {})


@pytest.mark.parametrize("sort", ["-post_date", "views", "-id"])
async def test_bids_walk_backwards_from_last_page_yields_same_rows_reversed(
    client: httpx.AsyncClient, make_user, db: Database, sort: str,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    await make_bids(db, 130)
    params = {"sort": sort, "department": [DEPARTMENTS[1], DEPARTMENTS[3], DEPARTMENTS[4]]}
    forward, pages = await walk(client, user.headers, params, limit=9)
    backward: list[int] = []
    body = pages[-1]
    backward += [item["id"] for item in reversed(body["items"])]
    while body["prev_cursor"]:
        r = await client.get("/api/v1/bids", params={**params, "limit": 9, "cursor": body["prev_cursor"]},
                             headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["next_cursor"]
        backward += [item["id"] for item in reversed(body["items"])]
    assert backward == list(reversed(forward))


async def test_bids_inserts_while_walking_never_duplicate_or_skip(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    source_id = await make_source(db)
    before = await make_bids(db, 120, source_ids=[source_id])
    seen: list[int] = []
    query: dict[str, Any] = {"sort": "-post_date", "limit": 10}
    round_ = 0
    while True:
        r = await client.get("/api/v1/bids", params=query, headers=user.headers)
        body = r.json()
        seen += [item["id"] for item in body["items"]]
        # New rows land before, at and after the position of the walk, with equal sort values.
        for days in (0, 3, 7):
            await make_bids(db, 1, source_ids=[source_id], post_date=BASE_DATE - dt.timedelta(days=days))
        round_ += 1
        if not body["has_more"]:
            break
        query = {"sort": "-post_date", "limit": 10, "cursor": body["next_cursor"]}
    assert len(seen) == len(set(seen))
    assert {b.id for b in before} <= set(seen)
    assert round_ >= 12


async def test_bids_link_header_repeats_every_filter(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    await make_bids(db, 60)
    params = [("department", DEPARTMENTS[0]), ("department", DEPARTMENTS[1]), ("views_gte", "0"),
              ("posted_from", "2026-11-01"), ("q", "공고"), ("sort", "views"), ("limit", "3")]
    r = await client.get("/api/v1/bids", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    link = r.headers["link"]
    assert 'rel="next"' in link and 'rel="prev"' not in link
    url = link.split(">")[0].lstrip("<")
    query = parse_qsl(urlsplit(url).query)
    assert [v for k, v in query if k == "department"] == [DEPARTMENTS[0], DEPARTMENTS[1]]
    for key, value in params:
        assert (key, value) in query
    second = await client.get(url.replace("http://testserver", ""), headers=user.headers)
    assert second.status_code == 200, second.text
    assert 'rel="prev"' in second.headers["link"]
    assert second.json()["items"][0]["id"] not in {i["id"] for i in r.json()["items"]}


async def test_bids_cursor_bound_to_sort_and_filters(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    await make_bids(db, 30)
    base = {"sort": "-views", "department": [DEPARTMENTS[0], DEPARTMENTS[1]], "limit": 5}
    cursor = (await client.get("/api/v1/bids", params=base, headers=user.headers)).json()["next_cursor"]
    assert cursor
    same_set_other_order = {**base, "department": [DEPARTMENTS[1], DEPARTMENTS[0]], "cursor": cursor}
    assert (await client.get("/api/v1/bids", params=same_set_other_order, headers=user.headers)).status_code == 200
    for changed in ({"sort": "views"}, {"sort": "-post_date"}, {"department": [DEPARTMENTS[0]]}, {"views_gte": 1},
                    {"q": "공고"}, {"source_id": [1]}):
        r = await client.get("/api/v1/bids", params={**base, **changed, "cursor": cursor}, headers=user.headers)
        assert r.status_code == 400, changed
        assert r.json()["code"] == "cursor_mismatch"
    without_sort = {k: v for k, v in base.items() if k != "sort"}
    r = await client.get("/api/v1/bids", params={**without_sort, "cursor": cursor}, headers=user.headers)
    assert r.json()["code"] == "cursor_mismatch"


async def test_bids_tampered_cursor_is_invalid(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    await make_bids(db, 10)
    cursor = (await client.get("/api/v1/bids?limit=2", headers=user.headers)).json()["next_cursor"]
    body, sig = cursor.split(".")
    flipped_body = body[:5] + ("A" if body[5] != "A" else "B") + body[6:]
    flipped_sig = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    for bad in (f"{flipped_body}.{sig}", f"{body}.{flipped_sig}", "garbage", f"{cursor}.x", "..", "%%%"):
        r = await client.get("/api/v1/bids", params={"limit": 2, "cursor": bad}, headers=user.headers)
        assert r.status_code == 400, bad
        assert r.json()["code"] == "invalid_cursor"
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("needle", ["%", "_", "100%", "임도_개설", "O'Brien's", '"quoted"', "\\", r"C:\path",
                                    "'; DROP TABLE bid; --", "%s {0}", "' OR '1'='1", "forest drone", "FOREST"])
async def test_bids_q_is_a_literal_case_insensitive_substring(
    client: httpx.AsyncClient, make_user, db: Database, needle: str,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    rows = await make_bids(db, 40)
    r = await client.get("/api/v1/bids", params={"q": needle, "limit": 100, "sort": "id", "count": "exact"},
                         headers=user.headers)
    assert r.status_code == 200, r.text
    want = [b.id for b in sorted(rows, key=lambda b: b.id) if needle.lower() in b.title.lower()]
    assert [item["id"] for item in r.json()["items"]] == want
    assert r.json()["count"] == {"value": len(want), "exact": True}
    assert want or needle in {"' OR '1'='1"}


async def test_bids_filters_each_match_python(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await make_bids(db, 80)
    source_ids = sorted({b.source_id for b in rows})
    cases: list[dict[str, Any]] = [
        {"source_id": [source_ids[0]]}, {"source_id": source_ids}, {"views_gte": 120}, {"views_lte": 5},
        {"views_gte": 5, "views_lte": 5}, {"posted_from": "2026-11-18", "posted_to": "2026-11-18"},
        {"posted_from": "2026-11-19"}, {"department": [DEPARTMENTS[4]], "q": "공고"}, {"department": ["없는과"]},
    ]
    for params in cases:
        r = await client.get("/api/v1/bids", params={**params, "limit": 100, "sort": "id"}, headers=user.headers)
        assert r.status_code == 200, (params, r.text)
        assert [item["id"] for item in r.json()["items"]] == expected(rows, "id", params), params


async def test_bids_count_exact_and_estimated(client: httpx.AsyncClient, make_user, db: Database, backend: str) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await make_bids(db, 50)
    params = {"department": [DEPARTMENTS[0]], "q": "O'Brien's \"q", "limit": 2}
    want = len([b for b in rows if matches(BidFilters(department=[DEPARTMENTS[0]], q="O'Brien's \"q"), b)])
    exact = (await client.get("/api/v1/bids", params={**params, "count": "exact"}, headers=user.headers)).json()
    assert exact["count"] == {"value": want, "exact": True}
    r = await client.get("/api/v1/bids", params={**params, "count": "estimated"}, headers=user.headers)
    assert r.status_code == 200, r.text
    count = r.json()["count"]
    assert count["value"] >= 0
    assert count["exact"] is (backend == "sqlite")
    assert "count" not in (await client.get("/api/v1/bids", headers=user.headers)).json()


@pytest.mark.parametrize(("query", "code", "status"), [
    ("sort=title", "unsupported_sort", 400),
    ("sort=--views", "unsupported_sort", 400),
    ("views_gte=10&views_lte=5", "validation_error", 422),
    ("posted_from=2026-11-20&posted_to=2026-11-19", "validation_error", 422),
    ("posted_from=2026-13-01", "validation_error", 422),
    ("views_gte=-1", "validation_error", 422),
    ("views_gte=99999999999", "validation_error", 422),
    ("source_id=abc", "validation_error", 422),
    ("source_id=99999999999999999999", "validation_error", 422),
    ("q=a%00b", "validation_error", 422),
    ("department=a%00b", "validation_error", 422),
    ("limit=0", "validation_error", 422),
    ("limit=101", "validation_error", 422),
    ("count=maybe", "validation_error", 422),
    ("departmnet=x", "unknown_parameter", 400),
])
async def test_bids_bad_query_is_a_problem(
    client: httpx.AsyncClient, make_user, query: str, code: str, status: int,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    r = await client.get(f"/api/v1/bids?{query}", headers=user.headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


async def test_bids_need_a_logged_in_user(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/bids", "/api/v1/bids/1"):
        r = await client.get(path)
        assert r.status_code == 401
        assert r.json()["code"] == "unauthorized"


async def test_bids_empty_q_means_no_filter(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    await make_bids(db, 5)
    r = await client.get("/api/v1/bids?q=", headers=user.headers)
    assert r.status_code == 200 and len(r.json()["items"]) == 5


@pytest.mark.parametrize("backend", ["postgres"])  # the server ending the API's connections
async def test_bids_list_recovers_when_the_database_drops_its_connections(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    await make_bids(db, 5)
    for _ in range(3):  # several pooled connections
        assert (await client.get("/api/v1/bids", headers=user.headers)).status_code == 200
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 "
            "AND application_name = 'forest'", PG_TEST_DB)
    finally:
        await admin.close()
    assert ended >= 1
    first = await client.get("/api/v1/bids", headers=user.headers)
    assert first.status_code in (200, 503), first.text  # never a 500
    if first.status_code == 503:
        assert first.headers["content-type"].startswith("application/problem+json")
        assert first.json()["code"] == "service_unavailable"
    for _ in range(3):  # the dead connections are gone from the pool, not handed out again
        r = await client.get("/api/v1/bids", headers=user.headers)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == 5


@pytest.mark.parametrize("params", [
    {"q": "x :abc"}, {"department": "산림 :자원"}, {"q": "50%_"}, {"q": "O'Brien's \"q"}, {"q": r"C:\path\to"},
    {"q": "'; DROP TABLE bid; --"}, {"q": "%s {0}"}, {"q": "x::text $1 %(q)s"}, {"department": ":dept", "q": ":q"},
], ids=["colon-word", "colon-department", "percent", "quotes", "backslashes", "sql", "format", "casts", "both"])
async def test_bids_count_takes_any_filter_text(
    client: httpx.AsyncClient, make_user, db: Database, backend: str, params: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    """The estimate explains the bound query: filter text is a value, never SQL or a bind parameter."""
    user = await make_user()
    rows = await make_bids(db, 30)
    filters = BidFilters(**{k: [v] if k == "department" else v for k, v in params.items()})
    want = len([b for b in rows if matches(filters, b)])
    for mode in ("estimated", "exact"):
        r = await client.get("/api/v1/bids", params={**params, "count": mode}, headers=user.headers)
        assert r.status_code == 200, (mode, r.text)
        count = r.json()["count"]
        assert count["exact"] is (mode == "exact" or backend == "sqlite")
        assert count["value"] >= 0
        if count["exact"]:
            assert count["value"] == want
