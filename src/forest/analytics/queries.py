"""Analytics as SQLAlchemy Core statements: built here, run and explained by the service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, Table, and_, func, select

from forest.bids.models import Bid
from forest.sources.models import Source
from forest.sources.service import shared_or_owned_by

bid: Table = Bid.__table__  # type: ignore[assignment]


def _visible(stmt: Select[Any], viewer: int | None) -> Select[Any]:
    """Restrict to the bids of the sources user `viewer` may see (None: all, as for an admin).

    A `source_id IN (…)` over the few visible sources: with `source_id` in the covering index the scans
    below stay index-only (see docs/query-plans.md).
    """
    if viewer is None:
        return stmt
    return stmt.where(bid.c.source_id.in_(select(Source.id).where(shared_or_owned_by(viewer))))


def today(now: dt.datetime) -> dt.date:
    """The UTC calendar date of an aware `now`."""
    return now.astimezone(dt.UTC).date()


def high_value_since(*, days: int, now: dt.datetime) -> dt.date:
    """First post_date counted by `high_value_departments`: today minus `days` (UTC)."""
    return today(now) - dt.timedelta(days=days)


def high_value_departments(*, min_views: int, days: int, limit: int, now: dt.datetime,
                           viewer: int | None = None) -> Select[Any]:
    """Departments by how many bids with at least `min_views` views they posted since today − `days`
    (among the bids user `viewer` may see; None: all)."""
    high_value_bid_count = func.count().label("high_value_bid_count")
    stmt = select(bid.c.department, high_value_bid_count).where(
        and_(bid.c.views >= min_views, bid.c.post_date >= high_value_since(days=days, now=now)))
    return (
        _visible(stmt, viewer)
        .group_by(bid.c.department)
        .order_by(high_value_bid_count.desc(), bid.c.department.asc())
        .limit(limit)
    )


def daily_counts_since(*, days: int, now: dt.datetime) -> dt.date:
    """First date of the last `days` calendar days, today included (UTC)."""
    return today(now) - dt.timedelta(days=days - 1)


def daily_counts(*, days: int, now: dt.datetime, viewer: int | None = None) -> Select[Any]:
    """Bids and their total views per post_date over the last `days` days, oldest first (among the bids
    user `viewer` may see; None: all)."""
    day = bid.c.post_date.label("date")
    stmt = select(day, func.count().label("bid_count"), func.coalesce(func.sum(bid.c.views), 0).label("total_views"))
    return (
        _visible(stmt.where(bid.c.post_date >= daily_counts_since(days=days, now=now)), viewer)
        .group_by(bid.c.post_date)
        .order_by(bid.c.post_date.asc())
    )
