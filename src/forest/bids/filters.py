"""The bid filter set shared by the list endpoint, alerts (saved searches) and their matching.

Each filter is defined once, in `RULES`: a rule reads its fields of `BidFilters` and gives both the WHERE
clauses of the list's SQL over `Bid` (`filter_clauses`, the same on PostgreSQL and SQLite) and the test of
one bid in Python (`matches`, what alert matching runs). A bid's missing value (no deadline, no amount)
matches no range on it, as SQL's NULL comparisons do.

Text (`q`) is a substring of the title or the notice body after folding case on both sides with one rule,
`backends.fold_case` (Unicode lower case): in Python directly, on PostgreSQL by `ILIKE` (its `lower()` in a
UTF-8 database), on SQLite by `lower(…) LIKE lower(…)`, SQLite's `lower()` being replaced by `fold_case` on
every connection. SQLite serves `q` of three characters or more from its FTS5 trigram index instead, whose
own Unicode case folding agrees with `str.lower` for letters whose lower case is one character (checked on
SQLite 3.40 for Latin, Greek, Cyrillic and full-width letters; Hangul has no case); `İ`, which lowers to two
characters, is the kind of exception.
"""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import BigInteger, Date, DateTime, Integer, Numeric, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from forest.backends import fold_case
from forest.bids import search
from forest.bids.models import Bid
from forest.database import utcnow

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


class Rule(Protocol):
    """One filter (some fields of `BidFilters`) as SQL and as a Python test; a filter that is not set gives
    no clause and passes every bid."""

    def clauses(self, filters: BidFilters, *, bound: bool, now: dt.datetime) -> builtins.list[ColumnElement[bool]]:
        """The WHERE clauses over `Bid`. `bound`: values as named bind parameters (`bind_values`)."""
        ...

    def bind_values(self, filters: BidFilters, now: dt.datetime) -> dict[str, Any]:
        """The values of the bind parameters of `clauses(bound=True)`."""
        ...

    def test(self, filters: BidFilters, bid: BidLike, body: str | None, now: dt.datetime) -> bool:
        """Whether one bid (with its notice `body`) passes."""
        ...


@dataclass(frozen=True)
class AnyOf:
    """A repeatable filter: the bid's column of the same name is one of the values (exact match). Bound, one
    value is an equality, which the planner serves from its `(column, post_date, id)` index in order; several
    are `= ANY(array)`, as `IN (…)` would be."""

    name: str
    type_: type[TypeEngine[Any]]

    def clauses(self, filters: BidFilters, *, bound: bool, now: dt.datetime) -> builtins.list[ColumnElement[bool]]:
        chosen = builtins.list(getattr(filters, self.name))
        column = getattr(Bid, self.name)
        if not chosen:
            return []
        if not bound:
            return [column.in_(chosen)]
        if len(chosen) == 1:
            return [column == bindparam(self.name, type_=self.type_)]
        return [column == any_(bindparam(self.name, type_=ARRAY(self.type_)))]

    def bind_values(self, filters: BidFilters, now: dt.datetime) -> dict[str, Any]:
        chosen = builtins.list(getattr(filters, self.name))
        if not chosen:
            return {}
        return {self.name: chosen[0] if len(chosen) == 1 else chosen}

    def test(self, filters: BidFilters, bid: BidLike, body: str | None, now: dt.datetime) -> bool:
        chosen = getattr(filters, self.name)
        return not chosen or getattr(bid, self.name) in chosen


@dataclass(frozen=True)
class Limit:
    """A bound on one column: field `name` is the least (`low`) or the greatest value the bid's `column` may
    have."""

    name: str
    column: str
    type_: type[TypeEngine[Any]]
    low: bool

    def clauses(self, filters: BidFilters, *, bound: bool, now: dt.datetime) -> builtins.list[ColumnElement[bool]]:
        value = getattr(filters, self.name)
        if value is None:
            return []
        column = getattr(Bid, self.column)
        param = bindparam(self.name, type_=self.type_) if bound else value
        return [column >= param if self.low else column <= param]

    def bind_values(self, filters: BidFilters, now: dt.datetime) -> dict[str, Any]:
        value = getattr(filters, self.name)
        return {} if value is None else {self.name: value}

    def test(self, filters: BidFilters, bid: BidLike, body: str | None, now: dt.datetime) -> bool:
        value = getattr(filters, self.name)
        if value is None:
            return True
        have = getattr(bid, self.column)
        return have is not None and (have >= value if self.low else have <= value)


