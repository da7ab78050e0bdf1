"""Helpers shared by the crawler tests."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from forest.crawler.engine import CrawlConfig
from forest.demo_site.testing import DemoSite


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
