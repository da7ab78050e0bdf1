"""Analytics response schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel


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


class QueryPlan(BaseModel):
    """An analytics query, its SQL and the database's plan for it."""

    name: str
    sql: str
    plan_text: str
    plan: Any
