"""The incremental crawl: list pages newest first, detail pages only for what is new or edited."""

from forest.crawler.engine.config import CrawlConfig
from forest.crawler.engine.result import (
    CAUGHT_UP,
    EMPTY_PAGE,
    ERROR,
    LAST_PAGE,
    REPEATED_PAGE,
    CrawlProgress,
    CrawlResult,
)
from forest.crawler.engine.run import crawl

__all__ = [
    "CAUGHT_UP",
    "EMPTY_PAGE",
    "ERROR",
    "LAST_PAGE",
    "REPEATED_PAGE",
    "CrawlConfig",
    "CrawlProgress",
    "CrawlResult",
    "crawl",
]
