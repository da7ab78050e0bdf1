"""Notices and the list and detail pages they are read from: what every board parser returns."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from forest.crawler.request import PageRequest

if TYPE_CHECKING:
    from forest.crawler.facts import TenderFacts


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a notice."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice as crawled; `url` is the absolute detail URL."""

    external_id: str
    title: str
    department: str
    post_date: dt.date
    views: int
    url: str
    attachments: tuple[Attachment, ...] = ()
    pinned: bool = False
    # The detail page's text (`detail_text`) and what `facts.extract` found in it; None without a detail page.
    body: str | None = None
    facts: TenderFacts | None = None

    @property
    def content_hash(self) -> str:
        """sha256 of the fields whose change is a real edit; views are left out on purpose.

        The body counts when there is one (a correction that moves the deadline is an edit); a notice
        without a body hashes as before bodies were kept, so rows stored earlier do not all turn "updated".
        """
        fields: list[object] = [
            self.title,
            self.department,
            self.post_date.isoformat(),
            [[a.name, a.url] for a in self.attachments],
        ]
        if self.body is not None:
            fields.append(self.body)
        payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RowError:
    """A list row that could not be parsed; the crawl records it and goes on."""

    reason: str
    snippet: str


@dataclass(slots=True)
class ListPage:
    """The parsed rows of one list page and where the next page is."""

    notices: list[Notice] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    next_url: str | None = None
    last_page: int | None = None
    # Set instead of next_url when the next page is a POST or a numbered request (source definitions).
    next_request: PageRequest | None = None


@dataclass(frozen=True, slots=True)
class DetailPage:
    """What a detail page says; None where the page did not say it."""

    title: str | None = None
    department: str | None = None
    post_date: dt.date | None = None
    views: int | None = None
    attachments: tuple[Attachment, ...] | None = None
    body: str | None = None


class BoardParser(Protocol):
    """Turns one board's list and detail pages into notices."""

    def parse_list(self, html: str, url: str) -> ListPage:
        """Parse a list page fetched from `url`."""
        ...

    def parse_detail(self, html: str, url: str) -> DetailPage:
        """Parse a detail page fetched from `url`."""
        ...


class LayoutNotDetected(Exception):
    """No notice table could be recognised on the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def apply_detail(notice: Notice, detail: DetailPage) -> Notice:
    """The notice with the detail page's fields, which are authoritative where present."""
    return replace(
        notice,
        title=detail.title or notice.title,
        department=detail.department or notice.department,
        post_date=detail.post_date or notice.post_date,
        views=max(notice.views, detail.views or 0),
        attachments=detail.attachments if detail.attachments is not None else notice.attachments,
        body=detail.body if detail.body is not None else notice.body,
    )
