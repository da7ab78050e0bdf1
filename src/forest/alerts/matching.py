"""Turning newly stored bids into `bid.new` events (and webhook deliveries) for the alerts they match.

Work per batch is bounded twice. Only candidate alerts are read: those whose route (`AlertRoute`) names
one of the batch's sources or departments, or that have no source or department filter at all, and only
those whose owner may see the batch's source (an ad-hoc source's notices reach its owner's and admins'
alerts only). And an alert that matches more than `max_events` bids of one batch gets one summarised
`bid.new` event carrying all of them (`data.bids`, `data.count`) instead of one event per bid.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import String, and_, cast, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from forest import events
from forest.alerts import webhooks
from forest.alerts.models import ANY_ROUTE, Alert, AlertRoute
from forest.bids.filters import BidFilters, matches
from forest.bids.models import Bid, BidDetail
from forest.events import Event
from forest.sources.models import Source
from forest.sources.service import can_see
from forest.users.models import User

DEFAULT_MAX_EVENTS = 5


@dataclass
class Staged:
    """What `stage_alert_events` added to the transaction: its events (announced by `events.commit`) and the
    webhook deliveries to hand to a worker after commit."""

    events: list[Event] = field(default_factory=list)
    delivery_ids: list[uuid.UUID] = field(default_factory=list)


def bid_payload(bid: Bid) -> dict[str, object]:
    """The bid as carried in a `bid.new` event."""
    return {"id": bid.id, "source_id": bid.source_id, "title": bid.title, "department": bid.department,
            "post_date": bid.post_date.isoformat(), "views": bid.views, "url": bid.url,
            "closes_at": bid.closes_at.isoformat() if bid.closes_at is not None else None,
            "amount": str(bid.amount) if bid.amount is not None else None, "category": bid.category}


async def _candidates(session: AsyncSession, bid_ids: Sequence[int]) -> list[tuple[Alert, User]]:
    """The alerts that can match some of the bids `bid_ids`, with their owners, in id order.

    One statement, reading the bids' sources and departments in subqueries: most batches match no alert, and
    then neither the bids nor their sources are loaded at all.
    """
    in_batch = Bid.id.in_(list(bid_ids))
    batch_sources = select(Bid.source_id).where(in_batch)
    routed = select(AlertRoute.alert_id).where(or_(
        and_(AlertRoute.kind == ANY_ROUTE[0], AlertRoute.value == ANY_ROUTE[1]),
        and_(AlertRoute.kind == "source", AlertRoute.value.in_(select(cast(Bid.source_id, String)).where(in_batch))),
        and_(AlertRoute.kind == "department", AlertRoute.value.in_(select(Bid.department).where(in_batch))),
    ))
    # A shared source (no owner) in the batch: every owner's alerts; only ad-hoc sources: their owners' and
    # admins' alerts.
    shared = exists().where(Source.id.in_(batch_sources), Source.owner_id.is_(None))
    owners = select(Source.owner_id).where(Source.id.in_(batch_sources))
    stmt = (select(Alert, User).join(User, User.id == Alert.user_id)
            .where(Alert.id.in_(routed), or_(shared, User.is_admin.is_(True), Alert.user_id.in_(owners))))
    rows = await session.execute(stmt.order_by(Alert.id))
    return [(alert, user) for alert, user in rows.tuples()]


async def stage_alert_events(
    session: AsyncSession, *, bid_ids: Sequence[int], updated_ids: Sequence[int] = (),
    max_events: int = DEFAULT_MAX_EVENTS,
) -> Staged:
    """Stage the events of the alerts that new and edited bids match: `bid.new` per new bid (or one summary
    when an alert matches more than `max_events`) with one webhook delivery per alert with a webhook, and
    `bid.updated` per edited bid (a correction moving the deadline, a new title; at most `max_events` per
    alert). Only alerts whose owner may see the bid's source are read. The caller ends the transaction with
    `events.commit` (which announces the events), then hands the deliveries to a worker."""
    wanted = [*bid_ids, *updated_ids]
    if not wanted:
        return Staged()
    candidates = await _candidates(session, wanted)
    if not candidates:
        return Staged()
    bids = (await session.scalars(select(Bid).where(Bid.id.in_(wanted)).order_by(Bid.id))).all()
    if not bids:
        return Staged()
    sources = {s.id: s for s in (await session.scalars(select(Source).where(
        Source.id.in_(sorted({b.source_id for b in bids}))))).all()}
    # `q` matches the notice body too.
    rows = await session.execute(select(BidDetail.bid_id, BidDetail.body).where(BidDetail.bid_id.in_(wanted)))
    bodies = {bid_id: body for bid_id, body in rows.all()}
    edited = set(updated_ids)
    hits: list[tuple[Alert, list[Bid], list[Bid]]] = []
    for alert, owner in candidates:
        try:
            filters = BidFilters.model_validate(alert.filters or {})
        except ValueError:
            continue  # an alert saved under older rules must not stop the crawl
        matched = [bid for bid in bids if can_see(owner, sources[bid.source_id])
                   and matches(filters, bid, body=bodies.get(bid.id))]
        new = [bid for bid in matched if bid.id not in edited]
        changed = [bid for bid in matched if bid.id in edited]
        if new or changed:
            hits.append((alert, new, changed))
    if not hits:
        return Staged()
    await events.lock_users(session, [alert.user_id for alert, _, _ in hits])  # all at once, in order
    staged_updates = [
        await events.stage(session, user_id=alert.user_id, type="bid.updated", alert_id=alert.id,
                           data={"bid": bid_payload(bid), "alert_id": alert.id, "alert_name": alert.name})
        for alert, _, changed in hits for bid in changed[:max_events]]
    by_alert: list[tuple[Alert, list[Event]]] = []
    for alert, matched, _ in hits:
        if not matched:
            continue
        common = {"alert_id": alert.id, "alert_name": alert.name, "webhook": bool(alert.webhook_url)}
        if len(matched) <= max_events:
            staged_events = [await events.stage(session, user_id=alert.user_id, type="bid.new", alert_id=alert.id,
                                                data={"bid": bid_payload(bid), **common}) for bid in matched]
        else:
            payloads = [bid_payload(bid) for bid in matched]
            staged_events = [await events.stage(session, user_id=alert.user_id, type="bid.new", alert_id=alert.id,
                                                data={"bid": payloads[0], "bids": payloads, "count": len(payloads),
                                                      **common})]
        by_alert.append((alert, staged_events))
    await session.flush()
    staged = Staged(events=[*staged_updates, *(event for _, alert_events in by_alert for event in alert_events)])
    for alert, alert_events in by_alert:
        if alert.webhook_url:
            staged.delivery_ids.append(webhooks.stage(session, alert=alert, staged=alert_events).id)
    await session.flush()
    return staged
