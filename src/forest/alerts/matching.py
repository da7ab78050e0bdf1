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
from forest.bids.models import Bid, BidDetail
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
            "post_date": bid.post_date.isoformat(), "views": bid.views, "url": bid.url,
            "closes_at": bid.closes_at.isoformat() if bid.closes_at is not None else None,
            "amount": str(bid.amount) if bid.amount is not None else None, "category": bid.category}


async def stage_alert_events(
    session: AsyncSession, *, bid_ids: Sequence[int], updated_ids: Sequence[int] = (),
) -> Staged:
    """Stage one `bid.new` event per (alert, matching new bid) and one webhook delivery per alert with a
    webhook, and one `bid.updated` event per (alert, matching edited bid: a correction moving the deadline,
    a new title); the caller commits, then publishes the events and hands the deliveries to a worker."""
    if not bid_ids and not updated_ids:
        return Staged()
    alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
    if not alerts:
        return Staged()
    wanted = [*bid_ids, *updated_ids]
    bids = (await session.scalars(select(Bid).where(Bid.id.in_(wanted)).order_by(Bid.id))).all()
    # `q` matches the notice body too.
    rows = await session.execute(select(BidDetail.bid_id, BidDetail.body).where(BidDetail.bid_id.in_(wanted)))
    bodies = {bid_id: body for bid_id, body in rows.all()}
    edited = set(updated_ids)
    hits: list[tuple[Alert, Bid]] = []
    for alert in alerts:
        try:
            filters = BidFilters.model_validate(alert.filters or {})
        except ValueError:
            continue  # an alert saved under older rules must not stop the crawl
        hits.extend((alert, bid) for bid in bids if matches(filters, bid, body=bodies.get(bid.id)))
    updated_hits = [(alert, bid) for alert, bid in hits if bid.id in edited]
    hits = [(alert, bid) for alert, bid in hits if bid.id not in edited]
    if updated_hits:
        await events.lock_user_events(session, [alert.user_id for alert, _ in updated_hits])
    staged_updates = [
        events.add_event(session, user_id=alert.user_id, type="bid.updated", alert_id=alert.id,
                         data={"bid": bid_payload(bid), "alert_id": alert.id, "alert_name": alert.name})
        for alert, bid in updated_hits]
    if not hits:
        await session.flush()
        return Staged(events=staged_updates)
    await events.lock_user_events(session, [alert.user_id for alert, _ in hits])
    by_alert: dict[int, tuple[Alert, list[JobEvent]]] = {}
    for alert, bid in hits:
        event = events.add_event(session, user_id=alert.user_id, type="bid.new", alert_id=alert.id,
                                 data={"bid": bid_payload(bid), "alert_id": alert.id, "alert_name": alert.name,
                                       "webhook": bool(alert.webhook_url)})
        by_alert.setdefault(alert.id, (alert, []))[1].append(event)
    await session.flush()
    staged = Staged(events=[*staged_updates,
                            *(event for _, alert_events in by_alert.values() for event in alert_events)])
    for alert, alert_events in by_alert.values():
        if alert.webhook_url:
            staged.delivery_ids.append(webhooks.stage(session, alert=alert, staged=alert_events).id)
    await session.flush()
    return staged
