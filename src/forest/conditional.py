"""Conditional GET (RFC 9110 §13): ETag / If-None-Match and Last-Modified / If-Modified-Since.

Exports and feeds are polled by feed readers, calendar apps and scripts every few minutes; a repeat whose
validators still match costs a 304 with no body.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response


def http_date(value: dt.datetime) -> str:
    """An IMF-fixdate, e.g. `Sun, 29 Nov 2026 20:15:00 GMT`."""
    return format_datetime(value.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


def validators(etag: str, last_modified: dt.datetime | None) -> dict[str, str]:
    """The `ETag` (and `Last-Modified`, when known) headers of a representation."""
    headers = {"ETag": etag}
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    return headers


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def is_fresh(request: Request, etag: str, last_modified: dt.datetime | None) -> bool:
    """Whether the client's copy is current: If-None-Match (weak comparison) wins; If-Modified-Since is
    looked at only without it, at one-second precision."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        return any(_opaque(tag) == _opaque(etag) for tag in if_none_match.split(","))
    since = request.headers.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        client = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as RFC 9110 says
    if client.tzinfo is None:
        return False
    return last_modified.replace(microsecond=0) <= client


def not_modified(etag: str, last_modified: dt.datetime | None, cache_control: str) -> Response:
    """A 304 carrying the validators again."""
    return Response(status_code=304, headers={**validators(etag, last_modified), "Cache-Control": cache_control})
