"""Helpers shared by the crawler tests."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from forest.crawler.engine import CrawlConfig
from forest.demo_site.testing import DemoSite

# Definitions of two of the demo board's shapes (forest.demo_site.shapes), as a user would write them; the cards
# board's pager is left for the crawler to find.
CARDS: dict[str, Any] = {
    "list": {
        "rows": "div.cards div.card",
        "fields": {"title": "h3.card-title", "department": "span.org", "post_date": "time::attr(datetime)",
                   "views": "span.views", "detail_link": "a.card-link::attr(href)"},
        "pinned": "img.pin",
    },
    "detail": {"fields": {"title": "h1.headline", "attachments": "div.downloads a"}},
}
GRID: dict[str, Any] = {
    "list": {
        "rows": "table.grid tbody tr",
        "fields": {"external_id": r"td:nth-child(2) a::attr(href) re:no=(\d+)", "title": "td:nth-child(2) a",
                   "department": "td:nth-child(3)", "post_date": "td:nth-child(4)", "views": "td:nth-child(5)",
                   "detail_link": "td:nth-child(2) a::attr(href)"},
        "pinned": "tr.is-top",
    },
    "detail": {"fields": {"attachments": "td.files a"}},
}


def demo_host(site: DemoSite) -> str:
    """The demo board's host:port, for allow-listing."""
    return urlsplit(site.base_url).netloc


def demo_config(site: DemoSite, path: str = "/kfs/bid/list.do", **overrides: Any) -> CrawlConfig:
    """A fast crawl config for the demo board: polite but with no delay, tiny backoffs."""
    values: dict[str, Any] = {
        "start_url": site.url(path),
        "preset": "demo_board",
        "allow_hosts": [demo_host(site)],
        "delay_seconds": 0.0,
        "backoff_base": 0.01,
        "max_pages": 100,
        "request_timeout": 10.0,
    }
    values.update(overrides)
    return CrawlConfig(**values)


def fake_dns(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver standing in for the outside world's DNS."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve
