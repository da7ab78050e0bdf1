"""Analytics: values against a Python computation over the same rows, and the plan endpoint."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import httpx
import pytest

from forest.database import Database
from tests.bids.factories import DEPARTMENTS, make_bids, make_source

TODAY = dt.datetime.now(dt.UTC).date()


async def _recent_bids(db: Database) -> list:  # type: ignore[type-arg]
    """Bids over the last ~40 days with ties in count between departments."""
    source_id = await make_source(db)
    rows = []
    for offset in range(40):
        day = TODAY - dt.timedelta(days=offset)
        for k in range(1 + offset % 4):
            rows += await make_bids(db, 1, source_ids=[source_id], post_date=day, views=[10, 999, 1000, 5000][k],
                                    department=DEPARTMENTS[(offset + k) % len(DEPARTMENTS)])
    return rows


async def test_high_value_departments_match_python(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await _recent_bids(db)
    for min_views, days, limit in ((1000, 30, 50), (999, 7, 50), (0, 39, 2), (5000, 1, 50), (10**6, 30, 50)):
        r = await client.get("/api/v1/analytics/high-value-departments",
                             params={"min_views": min_views, "days": days, "limit": limit}, headers=user.headers)
        assert r.status_code == 200, r.text
        since = TODAY - dt.timedelta(days=days)
        counts = Counter(b.department for b in rows if b.views >= min_views and b.post_date >= since)
        want = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        body = r.json()
        assert body["since"] == since.isoformat() and body["min_views"] == min_views
        assert [(i["department"], i["high_value_bid_count"]) for i in body["items"]] == want


async def test_daily_counts_match_python(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await _recent_bids(db)
    r = await client.get("/api/v1/analytics/daily-counts?days=45", headers=user.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["date"] for i in items] == [(TODAY - dt.timedelta(days=d)).isoformat() for d in range(44, -1, -1)]
    for item in items:
        day = dt.date.fromisoformat(item["date"])
        same_day = [b for b in rows if b.post_date == day]
        assert item["bid_count"] == len(same_day)
        assert item["total_views"] == sum(b.views for b in same_day)
    default = (await client.get("/api/v1/analytics/daily-counts", headers=user.headers)).json()["items"]
    assert len(default) == 30 and default[-1]["date"] == TODAY.isoformat()


async def test_analytics_validate_and_need_login(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    for query in ("min_views=-1", "days=0", "days=99999", "limit=0", "min_views=abc"):
        r = await client.get(f"/api/v1/analytics/high-value-departments?{query}", headers=user.headers)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", query
    assert (await client.get("/api/v1/analytics/daily-counts?dayz=3", headers=user.headers)).status_code == 400
    assert (await client.get("/api/v1/analytics/daily-counts")).status_code == 401


@pytest.mark.parametrize("name", ["high-value-departments", "daily-counts"])
async def test_plan_is_a_real_plan(
    client: httpx.AsyncClient, make_user, db: Database, backend: str, name: str,  # type: ignore[no-untyped-def]
) -> None:
    admin = await make_user(admin=True)
    await make_bids(db, 30)
    r = await client.get(f"/api/v1/analytics/{name}/plan?analyze=true", headers=admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == name
    assert body["sql"].startswith("SELECT") and "bid.post_date >=" in body["sql"]
    if backend == "postgres":
        top = body["plan"][0]
        assert "Plan" in top and "Execution Time" in top and "Node Type" in top["Plan"]
        assert "Aggregate" in body["plan_text"] and "actual time" in body["plan_text"]
        assert "Buffers" in body["plan_text"] or "Shared Hit Blocks" in top["Plan"]
        plain = (await client.get(f"/api/v1/analytics/{name}/plan?analyze=false", headers=admin.headers)).json()
        assert "Execution Time" not in plain["plan"][0] and "actual time" not in plain["plan_text"]
    else:
        assert body["plan"] and {"id", "parent", "detail"} <= set(body["plan"][0])
        assert any("bid" in row["detail"] for row in body["plan"])


async def test_plan_is_admin_only_and_404_for_unknown(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    r = await client.get("/api/v1/analytics/daily-counts/plan", headers=user.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    admin = await make_user(admin=True)
    r = await client.get("/api/v1/analytics/nope/plan", headers=admin.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert r.headers["content-type"].startswith("application/problem+json")
