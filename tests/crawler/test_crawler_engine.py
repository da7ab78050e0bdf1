"""Whole crawls of the demo board into a MemoryStore: full, incremental, faults, encodings, layouts."""

from __future__ import annotations

import re

import httpx
import pytest
from crawler_support import demo_config

from forest.crawler.engine import (
    CAUGHT_UP,
    EMPTY_PAGE,
    ERROR,
    LAST_PAGE,
    REPEATED_PAGE,
    CrawlConfig,
    CrawlProgress,
    crawl,
)
from forest.crawler.memory import MemoryStore
from forest.crawler.parse import Attachment
from forest.crawler.presets import DEMO_CUSTOM_SELECTORS
from forest.demo_site.board import PER_PAGE
from forest.demo_site.testing import DemoSite


def assert_matches_board(store: MemoryStore, demo: DemoSite, views_at_start: dict[int, int], prefix: str) -> None:
    board_notices = [*demo.board.pinned, *demo.board.notices]
    assert set(store.notices) == {str(n.ntt_id) for n in board_notices}
    for expected in board_notices:
        got = store.notices[str(expected.ntt_id)]
        assert (got.title, got.department, got.post_date, got.pinned) == (
            expected.title,
            expected.department,
            expected.post_date,
            expected.pinned,
        )
        assert views_at_start[expected.ntt_id] <= got.views <= expected.views
        assert got.url.startswith(demo.url(f"{prefix}?nttId={expected.ntt_id}")) or got.url == demo.url(
            f"{prefix}?id={expected.ntt_id}"
        )
        assert [a.name for a in got.attachments] == [a.name for a in expected.attachments]
        assert all(a.url.startswith(demo.base_url) for a in got.attachments)


def views_now(demo: DemoSite) -> dict[int, int]:
    return {n.ntt_id: n.views for n in (*demo.board.pinned, *demo.board.notices)}


async def test_full_crawl_stores_the_board_field_for_field(demo: DemoSite) -> None:
    store = MemoryStore()
    seen: list[CrawlProgress] = []

    async def on_progress(progress: CrawlProgress) -> None:
        seen.append(CrawlProgress(**progress.as_dict()))  # type: ignore[arg-type]

    start = views_now(demo)
    result = await crawl(demo_config(demo), store, on_progress=on_progress)

    assert (result.stopped_reason, result.error, result.errors) == (LAST_PAGE, None, [])
    pages = demo.board.last_page
    assert [p.pages_done for p in seen] == list(range(1, pages + 1))
    assert seen[0].pages_total == pages
    assert result.progress.items_new == demo.board.total + len(demo.board.pinned)
    assert len(result.new_ids) == result.progress.items_new
    assert demo.board.request_count("/kfs/bid/list.do") == pages
    assert_matches_board(store, demo, start, "/kfs/bid/view.do")
    first = demo.board.notices[0]
    assert store.notices[str(first.ntt_id)].attachments[0] == Attachment(
        first.attachments[0].name, demo.url(f"/kfs/bid/download.do?fileId={first.attachments[0].file_id}")
    )


async def test_incremental_recrawl_finds_exactly_the_new_and_edited(demo: DemoSite) -> None:
    store = MemoryStore()
    await crawl(demo_config(demo), store)
    edited = demo.board.edit_notices(5)
    added = demo.board.add_notices(20)
    demo.board.reset_request_counts()

    result = await crawl(demo_config(demo), store)

    assert result.stopped_reason == CAUGHT_UP
    assert (result.progress.items_new, result.progress.items_updated) == (20, 5)
    assert {str(n.ntt_id) for n in added} <= set(store.notices)
    for notice in edited:
        stored = store.notices[str(notice.ntt_id)]
        assert (stored.title, stored.department) == (notice.title, notice.department)
    list_requests = demo.board.request_count("/kfs/bid/list.do")
    assert list_requests <= 6 < demo.board.last_page
    # Details only for what changed: 20 new + 5 edited.
    assert demo.board.request_count("/kfs/bid/view.do") == 25

    demo.board.reset_request_counts()
    again = await crawl(demo_config(demo), store)
    assert (again.progress.items_new, again.progress.items_updated, again.stopped_reason) == (0, 0, CAUGHT_UP)
    assert demo.board.request_count("/kfs/bid/list.do") == 2
    assert demo.board.request_count("/kfs/bid/view.do") == 0


