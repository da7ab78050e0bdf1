"""Literal arguments of JavaScript calls and path segments of URLs, as the `js:` and `seg:` steps read them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from forest.crawler.parse import is_js_link

_CALL = re.compile(r"([A-Za-z_$][\w$.]*)\s*\(")
_TOKEN = re.compile(r"""\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([^,()'"]+?))\s*(,|\))""")


def js_calls(script: str | None) -> list[tuple[str, list[str]]]:
    """Every `name(arg, ...)` call in a snippet with literal arguments, as (name, [arguments as text]).

    Boards put ids and page numbers in onclick/href handlers as string and number literals; a small
    tokenizer for literals is enough here, a full JavaScript parser would be far more than this needs.
    """
    calls: list[tuple[str, list[str]]] = []
    text = script or ""
    for match in _CALL.finditer(text):
        if match.group(1) in ("void", "return", "function", "if"):
            continue
        args: list[str] = []
        pos = match.end()
        if text[pos:].lstrip().startswith(")"):
            calls.append((match.group(1), args))
            continue
        while pos < len(text):
            token = _TOKEN.match(text, pos)
            if token is None:
                break
            single, double, bare, end = token.groups()
            value = single if single is not None else double if double is not None else (bare or "")
            args.append(value.replace("\\'", "'").replace('\\"', '"').strip())
            pos = token.end()
            if end == ")":
                calls.append((match.group(1), args))
                break
    return calls


def js_argument(script: str | None, index: int, function: str | None = None) -> str | None:
    """Argument `index` of the first call (of `function`, when given) in `script`."""
    for name, args in js_calls(script):
        if function is not None and name.split(".")[-1] != function:
            continue
        if -len(args) <= index < len(args):
            return args[index]
        return None
    return None


def path_segment(url: str | None, index: int) -> str | None:
    """Path segment `index` of a URL (negative counts from the end), ignoring empty segments."""
    if not url or is_js_link(url):
        return None
    parts = [p for p in urlsplit(url.strip()).path.split("/") if p]
    return parts[index] if -len(parts) <= index < len(parts) else None
