"""One notice in a crawl: whether its list row shows an edit, and the notice completed by its detail page."""

from __future__ import annotations

import logging
from dataclasses import replace

from forest.crawler import facts
from forest.crawler.detect import full_title
from forest.crawler.parse import BoardParser, Notice, apply_detail
from forest.crawler.store import KnownNotice

log = logging.getLogger(__name__)


def _title_matches(listed: str, stored: str) -> bool:
    if listed == stored:
        return True
    # Boards cut long titles in the list ("…", "..."); the detail page has the full one.
    for ellipsis in ("...", "…", ".."):
        if listed.endswith(ellipsis):
            return stored.startswith(listed[: -len(ellipsis)].rstrip())
    return False


def list_changed(notice: Notice, known: KnownNotice) -> bool:
    """Whether the list row shows an edit against the stored notice (views never count)."""
    if notice.post_date != known.post_date or not _title_matches(notice.title, known.title):
        return True
    return bool(notice.department) and notice.department != known.department


def read_detail(parser: BoardParser, notice: Notice, html: str, url: str, timezone: str) -> Notice:
    """The notice completed by its detail page: the page's fields, its body and the facts in the body."""
    merged = apply_detail(notice, parser.parse_detail(html, url))
    whole = full_title(html, merged.title)  # a list title cut with "…" that the detail did not replace
    if whole:
        merged = replace(merged, title=whole)
    if not merged.body:
        return merged
    try:
        found = facts.extract(merged.body, posted_on=merged.post_date, tz=timezone)
    except Exception:
        # The notice and its body are still worth keeping; its facts stay unknown rather than guessed.
        log.exception("fact extraction failed for %s", url)
        return merged
    return replace(merged, facts=found)
