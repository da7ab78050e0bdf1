"""The bid filter set shared by the list endpoint, alerts (saved searches) and their matching."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Upper bounds of the columns, so an out-of-range number is a 422 and never a database error.
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
MAX_VALUES = 50

Department = Annotated[str, Field(min_length=1, max_length=200)]
SourceId = Annotated[int, Field(ge=1, le=MAX_INT64)]


class BidLike(Protocol):
    """What `matches` reads of a bid: the ORM row, a schema or any object with these attributes."""

    @property
    def source_id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def views(self) -> int: ...
    @property
    def post_date(self) -> dt.date: ...


class BidFilters(BaseModel):
    """Which bids a list (or a saved search) selects; every given field must match (AND)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    department: list[Department] = Field(default_factory=list, max_length=MAX_VALUES,
                                         description="Any of these departments (exact match).")
    source_id: list[SourceId] = Field(default_factory=list, max_length=MAX_VALUES,
                                      description="Any of these sources.")
    views_gte: int | None = Field(None, ge=0, le=MAX_INT32, description="At least this many views.")
    views_lte: int | None = Field(None, ge=0, le=MAX_INT32, description="At most this many views.")
    posted_from: dt.date | None = Field(None, description="Posted on or after this date.")
    posted_to: dt.date | None = Field(None, description="Posted on or before this date.")
    q: str | None = Field(None, max_length=200, description="Case-insensitive substring of the title.")

    @field_validator("q")
    @classmethod
    def _blank_q_is_no_filter(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _ranges(self) -> BidFilters:
        if self.views_gte is not None and self.views_lte is not None and self.views_gte > self.views_lte:
            raise ValueError("views_gte must not be greater than views_lte")
        if self.posted_from is not None and self.posted_to is not None and self.posted_from > self.posted_to:
            raise ValueError("posted_from must not be later than posted_to")
        return self

    def cursor_binding(self) -> dict[str, Any]:
        """The normalised filter values a cursor is bound to."""
        return self.model_dump(exclude_defaults=True)


def matches(filters: BidFilters, bid: BidLike) -> bool:
    """Whether one bid is selected by the filters, with the same rules as the SQL of `apply_filters`."""
    if filters.department and bid.department not in filters.department:
        return False
    if filters.source_id and bid.source_id not in filters.source_id:
        return False
    if filters.views_gte is not None and bid.views < filters.views_gte:
        return False
    if filters.views_lte is not None and bid.views > filters.views_lte:
        return False
    if filters.posted_from is not None and bid.post_date < filters.posted_from:
        return False
    if filters.posted_to is not None and bid.post_date > filters.posted_to:
        return False
    return not (filters.q is not None and filters.q.lower() not in bid.title.lower())


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere, for `ESCAPE '\\'`."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
