"""Keyset (seek) pagination with opaque, signed cursors bound to the sort and the filters.

Every list endpoint orders by `(sort column, id)` in one direction and seeks with a row-value
comparison, so an index on `(sort column, id)` serves any page at the same cost as the first.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import Select, func, literal, select, text, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from forest.errors import CursorError, CursorMismatch, UnsupportedSort
from forest.explain import Explain

T = TypeVar("T")
CURSOR_VERSION = 1
# Longer than any cursor the server signs (a few hundred characters); a longer one is refused unread.
MAX_CURSOR_LENGTH = 2048
Kind = Literal["int", "date", "datetime", "str", "uuid", "decimal"]
CountMode = Literal["none", "estimated", "exact"]


class CountInfo(BaseModel):
    """How many rows match; `exact` is false when the number is the planner's estimate."""

    value: int
    exact: bool


class Page(BaseModel, Generic[T]):
    """One page of a list: items plus the cursors to move on either way."""

    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None
    has_more: bool
    # Only present when asked for (`count=`); a field-level exclusion keeps serialisation in pydantic-core.
    count: CountInfo | None = Field(default=None, exclude_if=lambda value: value is None)


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


class CursorSigner:
    """Signs and verifies cursors with HMAC-SHA256; older keys still verify during rotation."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        self._keys = [hashlib.sha256(b"forest-cursor:" + k).digest() for k in keys]

    def dumps(self, payload: Mapping[str, Any]) -> str:
        """Encode and sign a payload with the current key."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        sig = hmac.new(self._keys[0], body, hashlib.sha256).digest()
        return _b64(body) + "." + _b64(sig)

    def loads(self, token: str) -> dict[str, Any]:
        """Verify and decode a cursor, raising CursorError if it is malformed or not ours."""
        if len(token) > MAX_CURSOR_LENGTH:
            raise CursorError("The cursor is malformed (too long).")
        try:
            body_part, sig_part = token.split(".")
            body, sig = _unb64(body_part), _unb64(sig_part)
        except (ValueError, TypeError) as exc:
            raise CursorError("The cursor is malformed.") from exc
        if not any(hmac.compare_digest(hmac.new(k, body, hashlib.sha256).digest(), sig) for k in self._keys):
            raise CursorError("The cursor's signature does not verify.")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise CursorError("The cursor is malformed.") from exc
        if not isinstance(payload, dict) or payload.get("v") != CURSOR_VERSION:
            raise CursorError("The cursor's version is not supported.")
        return payload


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text_: str) -> bytes:
    return base64.urlsafe_b64decode(text_ + "=" * (-len(text_) % 4))


def filter_hash(filters: Mapping[str, Any]) -> str:
    """A stable digest of the normalised filter set a cursor is bound to."""
    norm: dict[str, Any] = {}
    for key, value in filters.items():
        if value is None or value == [] or value == ():
            continue
        if isinstance(value, list | tuple | set | frozenset):
            norm[key] = sorted(str(v) for v in value)
        else:
            norm[key] = str(value)
    return hashlib.sha256(json.dumps(norm, sort_keys=True).encode()).hexdigest()[:32]


def _encode(value: Any, kind: Kind) -> Any:
    if value is None:
        return None  # a nullable sort column: the position is in the trailing run of nulls
    if kind in ("date", "datetime"):
        return value.isoformat()
    if kind in ("uuid", "decimal"):
        return str(value)
    return value


def _decode(value: Any, kind: Kind) -> Any:
    try:
        if kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError
            return value
        if kind == "date":
            return dt.date.fromisoformat(value)
        if kind == "datetime":
            parsed = dt.datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        if kind == "uuid":
            return uuid.UUID(value)
        if kind == "decimal":
            if not isinstance(value, str):
                raise TypeError
            number = Decimal(value)
            if not number.is_finite():
                raise ValueError
            return number
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise CursorError("The cursor's position is malformed.") from exc


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


