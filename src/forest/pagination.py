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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Row, Select, func, literal, select, text, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from forest.errors import CursorError, CursorMismatch, UnsupportedSort

T = TypeVar("T")
CURSOR_VERSION = 1
Kind = Literal["int", "date", "datetime", "str", "uuid"]
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
    cursor: Annotated[str | None, Query(max_length=2048, description="Opaque cursor from a previous page.")] = None,
    sort: Annotated[str | None, Query(max_length=40, description="Sort field; `-field` is descending.")] = None,
    count: Annotated[CountMode, Query(description="Ask for a total: `estimated` or `exact`.")] = "none",
) -> PageParams:
    """Dependency reading limit, cursor, sort and count (async: FastAPI would run a plain def in a thread)."""
    return PageParams(limit=limit, cursor=cursor, sort=sort, count=count)


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
    if kind in ("date", "datetime"):
        return value.isoformat()
    if kind == "uuid":
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
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError) as exc:
        raise CursorError("The cursor's position is malformed.") from exc


@dataclass(frozen=True)
class SortKey:
    """A sortable column and how its values travel inside a cursor."""

    column: Any
    kind: Kind


@dataclass
class Keyset:
    """The sort whitelist of one endpoint, always tie-broken by the id column."""

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
    sort_name, key, desc = keyset.resolve(params.sort)
    fhash = filter_hash(filters)
    backwards = False
    cols = (key.column, keyset.id_column) if key.column is not keyset.id_column else (keyset.id_column,)
    kinds = (key.kind, keyset.id_kind) if len(cols) == 2 else (keyset.id_kind,)

    base = stmt
    if params.cursor:
        payload = signer.loads(params.cursor)
        if payload.get("s") != sort_name or payload.get("f") != fhash:
            raise CursorMismatch("This cursor was issued for another sort or other filters; start again without it.")
        raw_key = payload.get("k")
        if not isinstance(raw_key, list) or len(raw_key) != len(cols):
            raise CursorError("The cursor's position is malformed.")
        values = [_decode(v, kd) for v, kd in zip(raw_key, kinds, strict=True)]
        backwards = payload.get("d") == "p"
        seek_desc = desc != backwards
        left = tuple_(*cols) if len(cols) == 2 else cols[0]
        right = (tuple_(*(literal(v, c.type) for v, c in zip(values, cols, strict=True)))
                 if len(cols) == 2 else literal(values[0], cols[0].type))
        cond: ColumnElement[bool] = left < right if seek_desc else left > right
        stmt = stmt.where(cond)

    order_desc = desc != backwards
    stmt = stmt.order_by(*(c.desc() if order_desc else c.asc() for c in cols)).limit(params.limit + 1)
    rows: list[Any]
    if len(stmt.column_descriptions) == 1:
        rows = list((await session.scalars(stmt)).all())
    else:
        # A Core select of columns: run on the session's connection, skipping the ORM's result machinery.
        rows = list((await (await session.connection()).execute(stmt)).all())
    extra = len(rows) > params.limit
    rows = rows[: params.limit]

    def cursor_for(row: Any, direction: str) -> str:
        vals = [_encode(getattr(row, c.key), kd) for c, kd in zip(cols, kinds, strict=True)]
        return signer.dumps({"v": CURSOR_VERSION, "s": sort_name, "f": fhash, "k": vals, "d": direction})

    if backwards:
        rows.reverse()
        next_cursor = cursor_for(rows[-1], "n") if rows else None
        prev_cursor = cursor_for(rows[0], "p") if rows and extra else None
        has_more = bool(rows)
    else:
        next_cursor = cursor_for(rows[-1], "n") if rows and extra else None
        prev_cursor = cursor_for(rows[0], "p") if rows and params.cursor else None
        has_more = extra

    count = None
    if params.count != "none":
        count = await _count(session, base, params.count, count_timeout_ms)
    return PageResult(items=rows, next_cursor=next_cursor, prev_cursor=prev_cursor, has_more=has_more, count=count)


_SET_TIMEOUT = text("SELECT set_config('statement_timeout', :t, true)")


async def _count(session: AsyncSession, stmt: Select[Any], mode: CountMode, timeout_ms: int) -> CountInfo:
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
    compiled = stmt.order_by(None).compile(dialect=session.bind.dialect, compile_kwargs={"literal_binds": True})
    plan = (await session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}"))).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return CountInfo(value=int(plan[0]["Plan"]["Plan Rows"]), exact=False)


def link_header(request: Request, result: PageResult[Any]) -> str | None:
    """RFC 8288 `Link` header for the next and previous pages, repeating every filter."""
    links = []
    for rel, cursor in (("next", result.next_cursor), ("prev", result.prev_cursor)):
        if cursor is None:
            continue
        items = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        items.append(("cursor", cursor))
        url = request.url.replace(query=urlencode(items))
        links.append(f'<{url}>; rel="{rel}"')
    return ", ".join(links) or None


def to_page(result: PageResult[Any], response: Response, request: Request, schema: type[BaseModel]) -> dict[str, Any]:
    """Turn a PageResult into the list body and set its Link header."""
    header = link_header(request, result)
    if header:
        response.headers["Link"] = header
    items = result.items
    if items and isinstance(items[0], Row):
        fields = items[0]._fields  # a Core page: plain dicts validate faster than attribute lookups
        items = [dict(zip(fields, row, strict=True)) for row in items]
    body: dict[str, Any] = {
        "items": [schema.model_validate(item) for item in items],
        "next_cursor": result.next_cursor,
        "prev_cursor": result.prev_cursor,
        "has_more": result.has_more,
    }
    if result.count is not None:
        body["count"] = result.count
    return body
