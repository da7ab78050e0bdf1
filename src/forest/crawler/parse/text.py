"""Cell text, dates and view counts as boards write them."""

from __future__ import annotations

import datetime as dt
import re

from selectolax.lexbor import LexborNode

_SPACES = re.compile(r"\s+")
_DATE_PATTERNS = (
    re.compile(r"(?P<y>\d{4})\s*[-./]\s*(?P<m>\d{1,2})\s*[-./]\s*(?P<d>\d{1,2})"),
    re.compile(r"(?P<y>\d{4})\s*년\s*(?P<m>\d{1,2})\s*월\s*(?P<d>\d{1,2})\s*일?"),
    re.compile(r"(?<!\d)(?P<y>\d{2})\s*[-./]\s*(?P<m>\d{1,2})\s*[-./]\s*(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?!\d)"),
)
_VIEWS = re.compile(r"\d[\d,]*")


def clean_text(value: str | None) -> str:
    """Whitespace collapsed and trimmed (boards indent cell text heavily)."""
    return _SPACES.sub(" ", value or "").strip()


def parse_date(value: str) -> dt.date:
    """A board date such as 2026-11-20, 2026.11.20, 26.11.20 or 2026년 11월 20일 (a trailing time is ignored)."""
    text = clean_text(value)
    for pattern in _DATE_PATTERNS:
        match = pattern.search(text)
        if match is None:
            continue
        year = int(match["y"])
        if year < 100:
            year += 2000
        try:
            return dt.date(year, int(match["m"]), int(match["d"]))
        except ValueError as exc:
            raise ValueError(f"not a calendar date: {text!r}") from exc
    raise ValueError(f"no date in {text!r}")


def parse_views(value: str) -> int:
    """A view count such as `1,234` (empty means 0)."""
    text = clean_text(value)
    if not text or text in ("-", "0"):
        return 0
    match = _VIEWS.search(text)
    if match is None:
        raise ValueError(f"no view count in {text!r}")
    return int(match.group(0).replace(",", ""))


def node_text(node: LexborNode | None) -> str:
    """The node's visible text, whitespace collapsed."""
    if node is None:
        return ""
    return clean_text(node.text(deep=True, separator=" "))


def snippet(node: LexborNode, limit: int = 200) -> str:
    """A short piece of a row's HTML for error reports."""
    html = clean_text(node.html or "")
    return html if len(html) <= limit else html[: limit - 1] + "…"