async def test_views_are_refreshed_without_counting_as_updates(demo: DemoSite) -> None:
    store = MemoryStore()
    await crawl(demo_config(demo, max_pages=1), store)
    newest = demo.board.notices[0]
    before = store.notices[str(newest.ntt_id)].views

    result = await crawl(demo_config(demo, max_pages=1), store)

    assert (result.progress.items_new, result.progress.items_updated) == (0, 0)
    assert store.notices[str(newest.ntt_id)].views > before


async def test_euckr_board_decodes_exactly(demo: DemoSite) -> None:
    store = MemoryStore()
    start = views_now(demo)
    result = await crawl(demo_config(demo, "/euckr/bid/list.do"), store)
    assert result.stopped_reason == LAST_PAGE and result.errors == []
    assert_matches_board(store, demo, start, "/euckr/bid/view.do")


async def test_custom_selector_board_with_javascript_links(demo: DemoSite) -> None:
    store = MemoryStore()
    start = views_now(demo)
    result = await crawl(demo_config(demo, "/custom/bids", preset=None, selectors=DEMO_CUSTOM_SELECTORS), store)

    assert result.stopped_reason == LAST_PAGE and result.errors == []
    # The custom layout has no pinned rows.
    for pinned in demo.board.pinned:
        start.pop(pinned.ntt_id)
    assert set(store.notices) == {str(n.ntt_id) for n in demo.board.notices}
    for expected in demo.board.notices:
        got = store.notices[str(expected.ntt_id)]
        assert (got.title, got.department, got.post_date) == (expected.title, expected.department, expected.post_date)
        assert got.url == demo.url(f"/custom/bid?id={expected.ntt_id}")
        assert [a.name for a in got.attachments] == [a.name for a in expected.attachments]
        assert start[expected.ntt_id] <= got.views <= expected.views


async def test_bare_url_layout_is_detected(demo: DemoSite) -> None:
    store = MemoryStore()
    result = await crawl(demo_config(demo, preset=None, max_pages=2), store)
    assert result.errors == []
    assert len(store.notices) == 2 * PER_PAGE + len(demo.board.pinned)


async def test_robots_disallow_is_obeyed_with_a_clear_reason(demo: DemoSite) -> None:
    result = await crawl(demo_config(demo, "/private/list.do"), MemoryStore())
    assert result.stopped_reason == ERROR
    assert result.error is not None
    assert re.search(r"robots\.txt of http://127\.0\.0\.1:\d+ disallows /private/list\.do", result.error)
    assert demo.board.request_count("/private/list.do") == 0


async def test_egress_refusal_ends_the_crawl(demo: DemoSite) -> None:
    result = await crawl(demo_config(demo, allow_hosts=()), MemoryStore())
    assert result.failed and result.error is not None and "is not allowed" in result.error


async def test_transient_faults_are_ridden_out(demo: DemoSite) -> None:
    demo.board.set_fault("unavailable", remaining=1, path_prefix="/kfs/bid/list.do")
    demo.board.set_fault("reset", remaining=1, path_prefix="/kfs/bid/view.do")
    demo.board.set_fault("rate_limited", remaining=1, path_prefix="/kfs/bid/view.do")
    store = MemoryStore()
    result = await crawl(demo_config(demo, max_pages=1), store)
    assert result.errors == []
    assert len(store.notices) == PER_PAGE + len(demo.board.pinned)


