"""Keyset (seek) pagination with opaque, signed cursors bound to the sort and the filters.

Every list endpoint orders by `(sort column, id)` in one direction and seeks with a row-value
comparison, so an index on `(sort column, id)` serves any page at the same cost as the first.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import types
import typing
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter
from sqlalchemy import Integer, Select, bindparam, literal, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from forest.backends import backend_of
from forest.database import Database
from forest.errors import CursorError, CursorMismatch, UnsupportedSort

T = TypeVar("T")
# Where the API is mounted: list endpoints (and so their cursors) are named by their full path.
API_PREFIX = "/api/v1"
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
        sig = hmac.digest(self._keys[0], body, "sha256")  # one-shot, in C: no HMAC object per cursor
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
        if not any(hmac.compare_digest(hmac.digest(k, body, "sha256"), sig) for k in self._keys):
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


Row = Mapping[str, Any]
# Builds the SQL (`$n` parameters) and arguments of one run of a page on the driver: (plan, segment, rows wanted).
DriverStatement = Callable[[PagePlan, Segment, int], tuple[str, list[Any]]]
# A list that reads a run in more than one statement on the driver engine (the bid list's `q`:
# bids.search.fetch_run) gives this instead: (plan, run, rows wanted) -> the rows, read by column name.
DriverRun = Callable[[PagePlan, Segment, int], Awaitable[Sequence[Any]]]


def columns_of(table: Any, schema: type[BaseModel], *extra: str) -> tuple[ColumnElement[Any], ...]:
    """The columns of `table` (a mapped class or a Table) named like the fields of `schema`, plus `extra` ones:
    what a list selects, so its rows hold the schema's fields and nothing the API does not show."""
    columns = getattr(table, "__table__", table).c
    return tuple(columns[name] for name in (*schema.model_fields, *extra) if name in columns)


@functools.cache
def _built(build: Callable[..., Select[Any]], shape: tuple[Any, ...]) -> Select[Any]:
    return build(*shape)


