"""How a crawl ends: why it stopped, its progress counters and its result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from forest.crawler.parse import RowError
from forest.crawler.request import PageRequest

StopReason = str
# Why a crawl ended, as stored on the job and shown to users.
CAUGHT_UP = "caught_up"
LAST_PAGE = "last_page"
EMPTY_PAGE = "empty_page"
REPEATED_PAGE = "repeated_page"
MAX_PAGES = "max_pages"
CANCELLED = "cancelled"
ERROR = "error"


@dataclass(slots=True)
class CrawlProgress:
    """Counters reported after every list page (the job's `progress` object)."""

    pages_done: int = 0
    pages_total: int | None = None
    items_seen: int = 0
    items_new: int = 0
    items_updated: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int | None]:
        """The JSON shape of the API's `progress`."""
        return asdict(self)


@dataclass(slots=True)
class CrawlResult:
    """How a crawl ended. `error` is set when something stopped it early; `errors` lists every problem."""

    progress: CrawlProgress
    stopped_reason: StopReason
    cancelled: bool = False
    error: str | None = None
    errors: list[str] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)
    updated_ids: list[int] = field(default_factory=list)
    # What the last list page said, for previews: its unreadable rows, the request for the page after it,
    # and the layout used (a definition; for a bare URL the one detected on the first page).
    row_errors: list[RowError] = field(default_factory=list)
    next_request: PageRequest | None = None
    last_page: int | None = None
    definition: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        """Whether the crawl stopped on an error."""
        return self.stopped_reason == ERROR
