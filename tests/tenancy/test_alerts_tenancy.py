"""Alert matching: a user's ad-hoc source fires only their (and admins') alerts, and a batch's work is bounded."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import event, func, select

from forest.alerts import matching, webhooks
from forest.alerts.models import Alert, WebhookDelivery
from forest.crawls.models import JobEvent
from forest.database import Database, utcnow
from tests.bids.factories import DEPARTMENTS, make_bids, make_source
from tests.tenancy.conftest import adhoc_source


async def _alerts(db: Database, user_id: int, filters: dict[str, Any], n: int = 1,
                  webhook_url: str | None = None) -> list[int]:
    async with db.sessionmaker() as session:
        alerts = [Alert(user_id=user_id, name=f"watch {k}", filters=filters, webhook_url=webhook_url,
                        webhook_secret=webhooks.new_secret(), created_at=utcnow()) for k in range(n)]
        session.add_all(alerts)
        await session.commit()
        return [a.id for a in alerts]


async def _stage(db: Database, bid_ids: list[int]) -> tuple[matching.Staged, int]:
    """Stage a batch as a crawl does; also how many alerts the matching read."""
    loaded: list[int] = []

    def on_load(alert: Alert, _context: object) -> None:
        loaded.append(alert.id)

    event.listen(Alert, "load", on_load)
    try:
        async with db.sessionmaker() as session, session.begin():
            staged = await matching.stage_alert_events(session, bid_ids=bid_ids)
    finally:
        event.remove(Alert, "load", on_load)
    return staged, len(loaded)


async def _events_by_user(db: Database) -> dict[int, int]:
    async with db.sessionmaker() as session:
        rows = await session.execute(select(JobEvent.user_id, func.count()).where(JobEvent.type == "bid.new")
                                     .group_by(JobEvent.user_id))
        return {user_id: count for user_id, count in rows.tuples()}


async def test_adhoc_source_fires_only_its_owners_and_admins_alerts(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    mallory, victim, admin = await make_user(), await make_user(), await make_user(admin=True)
    private = await adhoc_source(client, mallory.headers)
    shared = await make_source(db, "Shared board")
    for user in (mallory, victim, admin):
        await _alerts(db, user.id, {})
    # Naming the private source in a filter does not let another user's alert see it either.
    await _alerts(db, victim.id, {"source_id": [private]})

    planted = await make_bids(db, 3, source_ids=[private])
    await _stage(db, [b.id for b in planted])
    assert await _events_by_user(db) == {mallory.id: 3, admin.id: 3}

    real = await make_bids(db, 2, source_ids=[shared])
    await _stage(db, [b.id for b in real])
    assert await _events_by_user(db) == {mallory.id: 5, victim.id: 2, admin.id: 5}


async def test_alert_matching_reads_only_candidate_alerts_and_bounds_events(make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    users = [await make_user() for _ in range(3)]
    shared = await make_source(db, "Shared board")
    other = await make_source(db, "Other board")
    batch = await make_bids(db, 10, source_ids=[shared], department=DEPARTMENTS[0])
    for k in range(150):  # match everything: each matches the whole batch
        await _alerts(db, users[k % 3].id, {})
    for k in range(100):  # another department, another source: can never match this batch
        await _alerts(db, users[k % 3].id, {"department": [DEPARTMENTS[1]]})
        await _alerts(db, users[k % 3].id, {"source_id": [other]})
    narrow = (await _alerts(db, users[0].id, {"source_id": [shared], "views_gte": 1000}))[0]

    staged, read = await _stage(db, [b.id for b in batch])

    assert read == 151  # the 200 alerts that cannot match were never loaded
    # One summarised event per match-all alert (10 matches > 5), not 1,500 events.
    narrow_hits = [b.id for b in batch if b.views >= 1000]
    assert 0 < len(narrow_hits) <= 5
    assert len(staged.events) == 150 + len(narrow_hits)
    async with db.sessionmaker() as session:
        events = (await session.scalars(select(JobEvent).where(JobEvent.type == "bid.new"))).all()
    assert len(events) == 150 + len(narrow_hits)
    summaries = [e for e in events if e.alert_id != narrow]
    assert all(e.data["count"] == 10 and [b["id"] for b in e.data["bids"]] == [b.id for b in batch]
               and e.data["bid"]["id"] == batch[0].id for e in summaries)
    # Below the cap every matching bid still gets its own event.
    assert sorted(e.data["bid"]["id"] for e in events if e.alert_id == narrow) == sorted(narrow_hits)
    assert all("count" not in e.data for e in events if e.alert_id == narrow)


async def test_summarised_event_still_delivers_every_bid_to_the_webhook(make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    shared = await make_source(db, "Shared board")
    batch = await make_bids(db, 9, source_ids=[shared])
    await _alerts(db, user.id, {}, webhook_url="https://hooks.example.com/forest")

    staged, _ = await _stage(db, [b.id for b in batch])

    assert len(staged.events) == 1 and len(staged.delivery_ids) == 1
    async with db.sessionmaker() as session:
        delivery = await session.get(WebhookDelivery, staged.delivery_ids[0])
    assert delivery is not None and delivery.bid_count == 9
    body = json.loads(delivery.payload)
    assert [e["bid"]["id"] for e in body["events"]] == [b.id for b in batch]
    assert {e["id"] for e in body["events"]} == {staged.events[0].id}
