"""Analytics response schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from forest.bids.schemas import Money


class DepartmentCount(BaseModel):
    """How many high-value bids one department posted."""

    department: str
    high_value_bid_count: int


class HighValueDepartments(BaseModel):
    """Departments ranked by high-value bids since a date."""

    since: dt.date
    min_views: int
    items: list[DepartmentCount]


class DailyCount(BaseModel):
    """Bids posted on one day and their total views."""

    date: dt.date
    bid_count: int
    total_views: int


class DailyCounts(BaseModel):
    """One entry per calendar day, oldest first; days without bids count zero."""

    items: list[DailyCount]


class AmountGroup(BaseModel):
    """The bids of one department (or category) in one period that state an amount in the response's currency."""

    period: dt.date = Field(description="First day of the month, or the Monday of the ISO week.")
    group: str | None = Field(description="The department or category; null: bids without a category.")
    bid_count: int
    total_amount: Money = Field(description="Sum of the amounts, a decimal string.")
    median_amount: Money = Field(description="Median amount (the mean of the two middle ones for an even count), "
                                             "a decimal string rounded to 2 decimals.")


class AmountsByPeriod(BaseModel):
    """Total and median amount per period and group, oldest period first, then by group (nulls last)."""

    group_by: str
    period: str
    currency: str
    since: dt.date
    items: list[AmountGroup]


class QueryPlan(BaseModel):
    """An analytics query, its SQL and the database's plan for it."""

    name: str
    sql: str
    plan_text: str
    plan: Any