class Closing:
    """The deadline filters (`open`, `closes_within_days`, `closes_after`, `closes_before`) as at most two
    comparisons on `closes_at` (served by its index), through `BidFilters.closing_window`. Bound, the shape
    (which ends, whether the low end is exclusive) goes into the compiled SQL's key (`~exclusive`)."""

    _stamp = DateTime(timezone=True)

    def clauses(self, filters: BidFilters, *, bound: bool, now: dt.datetime) -> builtins.list[ColumnElement[bool]]:
        out: builtins.list[ColumnElement[bool]] = []
        if filters.open is False:
            out.append(Bid.closes_at <= (bindparam("closed_by", type_=self._stamp) if bound else now))
        low, high, exclusive = filters.closing_window(now)
        if low is not None:
            param = bindparam("closes_low", type_=self._stamp) if bound else low
            out.append(Bid.closes_at > param if exclusive else Bid.closes_at >= param)
        if high is not None:
            out.append(Bid.closes_at <= (bindparam("closes_high", type_=self._stamp) if bound else high))
        return out

    def bind_values(self, filters: BidFilters, now: dt.datetime) -> dict[str, Any]:
        values: dict[str, Any] = {}
        low, high, exclusive = filters.closing_window(now)
        if filters.open is False:
            values["closed_by"] = now
        if low is not None:
            values["closes_low"] = low
        if high is not None:
            values["closes_high"] = high
        values["~exclusive"] = exclusive
        return values

    def test(self, filters: BidFilters, bid: BidLike, body: str | None, now: dt.datetime) -> bool:
        closes_at = bid.closes_at
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


class Text:
    """`q`: a substring of the title or the notice body, case folded by `fold_case` (the module docstring);
    the SQL is `search.TextSearch`, compiled per database."""

    def clauses(self, filters: BidFilters, *, bound: bool, now: dt.datetime) -> builtins.list[ColumnElement[bool]]:
        return [] if filters.q is None else [search.TextSearch(filters.q, bound=bound)]

    def bind_values(self, filters: BidFilters, now: dt.datetime) -> dict[str, Any]:
        if filters.q is None:
            return {}
        return {"q": search.like_pattern(filters.q), **search.bind_values(filters.q)}

    def test(self, filters: BidFilters, bid: BidLike, body: str | None, now: dt.datetime) -> bool:
        if filters.q is None:
            return True
        q = fold_case(filters.q)
        return q in fold_case(bid.title) or (body is not None and q in fold_case(body))


RULES: tuple[Rule, ...] = (
    AnyOf("department", String), AnyOf("source_id", BigInteger), AnyOf("category", String),
    AnyOf("contract_method", String),
    Limit("views_gte", "views", Integer, low=True), Limit("views_lte", "views", Integer, low=False),
    Limit("posted_from", "post_date", Date, low=True), Limit("posted_to", "post_date", Date, low=False),
    Limit("amount_gte", "amount", Numeric, low=True), Limit("amount_lte", "amount", Numeric, low=False),
    Closing(), Text(),
)


def filter_clauses(
    filters: BidFilters, *, bound: bool = False, now: dt.datetime | None = None,
) -> builtins.list[ColumnElement[bool]]:
    """The WHERE clauses of `filters` over `Bid`; `now` is when `open` and `closes_within_days` count from.

    `bound` (PostgreSQL only) renders every value as a named bind parameter, so the SQL is the same for any
    values of one set of filters and can be compiled once (`bind_values` gives the values).
    """
    now = now or utcnow()
    return [clause for rule in RULES for clause in rule.clauses(filters, bound=bound, now=now)]


def bind_values(filters: BidFilters, now: dt.datetime) -> dict[str, Any]:
    """The values of the bind parameters of `filter_clauses(filters, bound=True, now=now)`, by name."""
    return {name: value for rule in RULES for name, value in rule.bind_values(filters, now).items()}


def matches(filters: BidFilters, bid: BidLike, *, body: str | None = None, now: dt.datetime | None = None) -> bool:
    """Whether one bid (with its notice `body`, for `q`) is selected by the filters: the rules of
    `filter_clauses`, in Python; `now` is the moment `open` and `closes_within_days` are measured from."""
    now = now or dt.datetime.now(dt.UTC)
    return all(rule.test(filters, bid, body, now) for rule in RULES)

