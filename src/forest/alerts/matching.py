"""Turning newly stored bids into `bid.new` events (and webhook deliveries) for the alerts they match."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.alerts import webhooks
from forest.alerts.models import Alert
from forest.bids.filters import BidFilters, matches
from forest.bids.models import Bid
from forest.crawls.models import JobEvent
from forest.realtime import events


@dataclass
class Staged:
    """What `stage_alert_events` added to the transaction: events to publish and deliveries to send after commit."""

    events: list[JobEvent] = field(default_factory=list)
    delivery_ids: list[uuid.UUID] = field(default_factory=list)


def bid_payload(bid: Bid) -> dict[str, object]:
    """The bid as carried in a `bid.new` event."""
    return {"id": bid.id, "source_id": bid.source_id, "title": bid.title, "department": bid.department,
            "post_date": bid.post_date.isoformat(), "views": bid.views, "url": bid.url}


async def stage_alert_events(session: AsyncSession, *, bid_ids: Sequence[int]) -> Staged:
    """Stage one `bid.new` event per (alert, matching new bid) and one webhook delivery per alert with a
    webhook; the caller commits, then publishes the events and hands the deliveries to a worker."""
    if not bid_ids:
        return Staged()
    alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
    if not alerts:
        return Staged()
    bids = (await session.scalars(select(Bid).where(Bid.id.in_(bid_ids)).order_by(Bid.id))).all()
    hits: list[tuple[Alert, Bid]] = []
    for alert in alerts:
        try:
            filters = BidFilters.model_validate(alert.filters or {})
        except ValueError:
            continue  # an alert saved under older rules must not stop the crawl
        hits.extend((alert, bid) for bid in bids if matches(filters, bid))
    if not hits:
        return Staged()
    await events.lock_user_events(session, [alert.user_id for alert, _ in hits])
    by_alert: dict[int, tuple[Alert, list[JobEvent]]] = {}
    for alert, bid in hits:
        event = events.add_event(session, user_id=alert.user_id, type="bid.new", alert_id=alert.id,
                                 data={"bid": bid_payload(bid), "alert_id": alert.id, "alert_name": alert.name,
                                       "webhook": bool(alert.webhook_url)})
        by_alert.setdefault(alert.id, (alert, []))[1].append(event)
    await session.flush()
    staged = Staged(events=[event for _, alert_events in by_alert.values() for event in alert_events])
    for alert, alert_events in by_alert.values():
        if alert.webhook_url:
            staged.delivery_ids.append(webhooks.stage(session, alert=alert, staged=alert_events).id)
    await session.flush()
    return staged
