"""Values as an export writes them: RFC 3339 stamps, plain amounts, spreadsheet-safe cells, JSON fallbacks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


def rfc3339(value: dt.datetime) -> str:
    """A UTC timestamp as RFC 3339 with `Z`, e.g. `2026-11-20T09:30:00Z` (microseconds kept when present)."""
    if value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat() + "Z"


def money(value: Decimal) -> str:
    """Plain digits without exponent or trailing zeros, as the API shows amounts: `1474567273`, `120000.5`."""
    return format(value.normalize(), "f")


# Spreadsheets run a cell starting with one of these as a formula (CSV injection): such a cell gets a
# leading apostrophe, which Excel, LibreOffice and Google Sheets show as text and do not print.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """`text` safe to open in a spreadsheet: a leading formula character is escaped with `'`."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return money(value)
    return str(value)


def fact(facts: dict[str, Any], name: str) -> Any:
    value = facts.get(name)
    return value if isinstance(value, str | bool) else None


def json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return money(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def stamp(value: dt.datetime | None) -> str | None:
    # rfc3339 for the common case (the driver's UTC datetimes) in one call; None stays None (an empty cell).
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else rfc3339(value)
