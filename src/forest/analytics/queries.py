"""Analytics as SQLAlchemy Core statements: built here, run and explained by the service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, Table, and_, func, select

from forest.bids.models import Bid

bid: Table = Bid.__table__  # type: ignore[assignment]


def today(now: dt.datetime) -> dt.date:
    """The UTC calendar date of an aware `now`."""
    return now.astimezone(dt.UTC).date()


def high_value_since(*, days: int, now: dt.datetime) -> dt.date:
    """First post_date counted by `high_value_departments`: today minus `days` (UTC)."""
    return today(now) - dt.timedelta(days=days)


def high_value_departments(*, min_views: int, days: int, limit: int, now: dt.datetime) -> Select[Any]:
    """Departments by how many bids with at least `min_views` views they posted since today − `days`."""
    high_value_bid_count = func.count().label("high_value_bid_count")
    return (
        select(bid.c.department, high_value_bid_count)
        .where(and_(bid.c.views >= min_views, bid.c.post_date >= high_value_since(days=days, now=now)))
        .group_by(bid.c.department)
        .order_by(high_value_bid_count.desc(), bid.c.department.asc())
        .limit(limit)
    )


def daily_counts_since(*, days: int, now: dt.datetime) -> dt.date:
    """First date of the last `days` calendar days, today included (UTC)."""
    return today(now) - dt.timedelta(days=days - 1)


def daily_counts(*, days: int, now: dt.datetime) -> Select[Any]:
    """Bids and their total views per post_date over the last `days` days, oldest first."""
    day = bid.c.post_date.label("date")
    return (
        select(day, func.count().label("bid_count"), func.coalesce(func.sum(bid.c.views), 0).label("total_views"))
        .where(bid.c.post_date >= daily_counts_since(days=days, now=now))
        .group_by(bid.c.post_date)
        .order_by(bid.c.post_date.asc())
    )