@dataclass(frozen=True)
class ListSelect:
    """What a list selects before order and limit: a Core select of the columns it shows with its filters.

    `build(*shape)` makes the statement with named bind parameters (`bindparam("viewer")`) where the request's
    values go, and `values` holds them: a list has a few shapes (admin or not, which filters are set), so each
    is built and compiled once and a request only binds its values. Constructing SQLAlchemy expressions and
    their cache keys on every request cost a third of a list request's CPU (bench/RESULTS.md, Pagination).
    """

    build: Callable[..., Select[Any]]
    shape: tuple[Any, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    #: False for a statement built with its values inline (read per request, never compiled for the driver).
    cached: bool = True

    def statement(self) -> Select[Any]:
        """The statement of this shape (built once), values unbound."""
        return _built(self.build, self.shape) if self.cached else self.build(*self.shape)

    def bound(self) -> Select[Any]:
        """The statement with this request's values bound: a self-contained select (counts, plans, tools)."""
        return self.statement().params(**self.values) if self.values else self.statement()


def page_statement(stmt: Select[Any], plan: PagePlan, segment: Segment | None = None, *,
                   limit: int | None = None) -> Select[Any]:
    """`stmt` cut to one run of the page of `plan` (its first by default): the seek from the cursor, the keyset
    order and `limit` rows (`limit + 1` of the plan by default)."""
    segment = segment or plan.segments()[0]
    seek = None if segment.seek is None else [
        None if v is None else literal(v, c.type) for v, c in zip(segment.seek, plan.cols, strict=True)]
    return (stmt.where(*plan.segment_clauses(segment, seek)).order_by(*plan.segment_order_by(segment))
            .limit(plan.limit + 1 if limit is None else limit))


def _page_template(stmt: Select[Any], plan: PagePlan, segment: Segment) -> Select[Any]:
    """`stmt` cut to one run of a page with the seek position and the limit as bind parameters."""
    seek = None if segment.seek is None else [bindparam(f"seek_{i}", type_=c.type) for i, c in enumerate(plan.cols)]
    return (stmt.where(*plan.segment_clauses(segment, seek)).order_by(*plan.segment_order_by(segment))
            .limit(bindparam("page_limit", type_=Integer)))


def _page_values(query: ListSelect, plan: PagePlan, segment: Segment, limit: int) -> dict[str, Any]:
    values = dict(query.values)
    values.update((f"seek_{i}", v) for i, v in enumerate(segment.seek or ()))
    values["page_limit"] = limit
    return values


# Compiled page statements: a few per list (its shapes × sort, direction, cursor or not, run of the page).
_compiled: dict[tuple[Any, ...], SQLCompiler] = {}


def page_query(dialect: Dialect, query: ListSelect, plan: PagePlan, segment: Segment | None = None, *,
               limit: int | None = None) -> tuple[str, list[Any]]:
    """One run of a page of `query` as the driver runs it: its SQL (`$n` parameters), compiled once per shape,
    and its arguments in order, after SQLAlchemy's bind processing."""
    segment = segment or plan.segments()[0]
    key = (query.build, query.shape, dialect.name, plan.sort_name, plan.backwards, segment.kind,
           segment.seek is not None)
    if not query.cached:
        raise ValueError("a statement built with its values inline is not compiled for the driver")
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled[key] = _page_template(query.statement(), plan, segment).compile(dialect=dialect)
    params: Mapping[str, Any] = compiled.construct_params(
        _page_values(query, plan, segment, plan.limit + 1 if limit is None else limit))
    sql: str = compiled.string
    names: Sequence[str] = compiled.positiontup or ()
    processors: Mapping[str, Any] = compiled._bind_processors
    if compiled.post_compile_params or compiled.literal_execute_params:  # `IN (…)` lists: expanded per call
        state = compiled.construct_expanded_state(params)
        sql, names, params, processors = state.statement, state.positiontup or (), state.parameters, state.processors
    args: list[Any] = []
    for name in names:
        process: Any = processors.get(name)
        args.append(params[name] if process is None else process(params[name]))
    return sql, args


def uses_driver(db: Database) -> bool:
    """Whether pages of `db` are read by the driver engine (PostgreSQL on asyncpg) rather than a session."""
    return db.engine.dialect.name == "postgresql" and db.engine.dialect.driver == "asyncpg"


async def fetch_page(
    db: Database, query: ListSelect, plan: PagePlan, *, limit: int | None = None,
    driver: DriverStatement | None = None, as_dicts: bool = False, run: DriverRun | None = None,
) -> list[Row]:
    """Up to `limit` rows (the plan's `limit + 1` by default) of `query` in the order of `plan` from its seek
    position, read run by run (`PagePlan.segments`).

    Two engines: on PostgreSQL the compiled statement runs on the asyncpg driver outside a transaction (`driver`
    builds it when a list tunes its own SQL, else `page_query`); elsewhere a short session runs the statement
    through SQLAlchemy. Rows are read by column name; `as_dicts` copies the driver's records to dicts.
    """
    want_total = plan.limit + 1 if limit is None else limit
    rows: list[Row] = []
    if uses_driver(db):
        for segment in plan.segments():
            want = want_total - len(rows)
            if want <= 0:
                break
            if run is not None:
                found: Sequence[Any] = await run(plan, segment, want)
            else:
                if driver is not None:
                    sql, args = driver(plan, segment, want)
                else:
                    sql, args = page_query(db.engine.dialect, query, plan, segment, limit=want)
                found = await db.fetch(sql, *args)
            rows.extend((dict(row) for row in found) if as_dicts else found)
        return rows
    async with db.sessionmaker() as session:
        conn = await session.connection()
        for segment in plan.segments():
            want = want_total - len(rows)
            if want <= 0:
                break
            page = _page_template(query.statement(), plan, segment)
            result = await conn.execute(page, _page_values(query, plan, segment, want))
            rows.extend(dict(row) for row in result.mappings())
    return rows


def _column(row: Row, name: str) -> Any:
    return row[name]


async def paginate(
    db: Database,
    query: ListSelect,
    *,
    keyset: Keyset,
    params: PageParams,
    filters: Mapping[str, Any],
    signer: CursorSigner,
    count_timeout_ms: int = 250,
    driver: DriverStatement | None = None,
    run: DriverRun | None = None,
) -> PageResult[Row]:
    """One keyset page of a list: the cursor checked against the list's sort and `filters`, the rows of `query`
    read by `fetch_page`, cursors signed, and the total when asked for. The one pagination flow of every list."""
    plan = plan_page(keyset, params, filters, signer)
    rows = await fetch_page(db, query, plan, driver=driver, run=run)
    result = finish_page(plan, rows, signer, _column)
    if params.count != "none":
        async with db.sessionmaker() as session:
            result.count = await count_rows(session, query.bound(), params.count, count_timeout_ms)
    return result


async def count_rows(session: AsyncSession, stmt: Select[Any], mode: CountMode, timeout_ms: int) -> CountInfo:
    """How many rows `stmt` selects: exactly (within `timeout_ms`, else estimated) or the planner's estimate
    (the backend's `count_rows`: SQLite always counts)."""
    value, exact = await backend_of(session).count_rows(session, stmt, exact=mode == "exact", timeout_ms=timeout_ms)
    return CountInfo(value=value, exact=exact)


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


Convert = Callable[[Any], Any]
_UNSUPPORTED = object()
# Types whose values orjson writes exactly as pydantic does (checked by tests/pagination/test_json_body.py).
_AS_IS: tuple[Any, ...] = (int, str, bool, float, dt.date, dt.datetime, uuid.UUID, Any)


def _optional(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def _converter(annotation: Any, metadata: Sequence[Any] = ()) -> Any:
    """How a value of `annotation` becomes JSON-ready: None (as it is), a function, or _UNSUPPORTED."""
    for item in metadata:
        if isinstance(item, PlainSerializer):
            return item.func if item.when_used in ("always", "json") else _UNSUPPORTED
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _converter(args[0], args[1:])
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in args if arg is not type(None)]
        if len(inner) != 1:
            return _UNSUPPORTED
        convert = _converter(inner[0])
        return convert if convert is None or convert is _UNSUPPORTED else _optional(convert)
    if origin is Literal:
        return None if all(isinstance(arg, str) for arg in args) else _UNSUPPORTED
    if origin is list and len(args) == 1:
        convert = _converter(args[0])
        if convert is None or convert is _UNSUPPORTED:
            return convert
        return lambda values: [convert(value) for value in values]
    if origin is dict and len(args) == 2 and args[0] is str:
        return None if args[1] in _AS_IS else _UNSUPPORTED
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _item_builder(annotation) or _UNSUPPORTED
    return None if annotation in _AS_IS else _UNSUPPORTED


@functools.cache
def _item_builder(schema: type[BaseModel]) -> Callable[[Row], dict[str, Any]] | None:
    """A function turning a row (or a JSON object) into the JSON-ready item of `schema`, field by field in the
    schema's order, when orjson then writes the bytes pydantic would; None when the schema validates, renames
    or serialises in its own way (its items then go through pydantic). A schema whose validators only hide
    values may say how instead: a static `json_item(row)` giving the dict it would dump (tests hold the bytes
    equal to pydantic's)."""
    own = getattr(schema, "json_item", None)
    if callable(own):
        return typing.cast(Callable[[Row], dict[str, Any]], own)
    decorators = schema.__pydantic_decorators__
    if (decorators.validators or decorators.field_validators or decorators.root_validators
            or decorators.model_validators or decorators.field_serializers or decorators.model_serializers
            or decorators.computed_fields or any(key.startswith("ser_") for key in schema.model_config)):
        return None
    fields: list[tuple[str, Convert | None]] = []
    for name, info in schema.model_fields.items():
        if info.alias or info.serialization_alias or info.exclude or info.exclude_if is not None:
            return None
        convert = _converter(info.annotation, info.metadata)
        if convert is _UNSUPPORTED:
            return None
        fields.append((name, convert))

    names = tuple(name for name, _ in fields)
    converted = tuple((name, convert) for name, convert in fields if convert is not None)

    def build(row: Row) -> dict[str, Any]:
        item = dict(row)
        if tuple(item) != names:  # not a row of exactly the schema's columns in its order (a stored JSON object)
            item = {name: item[name] for name in names}
        for name, convert in converted:
            item[name] = convert(item[name])
        return item

    return build


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):  # the driver's own UUID type
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_page_adapters: dict[type[BaseModel], TypeAdapter[Any]] = {}


