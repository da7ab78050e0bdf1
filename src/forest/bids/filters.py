"""The bid filter set shared by the list endpoint, alerts (saved searches) and their matching."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Upper bounds of the columns, so an out-of-range number is a 422 and never a database error.
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
MAX_VALUES = 50

# bid.amount is NUMERIC(20, 2).
MAX_AMOUNT = Decimal(10**18)
MAX_WITHIN_DAYS = 366

Department = Annotated[str, Field(min_length=1, max_length=200)]
SourceId = Annotated[int, Field(ge=1, le=MAX_INT64)]
Category = Literal["works", "goods", "services", "sale"]
ContractMethod = Annotated[str, Field(min_length=1, max_length=40)]
Amount = Annotated[Decimal, Field(ge=0, lt=MAX_AMOUNT, allow_inf_nan=False)]


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
    @property
    def closes_at(self) -> dt.datetime | None: ...
    @property
    def amount(self) -> Decimal | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def contract_method(self) -> str | None: ...


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
    q: str | None = Field(None, max_length=200,
                          description="Case-insensitive substring of the title or the notice body.")
    closes_after: dt.datetime | None = Field(
        None, description="Bids close at or after this time (RFC 3339; without an offset, UTC).")
    closes_before: dt.datetime | None = Field(
        None, description="Bids close at or before this time (RFC 3339; without an offset, UTC).")
    closes_within_days: int | None = Field(
        None, ge=1, le=MAX_WITHIN_DAYS, description="Bids close between now and this many days from now.")
    open: bool | None = Field(
        None, description="`true`: bids still open (closing after now); `false`: closed. Bids with no known "
                          "deadline match neither.")
    amount_gte: Amount | None = Field(None, description="Amount at least this (in the notice's currency).")
    amount_lte: Amount | None = Field(None, description="Amount at most this (in the notice's currency).")
    category: list[Category] = Field(default_factory=list, max_length=4,
                                     description="Any of these categories: works, goods, services, sale.")
    contract_method: list[ContractMethod] = Field(
        default_factory=list, max_length=MAX_VALUES,
        description="Any of these contract methods (exact match, e.g. 일반경쟁, 제한경쟁, 수의계약, open).")

    @field_validator("closes_after", "closes_before")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        # A time without an offset is UTC, as every timestamp the API returns.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC) if value is not None else None

    @field_validator("department", "q", "contract_method")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the driver.
        values = value if isinstance(value, list) else [value]
        if any(v is not None and "\x00" in v for v in values):
            raise ValueError("must not contain NUL characters")
        return value

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
        if self.amount_gte is not None and self.amount_lte is not None and self.amount_gte > self.amount_lte:
            raise ValueError("amount_gte must not be greater than amount_lte")
        if (self.closes_after is not None and self.closes_before is not None
                and self.closes_after > self.closes_before):
            raise ValueError("closes_after must not be later than closes_before")
        return self

    def closing_window(self, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None, bool]:
        """(closes after, closes at or before, whether `after` is exclusive) from the deadline filters at `now`.

        One place turns `open`, `closes_within_days`, `closes_after` and `closes_before` into a range, for
        the SQL and for `matches` alike. `open=false` is handled apart (closed: at or before now).
        """
        low, high, exclusive = self.closes_after, self.closes_before, False
        if self.open or self.closes_within_days is not None:
            if low is None or low <= now:
                low, exclusive = now, True
        if self.closes_within_days is not None:
            limit = now + dt.timedelta(days=self.closes_within_days)
            high = limit if high is None else min(high, limit)
        return low, high, exclusive

    def cursor_binding(self) -> dict[str, Any]:
        """The normalised filter values a cursor is bound to."""
        return self.model_dump(exclude_defaults=True)


def matches(filters: BidFilters, bid: BidLike, *, body: str | None = None, now: dt.datetime | None = None) -> bool:
    """Whether one bid (with its notice `body`, for `q`) is selected by the filters, with the same rules as
    the SQL of `apply_filters`; `now` is the moment `open` and `closes_within_days` are measured from."""
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
    if filters.category and bid.category not in filters.category:
        return False
    if filters.contract_method and bid.contract_method not in filters.contract_method:
        return False
    if filters.amount_gte is not None and (bid.amount is None or bid.amount < filters.amount_gte):
        return False
    if filters.amount_lte is not None and (bid.amount is None or bid.amount > filters.amount_lte):
        return False
    if not _closing_matches(filters, bid.closes_at, now or dt.datetime.now(dt.UTC)):
        return False
    if filters.q is None:
        return True
    q = filters.q.lower()
    return q in bid.title.lower() or (body is not None and q in body.lower())


def _closing_matches(filters: BidFilters, closes_at: dt.datetime | None, now: dt.datetime) -> bool:
    if filters.open is False and (closes_at is None or closes_at > now):
        return False
    low, high, exclusive = filters.closing_window(now)
    if low is None and high is None:
        return True
    if closes_at is None:
        return False
    if low is not None and (closes_at <= low if exclusive else closes_at < low):
        return False
    return high is None or closes_at <= high


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere, for `ESCAPE '\\'`."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
