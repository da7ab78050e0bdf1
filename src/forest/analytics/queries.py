"""Analytics as SQLAlchemy Core statements: built here, run and explained by the service."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import Date, Integer, Select, Table, and_, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

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


GroupBy = Literal["department", "category"]
Period = Literal["month", "week"]
# The currencies the fact extractor reports (forest.crawler.facts.money): amounts are summed within one.
Currency = Literal["KRW", "USD", "EUR", "GBP"]


def period_start(period: Period, dialect: str) -> ColumnElement[Any]:
    """The first day of the month or ISO week (Monday) of `bid.post_date`, as a date."""
    if dialect == "postgresql":
        return cast(func.date_trunc(period, bid.c.post_date), Date)
    if period == "month":
        return func.strftime("%Y-%m-01", bid.c.post_date)
    # SQLite: %w counts from Sunday = 0; step back to that week's Monday.
    back = (cast(func.strftime("%w", bid.c.post_date), Integer) + 6) % 7
    return func.date(bid.c.post_date, func.printf("-%d days", back))


def amounts(
    *, group_by: GroupBy, period: Period, days: int, currency: Currency, now: dt.datetime, dialect: str,
    viewer: int | None = None,
) -> Select[Any]:
    """Bids with an amount in `currency`, their total and median amount per period and department (or category),
    over the last `days` days (post_date, UTC), oldest period first.

    PostgreSQL: `percentile_cont(0.5)`. SQLite has no percentile aggregate: each row is numbered within its
    group in amount order, and the median is the mean of the middle row (odd count) or the two middle rows
    (even count), which is what percentile_cont(0.5) computes.
    """
    group = bid.c[group_by]
    start = period_start(period, dialect)
    where = and_(bid.c.amount.is_not(None), bid.c.currency == currency,
                 bid.c.post_date >= daily_counts_since(days=days, now=now))
    if viewer is not None:  # only the bids of the sources user `viewer` may see
        where = and_(where, bid.c.source_id.in_(select(Source.id).where(shared_or_owned_by(viewer))))
    if dialect == "postgresql":
        return (
            select(start.label("period"), group.label("group"), func.count().label("bid_count"),
                   func.sum(bid.c.amount).label("total_amount"),
                   func.percentile_cont(0.5).within_group(bid.c.amount).label("median_amount"))
            .where(where)
            .group_by(start, group)
            .order_by(start.asc(), group.asc().nulls_last())
        )
    ranked = (
        select(start.label("period"), group.label("group"), bid.c.amount,
               func.row_number().over(partition_by=(start, group), order_by=bid.c.amount).label("rank"),
               func.count().over(partition_by=(start, group)).label("n"))
        .where(where)
        .subquery("ranked")
    )
    # The middle row(s): ranks (n + 1) // 2 and (n + 2) // 2, one rank when n is odd.
    middle = ranked.c.rank.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
    return (
        select(ranked.c.period, ranked.c.group, func.count().label("bid_count"),
               func.sum(ranked.c.amount).label("total_amount"),
               func.avg(ranked.c.amount).filter(middle).label("median_amount"))
        .group_by(ranked.c.period, ranked.c.group)
        .order_by(ranked.c.period.asc(), ranked.c.group.asc().nulls_last())
    )