def page_statement(stmt: Select[Any], plan: PagePlan, segment: Segment | None = None, *,
                   limit: int | None = None) -> Select[Any]:
    """`stmt` cut to one run of the page of `plan` (its first by default): the seek from the cursor, the keyset
    order and `limit` rows (`limit + 1` of the plan by default)."""
    segment = segment or plan.segments()[0]
    seek = None if segment.seek is None else [
        None if v is None else literal(v, c.type) for v, c in zip(segment.seek, plan.cols, strict=True)]
    return (stmt.where(*plan.segment_clauses(segment, seek)).order_by(*plan.segment_order_by(segment))
            .limit(plan.limit + 1 if limit is None else limit))


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    keyset: Keyset,
    params: PageParams,
    filters: Mapping[str, Any],
    signer: CursorSigner,
    count_timeout_ms: int = 250,
) -> PageResult[Any]:
    """Run one keyset page of `stmt` (one ORM entity or a Core select of columns, filters already applied)."""
    plan = plan_page(keyset, params, filters, signer)
    base = stmt
    rows: list[Any] = []
    for segment in plan.segments():
        want = plan.limit + 1 - len(rows)
        if want <= 0:
            break
        page = page_statement(base, plan, segment, limit=want)
        if len(page.column_descriptions) == 1:
            rows.extend((await session.scalars(page)).all())
        else:
            # A Core select of columns: run on the session's connection, skipping the ORM's result machinery.
            rows.extend((await (await session.connection()).execute(page)).all())
    result = finish_page(plan, rows, signer)
    if params.count != "none":
        result.count = await count_rows(session, base, params.count, count_timeout_ms)
    return result


_SET_TIMEOUT = text("SELECT set_config('statement_timeout', :t, true)")


async def count_rows(session: AsyncSession, stmt: Select[Any], mode: CountMode, timeout_ms: int) -> CountInfo:
    """How many rows `stmt` selects: exactly (within `timeout_ms`, else estimated) or the planner's estimate."""
    count_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return CountInfo(value=int((await session.scalar(count_stmt)) or 0), exact=True)
    if mode == "exact":
        previous = str(await session.scalar(text("SHOW statement_timeout")))
        try:
            async with session.begin_nested():
                await session.execute(_SET_TIMEOUT, {"t": f"{timeout_ms}ms"})
                value = int((await session.scalar(count_stmt)) or 0)
                await session.execute(_SET_TIMEOUT, {"t": previous})
            return CountInfo(value=value, exact=True)
        except DBAPIError:
            pass  # Too slow to count exactly within the budget: fall back to the planner's estimate.
    plan = (await session.execute(Explain(stmt.order_by(None), options="FORMAT JSON"))).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return CountInfo(value=int(plan[0]["Plan"]["Plan Rows"]), exact=False)


def link_header(request: Request, result: PageResult[Any]) -> str | None:
    """RFC 8288 `Link` header for the next and previous pages, repeating every filter.

    The links start with `FOREST_PUBLIC_URL` when it is set and are relative (`/api/v1/…?…`, resolved by the
    client against the URL it asked) otherwise: never built from the request's `Host` header, which a client
    or a misconfigured proxy can set to anything, so a cached or shared response cannot point elsewhere.
    """
    public_url: str | None = request.app.state.settings.public_url
    base = (public_url or "") + request.url.path
    links = []
    for rel, cursor in (("next", result.next_cursor), ("prev", result.prev_cursor)):
        if cursor is None:
            continue
        items = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        items.append(("cursor", cursor))
        links.append(f'<{base}?{urlencode(items)}>; rel="{rel}"')
    return ", ".join(links) or None


_page_adapters: dict[type[BaseModel], TypeAdapter[Any]] = {}


def page_response(result: PageResult[Any], request: Request, schema: type[BaseModel]) -> Response:
    """The list body as JSON bytes plus its Link header, for routes that return a Response themselves.

    Rows are validated against `schema` and serialised in one pydantic-core pass; FastAPI then sends the
    Response as it is instead of validating and serialising the return value again.
    """
    adapter = _page_adapters.get(schema)
    if adapter is None:
        adapter = _page_adapters[schema] = TypeAdapter(Page[schema])  # type: ignore[valid-type]
    body = {"items": result.items, "next_cursor": result.next_cursor, "prev_cursor": result.prev_cursor,
            "has_more": result.has_more, "count": result.count}
    header = link_header(request, result)
    return Response(adapter.dump_json(adapter.validate_python(body)), media_type="application/json",
                    headers={"Link": header} if header else None)
