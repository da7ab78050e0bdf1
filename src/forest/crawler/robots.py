"""robots.txt for one crawl: fetched through the crawl's Fetcher, cached per origin."""

from __future__ import annotations

import asyncio

import httpx
from protego import Protego

from forest.crawler.egress import UrlNotAllowed
from forest.crawler.fetch import Fetcher, FetchError, origin_of

# A Crawl-delay beyond this would stall a crawl for hours; such sites are crawled at this pace instead.
MAX_CRAWL_DELAY = 30.0


class RobotsDisallowed(UrlNotAllowed):
    """robots.txt forbids this URL for our user agent."""


class _Rules:
    """The verdict for one origin: a parsed file, or allow-all / disallow-all."""

    def __init__(self, parser: Protego | None, *, allow_all: bool, note: str = "") -> None:
        self.parser = parser
        self.allow_all = allow_all
        self.note = note

    def allows(self, url: str, user_agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, user_agent))


class RobotsCache:
    """Answers "may we fetch this URL?" and applies Crawl-delay; `obey=False` allows everything."""

    def __init__(self, fetcher: Fetcher, *, user_agent: str, obey: bool = True) -> None:
        self._fetcher = fetcher
        self._user_agent = user_agent
        self._obey = obey
        self._rules: dict[str, _Rules] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def check(self, url: str) -> None:
        """Raise RobotsDisallowed when robots.txt forbids `url`."""
        if not self._obey:
            return
        origin = origin_of(httpx.URL(url))
        rules = await self._rules_for(origin)
        if not rules.allows(url, self._user_agent):
            path = httpx.URL(url).raw_path.decode("ascii", "replace")
            detail = f" ({rules.note})" if rules.note else ""
            raise RobotsDisallowed(f"robots.txt of {origin} disallows {path}{detail}")

    async def _rules_for(self, origin: str) -> _Rules:
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            rules = self._rules.get(origin)
            if rules is None:
                rules = self._rules[origin] = await self._load(origin)
            return rules

    async def _load(self, origin: str) -> _Rules:
        try:
            page = await self._fetcher.get(f"{origin}/robots.txt")
        except UrlNotAllowed:
            raise
        except FetchError as exc:
            # RFC 9309: an unreachable robots.txt means the site may not be crawled for now.
            return _Rules(None, allow_all=False, note=f"robots.txt unreachable: {exc.reason}")
        if page.status >= 500:
            return _Rules(None, allow_all=False, note=f"robots.txt answered HTTP {page.status}")
        if page.status >= 400 or not page.ok:
            return _Rules(None, allow_all=True)
        parser = Protego.parse(page.text)
        delay = parser.crawl_delay(self._user_agent)
        if delay:
            await self._fetcher.raise_delay(origin, min(float(delay), MAX_CRAWL_DELAY))
        return _Rules(parser, allow_all=True)
