"""The rule every piece of client text obeys, checked once at the edge of the API.

PostgreSQL's `text` and `jsonb` cannot hold U+0000: a NUL that reached the database was a driver error
(a 500) on PostgreSQL and silently stored on SQLite. Rather than a validator on each schema field (which a
new field could forget), `reject_nul_characters` (a dependency of the whole app, see `forest.dependencies`)
looks at the request as parsed: every query and path parameter, every form field and every string or key
of a JSON body. A NUL anywhere is a 422 `validation_error` naming where it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

NUL = "\x00"
NUL_MESSAGE = "must not contain NUL characters (U+0000)"
NUL_ERROR_TYPE = "string_contains_nul"

Loc = tuple[str | int, ...]


def nul_locations(value: Any, loc: Loc = ()) -> Iterator[Loc]:
    """Where `value` (a decoded JSON document, or any str) holds a NUL: the loc of each string or key."""
    if isinstance(value, str):
        if NUL in value:
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                yield (*loc, key)
            else:
                yield from nul_locations(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from nul_locations(item, (*loc, index))


def pairs_nul_locations(source: str, items: Iterable[tuple[str, Any]]) -> Iterator[Loc]:
    """Where query, path or form `items` (name, value) hold a NUL, in the name or in a text value."""
    for name, value in items:
        if NUL in name:
            yield (source, name)
        elif isinstance(value, str) and NUL in value:
            yield (source, name)


def field_errors(locations: Iterable[Loc]) -> list[dict[str, Any]]:
    """The problem's `errors` entries for these locations, in the shape of every other field error."""
    out = []
    for loc in dict.fromkeys(locations):
        parts = [str(part).replace(NUL, "\\u0000") for part in loc]
        out.append({"loc": parts, "field": ".".join(parts[1:]) or ".".join(parts), "message": NUL_MESSAGE,
                    "type": NUL_ERROR_TYPE})
    return out
