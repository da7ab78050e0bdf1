"""Analytics: values against a Python computation over the same rows, and the plan endpoint."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import insert

from forest.bids.models import Bid
from forest.database import Database
from tests.bids.factories import DEPARTMENTS, bid_values, make_bids, make_source

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


@pytest.mark.parametrize("name", ["high-value-departments", "daily-counts", "amounts"])
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


def _period(day: dt.date, period: str) -> dt.date:
    return day.replace(day=1) if period == "month" else day - dt.timedelta(days=day.weekday())


async def _amount_bids(db: Database) -> list[dict]:  # type: ignore[type-arg]
    """~150 bids over ~100 days: odd and even group sizes, cents, no amount, other currencies, old bids."""
    source_id = await make_source(db)
    values = []
    for i in range(150):
        day = TODAY - dt.timedelta(days=(i * 7) % 100)
        currency = "GBP" if i % 13 == 0 else "KRW"
        amount = None if i % 11 == 0 else Decimal(1_474_567_273 + (i * 7919) % 50_000_000) + Decimal(i % 4) / 4
        values.append(bid_values(i, source_id, post_date=day, amount=amount, currency=None if amount is None else currency,
                                 department=DEPARTMENTS[i % 3], category=[None, "works", "goods", "services"][i % 4],
                                 external_id=f"amounts-{i}"))
    values.append(bid_values(999, source_id, post_date=TODAY - dt.timedelta(days=400), amount=Decimal(10**12),
                             currency="KRW", external_id="amounts-old"))
    async with db.sessionmaker() as session:
        await session.execute(insert(Bid), values)
        await session.commit()
    return values


@pytest.mark.parametrize(("group_by", "period", "days"), [("department", "month", 365), ("category", "week", 60),
                                                           ("department", "week", 7), ("category", "month", 90)])
async def test_amounts_match_python(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, make_user, db: Database, group_by: str, period: str, days: int,
) -> None:
    """Totals are exact sums, medians the middle (or the mean of the two middle) amounts, KRW only."""
    user = await make_user()
    rows = await _amount_bids(db)
    r = await client.get("/api/v1/analytics/amounts", params={"group_by": group_by, "period": period, "days": days},
                         headers=user.headers)
    assert r.status_code == 200, r.text
    since = TODAY - dt.timedelta(days=days - 1)
    groups: dict[tuple[dt.date, str | None], list[Decimal]] = defaultdict(list)
    for row in rows:
        if row["amount"] is not None and row["currency"] == "KRW" and row["post_date"] >= since:
            groups[(_period(row["post_date"], period), row[group_by])].append(row["amount"])
    want = [{"period": p.isoformat(), "group": g, "bid_count": len(a), "total_amount": format(sum(a).normalize(), "f"),
             "median_amount": format(statistics.median(a).quantize(Decimal("0.01")).normalize(), "f")}
            for (p, g), a in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or ""))]
    body = r.json()
    assert body["currency"] == "KRW" and body["since"] == since.isoformat()
    assert body["group_by"] == group_by and body["period"] == period
    assert body["items"] == want
    assert any(len(a) % 2 == 0 for a in groups.values()) and any(len(a) % 2 for a in groups.values())


async def test_amounts_one_currency_at_a_time(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    rows = await _amount_bids(db)
    gbp = [r["amount"] for r in rows if r["currency"] == "GBP" and r["amount"] is not None]
    body = (await client.get("/api/v1/analytics/amounts?currency=GBP&days=365", headers=user.headers)).json()
    assert body["currency"] == "GBP"
    assert sum(i["bid_count"] for i in body["items"]) == len(gbp)
    assert sum(Decimal(i["total_amount"]) for i in body["items"]) == sum(gbp)
    for query in ("group_by=source", "period=day", "currency=krw", "currency=XXX", "days=0"):
        r = await client.get(f"/api/v1/analytics/amounts?{query}", headers=user.headers)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", query
    assert (await client.get("/api/v1/analytics/amounts")).status_code == 401
