"""Run the analytics queries and explain them (shared by the API and `forest explain`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from forest.analytics import queries
from forest.analytics.queries import Currency, GroupBy, Period
from forest.analytics.schemas import (
    AmountGroup,
    AmountsByPeriod,
    DailyCount,
    DailyCounts,
    DepartmentCount,
    HighValueDepartments,
    QueryPlan,
)
from forest.backends import backend_of
from forest.database import utcnow
from forest.errors import NotFound
from forest.users.models import User


@dataclass(frozen=True)
class AnalyticsArgs:
    """The server-checked numbers an analytics query is built from."""

    min_views: int = 1000
    days: int = 30
    limit: int = 50
    viewer: int | None = None  # plan the query as this (non-admin) user sees it; None: as an admin
    group_by: GroupBy = "department"
    period: Period = "month"
    currency: Currency = "KRW"


# name -> statement from the arguments, the time and the dialect's name.
PLANS: dict[str, Callable[[AnalyticsArgs, dt.datetime, str], Select[Any]]] = {
    "high-value-departments": lambda a, now, _dialect: queries.high_value_departments(
        min_views=a.min_views, days=a.days, limit=a.limit, now=now, viewer=a.viewer),
    "daily-counts": lambda a, now, _dialect: queries.daily_counts(days=a.days, now=now, viewer=a.viewer),
    "amounts": lambda a, now, dialect: queries.amounts(
        group_by=a.group_by, period=a.period, days=a.days, currency=a.currency, now=now, dialect=dialect,
        viewer=a.viewer),
}
CENT = Decimal("0.01")


def _viewer(user: User) -> int | None:
    return None if user.is_admin else user.id


async def high_value_departments(
    *, session: AsyncSession, user: User, min_views: int, days: int, limit: int, now: dt.datetime | None = None,
) -> HighValueDepartments:
    """Departments ranked by their bids with at least `min_views` views over the last `days` days, among
    the bids `user` may see."""
    now = now or utcnow()
    stmt = queries.high_value_departments(min_views=min_views, days=days, limit=limit, now=now,
                                          viewer=_viewer(user))
    rows = (await session.execute(stmt)).all()
    return HighValueDepartments(
        since=queries.high_value_since(days=days, now=now), min_views=min_views,
        items=[DepartmentCount(department=r.department, high_value_bid_count=r.high_value_bid_count) for r in rows],
    )


async def daily_counts(*, session: AsyncSession, user: User, days: int,
                       now: dt.datetime | None = None) -> DailyCounts:
    """Bids `user` may see and their total views per day for the last `days` days (today included),
    zero-filled, oldest first."""
    now = now or utcnow()
    stmt = queries.daily_counts(days=days, now=now, viewer=_viewer(user))
    rows = {r.date: r for r in (await session.execute(stmt)).all()}
    first = queries.daily_counts_since(days=days, now=now)
    items = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        row = rows.get(day)
        items.append(DailyCount(date=day, bid_count=row.bid_count if row else 0,
                                total_views=int(row.total_views) if row else 0))
    return DailyCounts(items=items)


async def amounts(
    *, session: AsyncSession, user: User, group_by: GroupBy, period: Period, days: int, currency: Currency,
    now: dt.datetime | None = None,
) -> AmountsByPeriod:
    """Total and median amount in `currency` per period and department (or category) over the last `days` days."""
    now = now or utcnow()
    stmt = queries.amounts(group_by=group_by, period=period, days=days, currency=currency, now=now,
                           dialect=backend_of(session).name, viewer=_viewer(user))
    rows = (await session.execute(stmt)).all()
    return AmountsByPeriod(
        group_by=group_by, period=period, currency=currency, since=queries.daily_counts_since(days=days, now=now),
        items=[AmountGroup(period=_date(r.period), group=r.group, bid_count=r.bid_count,
                           total_amount=_decimal(r.total_amount), median_amount=_decimal(r.median_amount))
               for r in rows],
    )


def _date(value: Any) -> dt.date:
    # SQLite returns the period as 'YYYY-MM-DD' text.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _decimal(value: Any) -> Decimal:
    # percentile_cont and SQLite's AVG answer in floating point: round to the cents an amount has.
    return (value if isinstance(value, Decimal) else Decimal(repr(value))).quantize(CENT)


def compile_sql(stmt: Select[Any], session: AsyncSession) -> str:
    """The statement as SQL for the session's dialect, values inlined: for people to read, never to run.

    The plans below run the bound statement (`Backend.explain`), so a value is never parsed as SQL.
    """
    dialect = session.get_bind().dialect
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


async def explain(
    *, session: AsyncSession, name: str, analyze: bool = True, args: AnalyticsArgs | None = None,
    now: dt.datetime | None = None,
) -> QueryPlan:
    """The SQL of analytics query `name` and the database's plan for it (executed when `analyze`)."""
    build = PLANS.get(name)
    if build is None:
        raise NotFound(f"No analytics query named {name!r}; known: {', '.join(PLANS)}.")
    backend = backend_of(session)
    stmt = build(args or AnalyticsArgs(), now or utcnow(), backend.name)
    plan_text, plan = await backend.explain(session, stmt, analyze=analyze)
    return QueryPlan(name=name, sql=compile_sql(stmt, session), plan_text=plan_text, plan=plan)
