"""A page request planned: list parameters, sort whitelists, the verified cursor position and the cut page."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import tuple_
from sqlalchemy.sql.elements import ColumnElement

from forest.errors import CursorError, CursorMismatch, UnsupportedSort
from forest.pagination.cursors import CURSOR_VERSION, CursorSigner, Kind, _decode, _encode, filter_hash

T = TypeVar("T")
# Where the API is mounted: list endpoints (and so their cursors) are named by their full path.
API_PREFIX = "/api/v1"
CountMode = Literal["none", "estimated", "exact"]


class CountInfo(BaseModel):
    """How many rows match; `exact` is false when the number is the planner's estimate."""

    value: int
    exact: bool


@dataclass(frozen=True)
class PageParams:
    """The list query parameters every collection endpoint shares."""

    limit: int
    cursor: str | None
    sort: str | None
    count: CountMode


async def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size (1..100).")] = 20,
    cursor: Annotated[str | None, Query(description="Opaque cursor from a previous page.")] = None,
    sort: Annotated[str | None, Query(max_length=40, description="Sort field; `-field` is descending.")] = None,
    count: Annotated[CountMode, Query(description="Ask for a total: `estimated` or `exact`.")] = "none",
) -> PageParams:
    """Dependency reading limit, cursor, sort and count (async: FastAPI would run a plain def in a thread)."""
    return PageParams(limit=limit, cursor=cursor, sort=sort, count=count)


class ListQuery(BaseModel):
    """The shared list parameters as a query model, for lists that declare their filters in one model too.

    FastAPI validates a query model in one pydantic call instead of one call (and one dependency) per parameter.
    """

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, le=100, description="Page size (1..100).")
    # No max_length: an over-long cursor is a malformed cursor (400 invalid_cursor), not a validation error.
    cursor: str | None = Field(None, description="Opaque cursor from a previous page.")
    sort: str | None = Field(None, max_length=40, description="Sort field; `-field` is descending.")
    count: CountMode = Field("none", description="Ask for a total: `estimated` or `exact`.")

    def page_params(self) -> PageParams:
        """limit, cursor, sort and count as the pagination functions take them."""
        return PageParams(limit=self.limit, cursor=self.cursor, sort=self.sort, count=self.count)



@dataclass(frozen=True)
class SortKey:
    """A sortable column and how its values travel inside a cursor.

    A `nullable` column sorts its nulls last in both directions: rows with a value first, by
    `(column, id)`, then the rows without one, by id. Each run is read with its own index range
    (`PagePlan.segments`), because a row-value comparison is never true for a null.
    """

    column: Any
    kind: Kind
    nullable: bool = False


@dataclass
class Keyset:
    """The sort whitelist of one endpoint, always tie-broken by the id column.

    `endpoint` names the list (its path): cursors are bound to it, so a cursor of one list is refused by
    another even when their sort and filters look alike (`/bids?sort=id` and `/users`).
    """

    endpoint: str
    id_column: Any
    id_kind: Kind
    sorts: Mapping[str, SortKey]
    default: str
    allowed: Sequence[str] = field(default_factory=tuple)

    def resolve(self, raw: str | None) -> tuple[str, SortKey, bool]:
        """Validate a `sort` value against the whitelist: (canonical name, key, descending)."""
        name = raw or self.default
        allowed = self.allowed or [*self.sorts, *(f"-{k}" for k in self.sorts)]
        if name not in allowed:
            raise UnsupportedSort(f"sort must be one of: {', '.join(allowed)}")
        desc = name.startswith("-")
        return name, self.sorts[name.lstrip("-")], desc


@dataclass
class PageResult(Generic[T]):
    """Rows of one page plus cursors and the optional count."""

    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None
    has_more: bool
    count: CountInfo | None


