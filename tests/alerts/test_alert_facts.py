"""Alerts on the tender facts: a saved search keeps the deadline, amount and category filters of GET /bids, and
fires only for new bids that match them (both backends)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
from sqlalchemy import select

from forest.alerts import matching
from forest.crawls.models import JobEvent
from forest.database import Database
from tests.bids.factories import make_bids, make_source

NOW = dt.datetime.now(dt.UTC)


async def _fired(db: Database, bid_ids: list[int]) -> dict[int, set[int]]:
    """Run the matching a crawl runs for these new bids; {alert id: ids of the bids it got a bid.new for}."""
    async with db.sessionmaker() as session:
        await matching.stage_alert_events(session, bid_ids=bid_ids)
        await session.commit()
        rows = (await session.scalars(select(JobEvent).where(JobEvent.type == "bid.new"))).all()
    out: dict[int, set[int]] = {}
    for event in rows:
        assert event.alert_id is not None
        out.setdefault(event.alert_id, set()).add(event.data["bid"]["id"])
    return out


async def test_alert_with_amount_gte_fires_only_for_bids_at_or_above_it(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    r = await client.post("/api/v1/alerts", json={"name": "1억 이상", "filters": {"amount_gte": "100000000"}},
                          headers=user.headers)
    assert r.status_code == 201, r.text
    alert_id = r.json()["id"]
    assert Decimal(r.json()["filters"]["amount_gte"]) == Decimal(100_000_000)
    source_id = await make_source(db)
    big = await make_bids(db, 1, source_ids=[source_id], amount=Decimal("1474567273"))
    exact = await make_bids(db, 1, source_ids=[source_id], amount=Decimal("100000000"))
    small = await make_bids(db, 1, source_ids=[source_id], amount=Decimal("99999999.99"))
    unknown = await make_bids(db, 1, source_ids=[source_id], amount=None, currency=None, amount_kind=None)
    fired = await _fired(db, [b.id for b in (*big, *exact, *small, *unknown)])
    assert fired == {alert_id: {big[0].id, exact[0].id}}


async def test_alert_on_deadline_amount_range_and_category(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    filters = {"closes_within_days": 7, "amount_gte": "50000000", "amount_lte": "500000000",
               "category": ["works", "services"]}
    r = await client.post("/api/v1/alerts", json={"name": "이번 주 마감 공사·용역", "filters": filters},
                          headers=user.headers)
    assert r.status_code == 201, r.text
    alert = r.json()
    assert alert["filters"]["closes_within_days"] == 7 and alert["filters"]["category"] == ["works", "services"]
    assert (await client.get(f"/api/v1/alerts/{alert['id']}", headers=user.headers)).json()["filters"] == alert["filters"]
    source_id = await make_source(db)
    fine = {"closes_at": NOW + dt.timedelta(days=3), "amount": Decimal(200_000_000), "category": "works"}
    bids = {
        "match": fine,
        "services": {**fine, "category": "services"},
        "goods": {**fine, "category": "goods"},
        "closed": {**fine, "closes_at": NOW - dt.timedelta(hours=1)},
        "too_late": {**fine, "closes_at": NOW + dt.timedelta(days=8)},
        "no_deadline": {**fine, "closes_at": None},
        "too_big": {**fine, "amount": Decimal(500_000_001)},
        "too_small": {**fine, "amount": Decimal(49_999_999)},
    }
    made = {name: (await make_bids(db, 1, source_ids=[source_id], **values))[0] for name, values in bids.items()}
    fired = await _fired(db, [b.id for b in made.values()])
    assert fired == {alert["id"]: {made["match"].id, made["services"].id}}


async def test_alert_fact_filters_are_checked_like_the_list(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    for filters in ({"amount_gte": "-1"}, {"amount_gte": "5", "amount_lte": "4"}, {"closes_within_days": 0},
                    {"closes_within_days": 367}, {"category": ["furniture"]}, {"amount_lte": "NaN"},
                    {"closes_after": "2026-12-02T00:00:00Z", "closes_before": "2026-12-01T00:00:00Z"}):
        r = await client.post("/api/v1/alerts", json={"name": "bad", "filters": filters}, headers=user.headers)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", filters
