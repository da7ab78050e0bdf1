"""Alert schemas."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from forest.bids.filters import BidFilters


class AlertCreate(BaseModel):
    """A saved search: a name, the filters of GET /bids, and an optional webhook."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    filters: BidFilters = Field(default_factory=BidFilters)
    webhook_url: str | None = Field(default=None, min_length=8, max_length=2048)


class AlertRead(BaseModel):
    """An alert as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    filters: BidFilters
    webhook_url: str | None
    created_at: dt.datetime