@pytest.mark.parametrize("gzip", [False, True])
async def test_oversized_page_fails_with_a_clear_error(demo: DemoSite, gzip: bool) -> None:
    demo.board.set_fault("oversized", path_prefix="/kfs/bid/list.do", gzip=gzip)
    result = await crawl(demo_config(demo), MemoryStore())
    assert result.failed and result.error is not None and "10485760 byte limit" in result.error


@pytest.mark.parametrize("charset", ["base64", "rot13", "zlib", "hex"])
async def test_board_declaring_a_non_text_codec_fails_the_crawl_with_a_clear_error(demo: DemoSite, charset: str) -> None:
    demo.board.set_fault("bad_charset", charset=charset)
    result = await crawl(demo_config(demo), MemoryStore())
    assert result.failed and result.error is not None
    assert f"the Content-Type charset {charset!r} is not a text encoding" in result.error


async def test_source_encoding_overrides_a_non_text_charset_declaration(demo: DemoSite) -> None:
    demo.board.set_fault("bad_charset", charset="base64")
    store = MemoryStore()
    result = await crawl(demo_config(demo, max_pages=1, encoding="utf-8"), store)
    assert not result.failed and result.errors == []
    assert len(store.notices) == PER_PAGE + len(demo.board.pinned)


async def test_configured_non_text_encoding_fails_the_crawl_with_a_clear_error(demo: DemoSite) -> None:
    result = await crawl(demo_config(demo, encoding="rot13"), MemoryStore())
    assert result.failed and result.error is not None
    assert "the configured encoding 'rot13' is not a text encoding" in result.error


async def test_bad_detail_page_is_reported_and_the_crawl_goes_on(demo: DemoSite) -> None:
    demo.board.set_fault("oversized", remaining=1, path_prefix="/kfs/bid/view.do")
    store = MemoryStore()
    result = await crawl(demo_config(demo, max_pages=1), store)
    assert result.stopped_reason != ERROR
    assert len(result.errors) == 1 and "byte limit" in result.errors[0]
    assert len(store.notices) == PER_PAGE + len(demo.board.pinned) - 1


async def test_past_the_end_is_an_empty_page(demo: DemoSite) -> None:
    result = await crawl(demo_config(demo, f"/kfs/bid/list.do?pageIndex={demo.board.last_page + 1}"), MemoryStore())
    assert result.stopped_reason == EMPTY_PAGE


async def test_cancel_between_pages(demo: DemoSite) -> None:
    calls = 0

    async def should_stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2

    result = await crawl(demo_config(demo), MemoryStore(), should_stop=should_stop)
    assert result.cancelled and result.progress.pages_done == 2


async def test_repeated_last_page_stops() -> None:
    # A board that keeps linking to "the next page" past its end and serves its last page again.
    def handler(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params.get("pageIndex", "1"))
        shown = min(index, 2)
        rows = "".join(
            f'<tr><td>{n}</td><td class="subject"><a href="/view.do?nttId={shown}{n}">공고 {shown}-{n}</a></td>'
            f"<td>부서</td><td>2026-11-20</td><td></td><td>1</td></tr>"
            for n in range(3)
        )
        html = (
            '<table class="board_list"><tbody>' + rows + "</tbody></table>"
            f'<div class="paging"><a class="next" href="/list.do?pageIndex={index + 1}">다음</a></div>'
        )
        if request.url.path == "/robots.txt":
            return httpx.Response(404, stream=httpx.ByteStream(b""))
        headers = {"content-type": "text/html; charset=utf-8"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(html.encode()))

    result = await crawl(
        CrawlConfig(start_url="http://board.test/list.do", preset="egov_board", delay_seconds=0, fetch_details=False),
        MemoryStore(),
        transport=httpx.MockTransport(handler),
    )
    assert result.stopped_reason == REPEATED_PAGE
    assert result.progress.pages_done == 2
