"""Alert feeds: secret links (made, rotated, revoked), and the Atom and iCalendar documents behind them.

A feed reader or calendar app cannot send a bearer token, so the link itself is the credential. The token is
`token_id` (random, stored) followed by an HMAC-SHA256 of it under the server's secret key (not stored): a
copy of the database alone gives no working link, the owner can be shown the link again at any time, and
rotating `FOREST_SECRET_KEY` (with the old key in `FOREST_PREVIOUS_SECRET_KEYS`) keeps links working.
Revoking or rotating deletes or replaces the row; every request looks the row up, so an old link answers
404 at once on every API process.

A feed reads the alert's own filters through the bid list's statement builder (`service.fetch_rows`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from feedgen.feed import FeedGenerator
from icalendar import Alarm, Calendar, Event
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.alerts import service as alerts
from forest.alerts.models import Alert
from forest.bids.export import money, rfc3339
from forest.bids.filters import BidFilters
from forest.bids.service import BID_KEYSET, fetch_rows
from forest.database import Database, utcnow
from forest.errors import NotFound
from forest.feeds.models import AlertFeed
from forest.pagination import CursorSigner, PageParams, plan_page
from forest.users.models import User

TOKEN_ID_HEX = 24
SIGNATURE_HEX = 32
_TOKEN = re.compile(rf"[0-9a-f]{{{TOKEN_ID_HEX + SIGNATURE_HEX}}}")
# Calendar apps remind this long before a deadline.
REMINDER = dt.timedelta(hours=24)


def _signature(key: bytes, token_id: str) -> str:
    return hmac.new(key, b"forest-feed:" + token_id.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def token_for(keys: Sequence[bytes], token_id: str) -> str:
    """The secret token of a feed row, signed with the current key."""
    return token_id + _signature(keys[0], token_id)


def _token_id(keys: Sequence[bytes], token: str) -> str | None:
    """The `token_id` of a well-formed token whose signature verifies under any key, else None."""
    if not _TOKEN.fullmatch(token):
        return None
    token_id, signature = token[:TOKEN_ID_HEX], token[TOKEN_ID_HEX:]
    if any(hmac.compare_digest(_signature(key, token_id), signature) for key in keys):
        return token_id
    return None


async def get(*, session: AsyncSession, user: User, alert_id: int) -> AlertFeed:
    """The feed link row of one of the user's alerts, or NotFound (no such alert, or no link yet)."""
    await alerts.get_owned(session=session, user=user, alert_id=alert_id)
    feed = await session.get(AlertFeed, alert_id)
    if feed is None:
        raise NotFound("This alert has no feed link; POST to create one.")
    return feed


async def ensure(*, session: AsyncSession, user: User, alert_id: int) -> AlertFeed:
    """The feed link row of one of the user's alerts, created if it has none (existing links stay valid)."""
    await alerts.get_owned(session=session, user=user, alert_id=alert_id)
    feed = await session.get(AlertFeed, alert_id)
    return feed if feed is not None else await rotate(session=session, user=user, alert_id=alert_id)


