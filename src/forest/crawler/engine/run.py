"""crawl(): one crawl of a board, page by page, into a NoticeStore."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from forest.crawler.definition import DefinitionParser, SourceDefinition
from forest.crawler.detect import detect_html, detect_json, json_list_url
from forest.crawler.egress import EgressPolicy, UrlNotAllowed
from forest.crawler.engine.config import CrawlConfig, layout_definition, make_parser
from forest.crawler.engine.notices import list_changed, read_detail
from forest.crawler.engine.result import (
    CANCELLED,
    CAUGHT_UP,
    EMPTY_PAGE,
    ERROR,
    LAST_PAGE,
    MAX_PAGES,
    REPEATED_PAGE,
    CrawlProgress,
    CrawlResult,
    StopReason,
)
from forest.crawler.fetch import FetchedPage, Fetcher, FetchError
from forest.crawler.parse import BoardParser, LayoutNotDetected, ListPage, Notice, frame_source
from forest.crawler.request import PageRequest
from forest.crawler.robots import RobotsCache
from forest.crawler.selectors import SelectorParser
from forest.crawler.store import NoticeStore

# Detail pages are parsed and their facts extracted here rather than on the event loop, which also
# serves the job's heartbeat and cancellation; two threads bound the CPU one crawl takes (the work
# holds the GIL, so more threads would not be faster).
_DETAIL_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="forest-detail")


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
    async with Fetcher(policy, config.fetch_options(), transport=transport, schedule=config.host_schedule) as fetcher:
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
        self.rows_failed = 0
        self.details_failed = 0
        self.first_row_errors: list[str] = []
        self.session_generation = 0
        self.session_lock = asyncio.Lock()
        self.session_reopened = 0
        self.opened: FetchedPage | None = None

    def _error(self, message: str) -> None:
        self.result.errors.append(message)
        self.progress.errors = len(self.result.errors)

    def _finish(self, reason: StopReason, error: str | None = None) -> CrawlResult:
        if error is None and reason != CANCELLED and self._nothing_read():
            # Rows were there but none could be read: not a success, whatever ended the walk.
            reason = ERROR
            error = (f"no notice could be read: {self.rows_failed} row(s) failed to parse, "
                     f"{self.details_failed} detail page(s) failed; first errors: " + " | ".join(self.first_row_errors))
        self.result.stopped_reason = reason
        self.result.cancelled = reason == CANCELLED
        if error is not None:
            self.result.error = error
            self._error(error)
        self.progress.pages_total = self.progress.pages_done
        return self.result

    def _nothing_read(self) -> bool:
        failed = self.rows_failed + self.details_failed
        return failed > 0 and self.progress.items_seen - self.details_failed <= 0

    async def run(self) -> CrawlResult:
        newest = await self.store.newest_post_date()
        try:
            request: PageRequest | None = await self._first_request()
        except (UrlNotAllowed, FetchError) as exc:
            return self._finish(ERROR, f"start page {self.config.start_url}: {exc}")
        visited: set[str] = set()
        previous_ids: list[str] | None = None
        while request is not None:
            if self.should_stop is not None and await self.should_stop():
                return self._finish(CANCELLED)
            if self.progress.pages_done >= self.config.max_pages:
                return self._finish(MAX_PAGES)
            visited.add(request.key)
            url = request.link
            try:
                listing = await self._list_page(request)
            except (UrlNotAllowed, FetchError, LayoutNotDetected, ValueError) as exc:
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
            request = listing.next_request
            if request is None and listing.next_url is not None:
                request = PageRequest("GET", listing.next_url)
            self.result.next_request = request
            if request is not None and request.key in visited:
                return self._finish(REPEATED_PAGE)
        return self._finish(LAST_PAGE)

    async def _first_request(self) -> PageRequest:
        """Page 1: the start URL, or for a definition the request it describes after opening the board
        (which starts its session and, with `frame`, leads to the framed board)."""
        start = PageRequest("GET", self.config.start_url)
        if not isinstance(self.parser, DefinitionParser):
            return start
        opened = self.opened = await self._open_board()
        board_url = self.parser.frame_url(opened.text, opened.url) or opened.url
        return self.parser.list_request(board_url, 1) or PageRequest("GET", board_url)

    async def _open_board(self) -> FetchedPage:
        page = await self.fetcher.get(self.config.start_url, encoding=self.config.encoding,
                                      before_hop=self.robots.check)
        page.raise_for_status()
        return page

    async def _fetch(self, request: PageRequest) -> FetchedPage:
        """One request of the crawl; a definition's board that lost its session is re-opened once."""
        parser = self.parser
        definition = parser.definition if isinstance(parser, DefinitionParser) else None
        if definition is not None and not definition.session.enabled:
            self.fetcher.clear_cookies()
        generation = self.session_generation
        page = await self._send(request)
        if definition is None or not definition.session.enabled or not isinstance(parser, DefinitionParser):
            return page
        if not parser.session_lost(request, page.url, page.text):
            return page
        await self._reopen(generation)
        page = await self._send(request)
        if parser.session_lost(request, page.url, page.text):
            raise FetchError(f"the board answered {page.url} without a session, also after re-opening "
                             f"{self.config.start_url}", url=request.url)
        return page

    async def _send(self, request: PageRequest) -> FetchedPage:
        opened, self.opened = self.opened, None
        if opened is not None and request.method == "GET" and request.url == opened.url:
            return opened  # page 1 is the page that opened the board: no second request
        return await self.fetcher.request(request.method, request.url, form=request.form or None,
                                          encoding=self.config.encoding, before_hop=self.robots.check)

    async def _reopen(self, generation: int) -> None:
        # Concurrent detail fetches that saw the same loss re-open the board once between them.
        async with self.session_lock:
            if generation != self.session_generation:
                return
            self.fetcher.clear_cookies()
            await self._open_board()
            self.session_generation += 1
            self.session_reopened += 1

    async def _detect(self, text: str, url: str, request: PageRequest, *, framed: bool = False
                      ) -> tuple[BoardParser, str, str, PageRequest]:
        """Choose the parser of a bare URL from its first page: a notice table (paged by links or by a posted
        form), the board inside the page's frame, or the JSON list its scripts fetch. Returns the page 1 to read."""
        try:
            selectors, definition = detect_html(text, url)
        except LayoutNotDetected:
            frame = None if framed else frame_source(text, url)
            if frame is not None:
                page = await self._send(PageRequest("GET", frame))
                page.raise_for_status()
                return await self._detect(page.text, page.url, PageRequest("GET", page.url), framed=True)
            probe = json_list_url(text, url)
            if probe is None:
                raise
            first = PageRequest("GET", probe[0].replace("{page}", "1"), page=1)
            page = await self._send(first)
            page.raise_for_status()
            definition = detect_json(page.text, probe[0], probe[1])
            return DefinitionParser(SourceDefinition.model_validate(definition)), page.text, page.url, first
        if selectors is not None:
            return SelectorParser(selectors), text, url, request
        assert definition is not None
        parser = DefinitionParser(SourceDefinition.model_validate(definition))
        return parser, text, url, PageRequest(request.method, request.url, request.form, page=1)

    async def _list_page(self, request: PageRequest) -> ListPage:
        page = await self._fetch(request)
        page.raise_for_status()
        text, url = page.text, page.url
        parser = self.parser
        if parser is None:
            parser, text, url, request = await self._detect(text, url, request)
            self.parser = parser
        if isinstance(parser, DefinitionParser):
            listing = parser.parse_page(text, url, request)
        else:
            listing = parser.parse_list(text, url)
        self.result.row_errors = list(listing.errors)
        self.result.last_page = listing.last_page
        self.result.definition = layout_definition(self.parser, self.config)
        self.rows_failed += len(listing.errors)
        for row_error in listing.errors:
            message = f"{url}: {row_error.reason}: {row_error.snippet}"
            if len(self.first_row_errors) < 3:
                self.first_row_errors.append(message)
            self._error(message)
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
        parser = self.parser
        request = parser.detail_request(notice) if isinstance(parser, DefinitionParser) else None
        try:
            page = await self._fetch(request or PageRequest("GET", notice.url))
            page.raise_for_status()
        except (UrlNotAllowed, FetchError) as exc:
            # Left out of the batch, so the next crawl sees it as new and tries again.
            self.details_failed += 1
            message = f"detail {notice.url}: {exc}"
            if len(self.first_row_errors) < 3:
                self.first_row_errors.append(message)
            self._error(message)
            return None
        parser = self.parser
        if parser is None:  # set by the first list page, before any detail is fetched
            return notice
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            _DETAIL_POOL, read_detail, parser, notice, page.text, page.url, self.config.timezone)
