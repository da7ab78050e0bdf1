"""What the crawler is told about a source: the one mapping of a source (or a previewed board) to a `CrawlConfig`.

A job's crawl (a worker's delivery or `forest crawl`) and a validation or preview (the first list page only,
nothing stored) read the board the same way; only their limits differ.
"""

from __future__ import annotations

import dataclasses

from forest.config import Settings
from forest.crawler.definition import SourceDefinition
from forest.crawler.engine import CrawlConfig
from forest.crawler.hosts import process_schedule
from forest.sources.models import Source
from forest.sources.schemas import SourcePreviewIn, stored_definition

# A validation fetches one page while the client waits: fail fast instead of retrying for minutes.
VALIDATE_TIMEOUT_SECONDS = 15.0
DEFAULT_TIMEZONE = "Asia/Seoul"


def _board(settings: Settings, board: Source | SourcePreviewIn, start_url: str) -> CrawlConfig:
    """How to read the board: where it starts, its layout, its encoding, and the hosts it may reach."""
    definition = board.definition
    if isinstance(definition, SourceDefinition):
        definition = stored_definition(definition)
    return CrawlConfig(start_url=start_url, preset=board.preset, selectors=board.selectors, definition=definition,
                       encoding=board.encoding, allow_hosts=tuple(settings.crawl_allow_hosts))


def crawl_config(settings: Settings, source: Source | None, *, url: str, max_pages: int) -> CrawlConfig:
    """A job's crawl of `source` from `url` (its start URL, or an ad-hoc source's URL): up to `max_pages`
    list pages with their details, at the source's politeness. A job whose source was deleted keeps its URL."""
    if source is None:
        return CrawlConfig(start_url=url, max_pages=max_pages, delay_seconds=settings.crawl_polite_delay_seconds,
                           allow_hosts=tuple(settings.crawl_allow_hosts), timezone=DEFAULT_TIMEZONE,
                           host_schedule=process_schedule(settings.redis_url))
    delay = source.delay_seconds if source.delay_seconds is not None else settings.crawl_polite_delay_seconds
    return dataclasses.replace(_board(settings, source, url), max_pages=max_pages, polite=source.polite,
                               delay_seconds=delay, timezone=source.timezone,
                               host_schedule=process_schedule(settings.redis_url))  # each host's pace, shared


def validation_config(settings: Settings, board: Source | SourcePreviewIn) -> CrawlConfig:
    """A one-page, no-details crawl of a source's (or a previewed board's) first list page."""
    # Two requests (robots.txt and one page) while a client waits: no politeness delay between them.
    return dataclasses.replace(_board(settings, board, board.start_url), max_pages=1, polite=False, concurrency=1,
                               fetch_details=False, max_retries=1, request_timeout=VALIDATE_TIMEOUT_SECONDS)