async def rotate(*, session: AsyncSession, user: User, alert_id: int) -> AlertFeed:
    """Give one of the user's alerts a new feed link; the previous one (if any) stops working at once."""
    await alerts.get_owned(session=session, user=user, alert_id=alert_id)
    feed = await session.get(AlertFeed, alert_id)
    if feed is None:
        feed = AlertFeed(alert_id=alert_id)
        session.add(feed)
    feed.token_id = secrets.token_hex(TOKEN_ID_HEX // 2)
    feed.created_at = utcnow()
    await session.commit()
    return feed


async def revoke(*, session: AsyncSession, user: User, alert_id: int) -> None:
    """Remove the feed link of one of the user's alerts (NotFound when it has none)."""
    feed = await get(session=session, user=user, alert_id=alert_id)
    await session.delete(feed)
    await session.commit()


@dataclass(frozen=True)
class Subscription:
    """What a valid feed token stands for: the alert and its owner."""

    alert: Alert
    owner: User


async def resolve(*, session: AsyncSession, keys: Sequence[bytes], token: str) -> Subscription:
    """The alert and owner of a feed token, or NotFound (malformed, forged, revoked or rotated away)."""
    token_id = _token_id(keys, token)
    if token_id is not None:
        found = (await session.execute(
            select(Alert, User).join(AlertFeed, AlertFeed.alert_id == Alert.id).join(User, User.id == Alert.user_id)
            .where(AlertFeed.token_id == token_id))).first()
        if found is not None:
            return Subscription(alert=found[0], owner=found[1])
    raise NotFound("No such feed.")


def alert_filters(alert: Alert) -> BidFilters:
    """The alert's saved filters (an alert saved under older rules that no longer validate matches nothing)."""
    try:
        return BidFilters.model_validate(alert.filters)
    except ValidationError as exc:
        raise NotFound("This alert's filters are no longer valid; edit the alert.") from exc


async def newest(*, db: Database, signer: CursorSigner, subscription: Subscription, limit: int) -> list[dict[str, Any]]:
    """The newest notices matching the alert (by posting date), as the owner's bid list shows them."""
    filters = alert_filters(subscription.alert)
    plan = plan_page(BID_KEYSET, PageParams(limit=limit, cursor=None, sort="-post_date", count="none"),
                     filters.cursor_binding(), signer)
    return await fetch_rows(db=db, filters=filters, plan=plan, limit=limit, user=subscription.owner)


async def closing(*, db: Database, signer: CursorSigner, subscription: Subscription,
                  limit: int) -> list[dict[str, Any]]:
    """The open notices matching the alert that close soonest (notices without a deadline are not open)."""
    filters = alert_filters(subscription.alert)
    if filters.open is False:
        return []  # the alert asks for closed notices: none of them is still to come
    filters = filters.model_copy(update={"open": True})
    plan = plan_page(BID_KEYSET, PageParams(limit=limit, cursor=None, sort="closes_at", count="none"),
                     filters.cursor_binding(), signer)
    return await fetch_rows(db=db, filters=filters, plan=plan, limit=limit, user=subscription.owner)


def _summary(row: dict[str, Any]) -> str:
    parts = [row["department"]] if row["department"] else []
    if row["closes_at"] is not None:
        parts.append(f"closes {rfc3339(row['closes_at'])}")
    if row["amount"] is not None:
        parts.append(f"{money(row['amount'])} {row['currency'] or ''}".strip())
    return " · ".join(parts) or row["title"]


def atom(*, alert: Alert, rows: list[dict[str, Any]], self_url: str, base_url: str, publisher: str) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of `rows`, newest first: each entry's id is the notice's API URL, its
    alternate link the notice on its board, `updated` its last edit and `published` when Forest first saw it."""
    feed = FeedGenerator()
    feed.id(f"{base_url}api/v1/alerts/{alert.id}")
    feed.title(f"Forest: {alert.name}")
    feed.author({"name": publisher})
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=base_url, rel="alternate", type="text/html")
    feed.subtitle("New public tender notices matching a saved search.")
    feed.updated(max((row["updated_at"] for row in rows), default=alert.created_at))
    for row in rows:
        entry = feed.add_entry(order="append")
        entry.id(f"{base_url}api/v1/bids/{row['id']}")
        entry.title(row["title"])
        entry.link(href=row["url"], rel="alternate", type="text/html")
        entry.updated(row["updated_at"])
        entry.published(row["first_seen_at"])
        entry.summary(_summary(row))
        if row["category"]:
            entry.category(term=row["category"])
    document: bytes = feed.atom_str(pretty=False)
    return document


def ics(*, alert: Alert, rows: list[dict[str, Any]], host: str) -> bytes:
    """An iCalendar (RFC 5545) with one event per notice at its deadline, linking back to the notice, with a
    reminder `REMINDER` before. `DTSTAMP` is the notice's last edit, so an unchanged calendar is byte-identical."""
    calendar = Calendar()
    calendar.add("prodid", "-//Forest//Bid deadlines//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Forest: {alert.name}")
    for row in rows:
        event = Event()
        event.add("uid", f"bid-{row['id']}@{host}")
        event.add("dtstamp", row["updated_at"])
        event.add("last-modified", row["updated_at"])
        event.add("dtstart", row["closes_at"])
        event.add("summary", f"Closes: {row['title']}")
        event.add("description", f"{_summary(row)}\n{row['url']}")
        event.add("url", row["url"])
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"Closes in {int(REMINDER.total_seconds() // 3600)} hours: {row['title']}")
        alarm.add("trigger", -REMINDER)
        event.add_component(alarm)
        calendar.add_component(event)
    document: bytes = calendar.to_ical()
    return document
