"""Turning newly stored bids into `bid.new` events for the alerts they match."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.alerts.models import Alert
from forest.bids.filters import BidFilters, matches
from forest.bids.models import Bid
from forest.crawls.models import JobEvent
from forest.realtime import events


def bid_payload(bid: Bid) -> dict[str, object]:
    """The bid as carried in a `bid.new` event."""
    return {"id": bid.id, "source_id": bid.source_id, "title": bid.title, "department": bid.department,
            "post_date": bid.post_date.isoformat(), "views": bid.views, "url": bid.url}


async def stage_alert_events(session: AsyncSession, *, bid_ids: Sequence[int]) -> list[JobEvent]:
    """Stage one `bid.new` event per (alert, matching new bid); the caller commits, then publishes."""
    if not bid_ids:
        return []
    alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
    if not alerts:
        return []
    bids = (await session.scalars(select(Bid).where(Bid.id.in_(bid_ids)).order_by(Bid.id))).all()
    hits: list[tuple[Alert, Bid]] = []
    for alert in alerts:
        try:
            filters = BidFilters.model_validate(alert.filters or {})
        except ValueError:
            continue  # an alert saved under older rules must not stop the crawl
        hits.extend((alert, bid) for bid in bids if matches(filters, bid))
    if not hits:
        return []
    await events.lock_user_events(session, [alert.user_id for alert, _ in hits])
    staged = [
        events.add_event(session, user_id=alert.user_id, type="bid.new", alert_id=alert.id,
                         data={"bid": bid_payload(bid), "alert_id": alert.id, "alert_name": alert.name,
                               "webhook": bool(alert.webhook_url)})
        for alert, bid in hits
    ]
    await session.flush()
    return staged
