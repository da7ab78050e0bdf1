"""Writing a page: the `Page` model, the Link header and the JSON body (orjson straight from the rows)."""

from __future__ import annotations

import datetime as dt
import functools
import re
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import unquote_plus, urlencode

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field, PlainSerializer, TypeAdapter

from forest.pagination.fetch import Row
from forest.pagination.plan import CountInfo, PageResult

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: items plus the cursors to move on either way."""

    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None
    has_more: bool
    # Only present when asked for (`count=`); a field-level exclusion keeps serialisation in pydantic-core.
    count: CountInfo | None = Field(default=None, exclude_if=lambda value: value is None)


def link_header(request: Request, result: PageResult[Any]) -> str | None:
    """RFC 8288 `Link` header for the next and previous pages, repeating every filter.

    The links start with `FOREST_PUBLIC_URL` when it is set and are relative (`/api/v1/…?…`, resolved by the
    client against the URL it asked) otherwise: never built from the request's `Host` header, which a client
    or a misconfigured proxy can set to anything, so a cached or shared response cannot point elsewhere.
    """
    if result.next_cursor is None and result.prev_cursor is None:
        return None
    public_url: str | None = request.app.state.settings.public_url
    base = (public_url or "") + request.url.path
    kept = _kept_query(request)
    links = []
    for rel, cursor in (("next", result.next_cursor), ("prev", result.prev_cursor)):
        if cursor is not None:
            links.append(f'<{base}?{kept}cursor={cursor}>; rel="{rel}"')
    return ", ".join(links)


# A query string of URI characters only (RFC 3986: unreserved, sub-delims, ":", "@", "/", "?", "%XX"): safe to
# repeat as it came inside `<…>`, with no `>`, quote, space or control character a client could slip in.
_PLAIN_QUERY = re.compile(rb"[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*(?:%[0-9A-Fa-f]{2}[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)*")


def _kept_query(request: Request) -> str:
    """The request's query without its `cursor`, ready to take one more parameter (`…&` or empty).

    The parameters stay as the client wrote them when that is plain URI text (re-encoding every value was 3 %
    of a list request's CPU); anything else is decoded and encoded again."""
    raw: bytes = request.scope.get("query_string", b"")
    if _PLAIN_QUERY.fullmatch(raw):
        kept = [part for part in raw.decode("ascii").split("&") if part and not _is_cursor(part)]
        return "".join(part + "&" for part in kept)
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    return urlencode(items) + "&" if items else ""


def _is_cursor(part: str) -> bool:
    key = part.split("=", 1)[0]
    return (unquote_plus(key) if "%" in key or "+" in key else key) == "cursor"


Convert = Callable[[Any], Any]
_UNSUPPORTED = object()
# Types whose values orjson writes exactly as pydantic does (checked by tests/pagination/test_page_body.py).
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
    if "json_item" in vars(schema):  # the schema's own: a subclass with more fields does not inherit it
        return typing.cast(Callable[[Row], dict[str, Any]], schema.json_item)  # type: ignore[attr-defined]
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