def page_body(result: PageResult[Any], schema: type[BaseModel]) -> bytes:
    """The JSON of one page whose items are rows (or dicts) holding the fields of `schema`: `Page[schema]` is the
    documented contract, and these are the bytes its pydantic serialisation would give.

    A schema of plain fields (no validators, aliases or own serialisers) is written by orjson straight from the
    rows: validating rows the database just returned into models only to dump them again was the largest cost
    of a list request after the query (bench/RESULTS.md, Pagination). Other schemas are validated and dumped.
    """
    build = _item_builder(schema)
    if build is None:
        adapter = _page_adapters.get(schema)
        if adapter is None:
            adapter = _page_adapters[schema] = TypeAdapter(Page[schema])  # type: ignore[valid-type]
        items = [row if isinstance(row, dict) else dict(row) for row in result.items]
        page = {"items": items, "next_cursor": result.next_cursor, "prev_cursor": result.prev_cursor,
                "has_more": result.has_more, "count": result.count}
        return adapter.dump_json(adapter.validate_python(page))
    body: dict[str, Any] = {"items": [build(row) for row in result.items], "next_cursor": result.next_cursor,
                            "prev_cursor": result.prev_cursor, "has_more": result.has_more}
    if result.count is not None:
        body["count"] = {"value": result.count.value, "exact": result.count.exact}
    return orjson.dumps(body, default=_default, option=orjson.OPT_UTC_Z)


def page_response(result: PageResult[Any], request: Request, schema: type[BaseModel]) -> Response:
    """The list body as JSON bytes (`page_body`) plus its Link header; FastAPI sends the Response as it is."""
    header = link_header(request, result)
    return Response(page_body(result, schema), media_type="application/json",
                    headers={"Link": header} if header else None)
