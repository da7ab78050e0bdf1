"""The incremental crawl: list pages newest first, detail pages only for what is new or edited."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import httpx

from forest.crawler import facts
from forest.crawler.egress import EgressPolicy, UrlNotAllowed
from forest.crawler.fetch import USER_AGENT, Fetcher, FetchError, FetchOptions, MiB
from forest.crawler.parse import (
    BoardParser,
    LayoutNotDetected,
    ListPage,
    Notice,
    apply_detail,
    detect_table,
)
from forest.crawler.presets import get_parser
from forest.crawler.robots import RobotsCache
from forest.crawler.selectors import SelectorParser
from forest.crawler.store import KnownNotice, NoticeStore

StopReason = str
# Why a crawl ended, as stored on the job and shown to users.
CAUGHT_UP = "caught_up"
LAST_PAGE = "last_page"
EMPTY_PAGE = "empty_page"
REPEATED_PAGE = "repeated_page"
MAX_PAGES = "max_pages"
CANCELLED = "cancelled"
ERROR = "error"

log = logging.getLogger(__name__)
# Detail pages are parsed and their facts extracted here rather than on the event loop, which also
# serves the job's heartbeat and cancellation; two threads bound the CPU one crawl takes (the work
# holds the GIL, so more threads would not be faster).
_DETAIL_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="forest-detail")


@dataclass(frozen=True, slots=True)
class CrawlConfig:
    """Everything one crawl needs to know; built from a Source or an ad-hoc URL."""

    start_url: str
    preset: str | None = None
    selectors: Mapping[str, str] | None = None
    encoding: str | None = None
    max_pages: int = 50
    polite: bool = True
    delay_seconds: float = 1.0
    concurrency: int = 4
    obey_robots: bool = True
    allow_hosts: Collection[str] = ()
    user_agent: str = USER_AGENT
    connect_timeout: float = 10.0
    request_timeout: float = 30.0
    max_retries: int = 3
    max_bytes: int = 10 * MiB
    retry_after_cap: float = 60.0
    backoff_base: float = 0.5
    fetch_details: bool = True
    # False walks every page up to max_pages instead of stopping where the store is caught up.
    incremental: bool = True
    min_pages: int = 2
    # The board's time zone: deadlines written without one ("12.3. 10:00") are read in it.
    timezone: str = "Asia/Seoul"

    def fetch_options(self) -> FetchOptions:
        """The Fetcher tunables of this crawl."""
        return FetchOptions(
            user_agent=self.user_agent,
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            max_bytes=self.max_bytes,
            max_retries=self.max_retries,
            backoff_base=self.backoff_base,
            retry_after_cap=self.retry_after_cap,
            polite=self.polite,
            delay_seconds=self.delay_seconds,
            concurrency=self.concurrency,
        )


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

    @property
    def failed(self) -> bool:
        """Whether the crawl stopped on an error."""
        return self.stopped_reason == ERROR


def make_parser(config: CrawlConfig) -> BoardParser | None:
    """The parser for a config: its selectors, else its preset, else None (detect on the first page)."""
    if config.selectors:
        return SelectorParser(config.selectors)
    if config.preset:
        return get_parser(config.preset)
    return None


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


async def crawl(
    config: CrawlConfig,
    store: NoticeStore,
    *,
    on_progress: Callable[[CrawlProgress], Awaitable[None]] | None = None,
    should_stop: Callable[[], Awaitable[bool]] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CrawlResult:
    """Crawl one board into `store`; never raises for crawl problems, they end up in the result."""
    progress = CrawlProgress()
    try:
        parser = make_parser(config)
        policy = EgressPolicy(config.allow_hosts, remember=True)
    except ValueError as exc:
        return CrawlResult(progress=progress, stopped_reason=ERROR, error=str(exc), errors=[str(exc)])
    async with Fetcher(policy, config.fetch_options(), transport=transport) as fetcher:
        robots = RobotsCache(fetcher, user_agent=config.user_agent, obey=config.obey_robots)
        run = _Crawl(config, store, fetcher, robots, parser, progress, on_progress, should_stop)
        return await run.run()


class _Crawl:
    """State of one running crawl."""

    def __init__(
        self,
        config: CrawlConfig,
        store: NoticeStore,
        fetcher: Fetcher,
        robots: RobotsCache,
        parser: BoardParser | None,
        progress: CrawlProgress,
        on_progress: Callable[[CrawlProgress], Awaitable[None]] | None,
        should_stop: Callable[[], Awaitable[bool]] | None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.robots = robots
        self.parser = parser
        self.progress = progress
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.result = CrawlResult(progress=progress, stopped_reason=LAST_PAGE)
        self.seen: set[str] = set()

    def _error(self, message: str) -> None:
        self.result.errors.append(message)
        self.progress.errors = len(self.result.errors)

    def _finish(self, reason: StopReason, error: str | None = None) -> CrawlResult:
        self.result.stopped_reason = reason
        self.result.cancelled = reason == CANCELLED
        if error is not None:
            self.result.error = error
            self._error(error)
        self.progress.pages_total = self.progress.pages_done
        return self.result

    async def run(self) -> CrawlResult:
        newest = await self.store.newest_post_date()
        url: str | None = self.config.start_url
        visited: set[str] = set()
        previous_ids: list[str] | None = None
        while url is not None:
            if self.should_stop is not None and await self.should_stop():
                return self._finish(CANCELLED)
            if self.progress.pages_done >= self.config.max_pages:
                return self._finish(MAX_PAGES)
            visited.add(url)
            try:
                listing = await self._list_page(url)
            except (UrlNotAllowed, FetchError, LayoutNotDetected) as exc:
                return self._finish(ERROR, f"list page {url}: {exc}")
            regular = [n for n in listing.notices if not n.pinned]
            ids = [n.external_id for n in regular]
            if regular and ids == previous_ids:
                return self._finish(REPEATED_PAGE)
            caught_up = await self._store_page(listing, regular, newest)
            self.progress.pages_done += 1
            if listing.last_page is not None:
                self.progress.pages_total = min(self.config.max_pages, listing.last_page)
            if self.on_progress is not None:
                await self.on_progress(self.progress)
            if not regular:
                return self._finish(EMPTY_PAGE)
            if caught_up and self.config.incremental and self.progress.pages_done >= self.config.min_pages:
                return self._finish(CAUGHT_UP)
            previous_ids = ids
            url = listing.next_url
            if url is not None and url in visited:
                return self._finish(REPEATED_PAGE)
        return self._finish(LAST_PAGE)

    async def _list_page(self, url: str) -> ListPage:
        page = await self.fetcher.get(url, encoding=self.config.encoding, before_hop=self.robots.check)
        page.raise_for_status()
        if self.parser is None:
            self.parser = SelectorParser(detect_table(page.text))
        listing = self.parser.parse_list(page.text, page.url)
        for row_error in listing.errors:
            self._error(f"{page.url}: {row_error.reason}: {row_error.snippet}")
        return listing

    async def _store_page(self, listing: ListPage, regular: list[Notice], newest: dt.date | None) -> bool:
        """Store one page's notices; returns whether the page shows the store is caught up."""
        fresh: list[Notice] = []
        for notice in listing.notices:
            if notice.external_id not in self.seen:
                self.seen.add(notice.external_id)
                fresh.append(notice)
        known = await self.store.known([n.external_id for n in fresh]) if fresh else {}
        changed = [n for n in fresh if n.external_id not in known or list_changed(n, known[n.external_id])]
        changed_ids = {n.external_id for n in changed}
        views = {n.external_id: n.views for n in fresh if n.external_id not in changed_ids}
        complete = await self._with_details(changed)
        result = await self.store.upsert(complete, views=views)
        self.progress.items_seen += len(fresh)
        self.progress.items_new += len(result.new)
        self.progress.items_updated += len(result.updated)
        self.result.new_ids.extend(result.new_ids)
        self.result.updated_ids.extend(result.updated_ids)
        if newest is None:
            return False
        # Rows re-fetched only because the list looked different (a cut title) but whose hash matched.
        settled = {n.external_id for n in complete} - {n.external_id for n in (*result.new, *result.updated)}
        unsettled = changed_ids - settled
        return all(n.external_id not in unsettled and n.post_date <= newest for n in regular)

    async def _with_details(self, notices: list[Notice]) -> list[Notice]:
        if not self.config.fetch_details or not notices:
            return notices
        results = await asyncio.gather(*(self._detail(n) for n in notices))
        return [n for n in results if n is not None]

    async def _detail(self, notice: Notice) -> Notice | None:
        try:
            page = await self.fetcher.get(notice.url, encoding=self.config.encoding, before_hop=self.robots.check)
            page.raise_for_status()
        except (UrlNotAllowed, FetchError) as exc:
            # Left out of the batch, so the next crawl sees it as new and tries again.
            self._error(f"detail {notice.url}: {exc}")
            return None
        parser = self.parser
        if parser is None:  # set by the first list page, before any detail is fetched
            return notice
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            _DETAIL_POOL, read_detail, parser, notice, page.text, page.url, self.config.timezone)


def read_detail(parser: BoardParser, notice: Notice, html: str, url: str, timezone: str) -> Notice:
    """The notice completed by its detail page: the page's fields, its body and the facts in the body."""
    merged = apply_detail(notice, parser.parse_detail(html, url))
    if not merged.body:
        return merged
    try:
        found = facts.extract(merged.body, posted_on=merged.post_date, tz=timezone)
    except Exception:
        # The notice and its body are still worth keeping; its facts stay unknown rather than guessed.
        log.exception("fact extraction failed for %s", url)
        return merged
    return replace(merged, facts=found)