@dataclass(frozen=True)
class PagePlan:
    """One page request with its cursor verified: sort, direction, seek position and page size."""

    endpoint: str
    sort_name: str
    cols: tuple[Any, ...]
    kinds: tuple[Kind, ...]
    desc: bool
    fhash: str
    limit: int
    seek: tuple[Any, ...] | None
    backwards: bool
    nullable: bool = False

    @property
    def order_desc(self) -> bool:
        """Whether rows are read in descending order (a backwards page reads the index the other way)."""
        return self.desc != self.backwards

    def order_by(self) -> list[Any]:
        """ORDER BY of the page: the sort column, then the id, both in the read direction."""
        return [c.desc() if self.order_desc else c.asc() for c in self.cols]

    def seek_clause(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """`(sort column, id) < (values)` (or `>`): a row-value comparison an index on both columns serves."""
        if len(self.cols) == 2:
            left: Any = tuple_(*self.cols)
            right: Any = tuple_(*values)
        else:
            left, right = self.cols[0], values[0]
        cond: ColumnElement[bool] = left < right if self.order_desc else left > right
        return cond

    def segments(self) -> list[Segment]:
        """The runs a page reads, in reading order: for a nullable sort the rows with a value and the rows
        without one (nulls last in display order, so first when reading backwards); otherwise one run."""
        if not self.nullable:
            return [Segment("all", self.seek)]
        in_nulls = self.seek is not None and self.seek[0] is None
        if self.backwards:
            assert self.seek is not None  # a backwards page always starts from a cursor
            if in_nulls:
                return [Segment("nulls", self.seek), Segment("values", None)]
            return [Segment("values", self.seek)]
        if in_nulls:
            return [Segment("nulls", self.seek)]
        return [Segment("values", self.seek), Segment("nulls", None)]

    def segment_clauses(self, segment: Segment, values: Sequence[Any] | None) -> list[ColumnElement[bool]]:
        """WHERE clauses of one segment; `values` stand for the seek position (bind parameters or literals)."""
        if segment.kind == "all":
            return [self.seek_clause(values)] if values is not None else []
        column, id_column = self.cols
        if segment.kind == "values":
            out: list[ColumnElement[bool]] = [column.is_not(None)]
            if values is not None:
                out.append(self.seek_clause(values))
            return out
        out = [column.is_(None)]
        if values is not None:
            out.append(id_column < values[1] if self.order_desc else id_column > values[1])
        return out

    def segment_order_by(self, segment: Segment) -> list[Any]:
        """ORDER BY of one segment (the nulls run is ordered by id alone)."""
        if segment.kind == "nulls":
            id_column = self.cols[-1]
            return [id_column.desc() if self.order_desc else id_column.asc()]
        return self.order_by()


@dataclass(frozen=True)
class Segment:
    """One run of a page read: `all` rows, the rows with a sort value, or the `nulls`; `seek` is where it starts."""

    kind: Literal["all", "values", "nulls"]
    seek: tuple[Any, ...] | None


def plan_page(keyset: Keyset, params: PageParams, filters: Mapping[str, Any], signer: CursorSigner) -> PagePlan:
    """Check the sort against the whitelist and the cursor against the sort and filters it was issued for."""
    sort_name, key, desc = keyset.resolve(params.sort)
    fhash = filter_hash(filters)
    cols = (key.column, keyset.id_column) if key.column is not keyset.id_column else (keyset.id_column,)
    kinds = (key.kind, keyset.id_kind) if len(cols) == 2 else (keyset.id_kind,)
    seek: tuple[Any, ...] | None = None
    backwards = False
    if params.cursor:
        payload = signer.loads(params.cursor)
        if payload.get("e") != keyset.endpoint:
            raise CursorMismatch("This cursor was issued by another list; start again without it.")
        if payload.get("s") != sort_name or payload.get("f") != fhash:
            raise CursorMismatch("This cursor was issued for another sort or other filters; start again without it.")
        raw_key = payload.get("k")
        if not isinstance(raw_key, list) or len(raw_key) != len(cols):
            raise CursorError("The cursor's position is malformed.")
        seek = tuple(None if v is None and key.nullable and i == 0 else _decode(v, kd)
                     for i, (v, kd) in enumerate(zip(raw_key, kinds, strict=True)))
        backwards = payload.get("d") == "p"
    return PagePlan(endpoint=keyset.endpoint, sort_name=sort_name, cols=cols, kinds=kinds, desc=desc, fhash=fhash,
                    limit=params.limit, seek=seek, backwards=backwards, nullable=key.nullable and len(cols) == 2)


def _attr(row: Any, name: str) -> Any:
    return getattr(row, name)


def sign_position(plan: PagePlan, values: Sequence[Any], signer: CursorSigner, direction: str = "n") -> str:
    """The cursor of one row's position (`values` of `plan.cols`): `n` reads on after it, `p` before it."""
    vals = [_encode(v, kd) for v, kd in zip(values, plan.kinds, strict=True)]
    return signer.dumps({"v": CURSOR_VERSION, "e": plan.endpoint, "s": plan.sort_name, "f": plan.fhash, "k": vals,
                         "d": direction})


def finish_page(plan: PagePlan, rows: list[T], signer: CursorSigner,
                value: Callable[[T, str], Any] = _attr) -> PageResult[T]:
    """Cut the `limit + 1` rows read for `plan` to one page in display order and sign its cursors."""
    extra = len(rows) > plan.limit
    rows = rows[: plan.limit]

    def cursor_for(row: T, direction: str) -> str:
        return sign_position(plan, [value(row, c.key) for c in plan.cols], signer, direction)

    if plan.backwards:
        rows.reverse()
        next_cursor = cursor_for(rows[-1], "n") if rows else None
        prev_cursor = cursor_for(rows[0], "p") if rows and extra else None
        has_more = bool(rows)
    else:
        next_cursor = cursor_for(rows[-1], "n") if rows and extra else None
        prev_cursor = cursor_for(rows[0], "p") if rows and plan.seek is not None else None
        has_more = extra
    return PageResult(items=rows, next_cursor=next_cursor, prev_cursor=prev_cursor, has_more=has_more, count=None)

