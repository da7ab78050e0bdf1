"""Bid schemas as the API shows them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from forest.bids.filters import BidFilters
from forest.pagination import ListQuery


class Attachment(BaseModel):
    """A file attached to a notice."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    url: str


class BidRead(BaseModel):
    """A crawled notice: dates are `YYYY-MM-DD`, timestamps RFC 3339 in UTC."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    external_id: str
    title: str
    department: str
    views: int
    post_date: dt.date
    url: str
    attachments: list[Attachment]
    first_seen_at: dt.datetime
    updated_at: dt.datetime


class BidListQuery(ListQuery, BidFilters):
    """The query string of `GET /bids`: page parameters plus the bid filters, validated in one pass."""

    def filters(self) -> BidFilters:
        """The filter part (already validated)."""
        return BidFilters.model_construct(**{name: getattr(self, name) for name in BidFilters.model_fields})
