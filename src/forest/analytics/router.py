"""Analytics routes: aggregate views over the bids, and their query plans for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from forest.analytics import service
from forest.analytics.queries import Currency, GroupBy, Period
from forest.analytics.schemas import AmountsByPeriod, DailyCounts, HighValueDepartments, QueryPlan
from forest.bids.filters import MAX_INT32
from forest.dependencies import API_PREFIX, AdminUser, CurrentUser, DbSession

router = APIRouter(prefix=f"{API_PREFIX}/analytics", tags=["analytics"])

MinViews = Annotated[int, Query(ge=0, le=MAX_INT32, description="A bid is high-value from this many views.")]
Days = Annotated[int, Query(ge=1, le=3660, description="How many days back from today (UTC).")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many departments.")]
GroupByQuery = Annotated[GroupBy, Query(description="Group the amounts by `department` or `category`.")]
PeriodQuery = Annotated[Period, Query(description="`month` (from the 1st) or `week` (ISO weeks from Monday).")]
CurrencyQuery = Annotated[Currency, Query(description="Only amounts in this currency are counted (never mixed).")]


@router.get("/high-value-departments", response_model=HighValueDepartments)
async def high_value_departments(
    user: CurrentUser, session: DbSession, min_views: MinViews = 1000, days: Days = 30, limit: Limit = 50,
) -> HighValueDepartments:
    """Departments by how many bids with at least `min_views` views they posted since today − `days` (UTC),
    most first, then by department name. Counts the bids you can list (shared sources and your own)."""
    return await service.high_value_departments(session=session, user=user, min_views=min_views, days=days,
                                                limit=limit)


@router.get("/daily-counts", response_model=DailyCounts)
async def daily_counts(user: CurrentUser, session: DbSession, days: Days = 30) -> DailyCounts:
    """Bids posted and their total views per day over the last `days` days (today included), oldest first;
    days without bids are listed with zeros. Counts the bids you can list (shared sources and your own)."""
    return await service.daily_counts(session=session, user=user, days=days)


@router.get("/amounts", response_model=AmountsByPeriod)
async def amounts(
    user: CurrentUser, session: DbSession, group_by: GroupByQuery = "department", period: PeriodQuery = "month",
    days: Days = 365, currency: CurrencyQuery = "KRW",
) -> AmountsByPeriod:
    """Total and median amount of the bids posted over the last `days` days (today included, UTC) per period
    and department (or category), oldest period first. Only bids whose notice states an amount in `currency`
    count; amounts in other currencies are never added in. Amounts are decimal strings. Counts the bids you
    can list (shared sources and your own)."""
    return await service.amounts(session=session, user=user, group_by=group_by, period=period, days=days,
                                 currency=currency)


@router.get("/{name}/plan", response_model=QueryPlan)
async def plan(
    _admin: AdminUser, session: DbSession,
    name: Annotated[str, Path(max_length=64,
                              description="`high-value-departments`, `daily-counts` or `amounts`.")],
    analyze: Annotated[bool, Query(description="Run the query (EXPLAIN ANALYZE, BUFFERS) or only plan it.")] = True,
    min_views: MinViews = 1000, days: Days = 30, limit: Limit = 50, group_by: GroupByQuery = "department",
    period: PeriodQuery = "month", currency: CurrencyQuery = "KRW",
) -> QueryPlan:
    """The SQL of an analytics query and its plan: PostgreSQL `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`
    (with a text rendering), or SQLite `EXPLAIN QUERY PLAN` rows (admin only)."""
    args = service.AnalyticsArgs(min_views=min_views, days=days, limit=limit, group_by=group_by, period=period,
                                 currency=currency)
    return await service.explain(session=session, name=name, analyze=analyze, args=args)
