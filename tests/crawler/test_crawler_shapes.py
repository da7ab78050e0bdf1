"""Whole crawls of the demo board's other shapes, judged field-exact against the board's own notices."""

from __future__ import annotations

import copy
from typing import Any

from crawler_support import CARDS, GRID, demo_config

from forest.crawler.engine import EMPTY_PAGE, ERROR, LAST_PAGE, crawl
from forest.crawler.memory import MemoryStore
from forest.crawler.presets.definitions import EGOV_BOARD, EGOV_FORM_POST, EGOV_JSON_LIST
from forest.demo_site.notices import Notice
from forest.demo_site.shapes import english_id, file_key
from forest.demo_site.testing import DemoSite

# The cards board with its next-page link named.
CARDS_NEXT: dict[str, Any] = {**CARDS, "list": {**CARDS["list"], "next": "a.more"}}


def views_now(demo: DemoSite) -> dict[int, int]:
    return {n.ntt_id: n.views for n in (*demo.board.pinned, *demo.board.notices)}


def assert_field_exact(store: MemoryStore, demo: DemoSite, start: dict[int, int], *, ident: Any = None,
                       file_url: Any = None, pinned: bool = True) -> None:
    """Every notice of the board stored once, each field as the board has it."""
    ident = ident or (lambda n: str(n.ntt_id))
    expected: list[Notice] = [*(demo.board.pinned if pinned else []), *demo.board.notices]
    assert sorted(store.notices) == sorted(ident(n) for n in expected)
    for notice in expected:
        got = store.notices[ident(notice)]
        assert (got.title, got.department, got.post_date, got.pinned) == (
            notice.title, notice.department, notice.post_date, notice.pinned)
        assert start[notice.ntt_id] <= got.views <= notice.views
        if file_url is not None:
            assert [(a.name, a.url) for a in got.attachments] == [
                (a.name, demo.url(file_url(a))) for a in notice.attachments]


async def test_form_post_board_with_session_is_stored_field_exact(demo: DemoSite) -> None:
    store = MemoryStore()
    start = views_now(demo)
    result = await crawl(demo_config(demo, "/egovpost/bid/list.do", preset=None, definition=EGOV_FORM_POST), store)
    assert (result.stopped_reason, result.errors) == (LAST_PAGE, [])
    assert_field_exact(store, demo, start,
                       file_url=lambda a: f"/cmm/fms/FileDown.do?atchFileId={file_key(a.file_id)}&fileSn=0")
    first = demo.board.notices[0]
    assert store.notices[str(first.ntt_id)].url == demo.url(
        f"/egovpost/bid/view.do?nttId={first.ntt_id}&bbsId=BBSMSTR_000000000123")
    # Page 1 opened by GET (the session), then one POST per page; the pager's missing 다음 ends the list.
    assert demo.board.request_count("/egovpost/bid/list.do") == 1 + demo.board.last_page
    assert demo.board.request_count("/egovpost/index.do") == 0


async def test_form_post_board_titles_cut_in_the_list_come_whole_from_the_detail(demo: DemoSite) -> None:
    store = MemoryStore()
    await crawl(demo_config(demo, "/egovpost/bid/list.do", preset=None, definition=EGOV_FORM_POST), store)
    long_titles = [n for n in demo.board.notices if len(n.title) > 20]
    assert long_titles
    assert all(store.notices[str(n.ntt_id)].title == n.title for n in long_titles)


async def test_session_dropped_mid_crawl_is_recovered_by_reopening_the_board(demo: DemoSite) -> None:
    for path, fires in (("/egovpost/bid/view.do", 1), ("/egovpost/bid/list.do", 1)):
        demo.board.reset()
        # The board forgets every session at the first detail (error page, status 200) or list POST (redirect).
        demo.board.set_fault("drop_session", remaining=fires, path_prefix=path)
        store = MemoryStore()
        start = views_now(demo)
        result = await crawl(demo_config(demo, "/egovpost/bid/list.do", preset=None, definition=EGOV_FORM_POST),
                             store)
        assert (result.stopped_reason, result.errors) == (LAST_PAGE, []), path
        assert_field_exact(store, demo, start)
        assert demo.board.request_count("/egovpost/bid/list.do") >= 2 + demo.board.last_page


async def test_session_that_cannot_be_reopened_fails_the_page_clearly(demo: DemoSite) -> None:
    demo.board.set_fault("drop_session", path_prefix="/egovpost/bid/list.do")
    result = await crawl(demo_config(demo, "/egovpost/bid/list.do", preset=None, definition=EGOV_FORM_POST),
                         MemoryStore())
    assert result.stopped_reason == ERROR
    assert result.error is not None and "without a session" in result.error


async def test_json_list_board_is_stored_field_exact_and_ends_at_its_last_page(demo: DemoSite) -> None:
    store = MemoryStore()
    start = views_now(demo)
    result = await crawl(demo_config(demo, "/jsonbbs/list.do", preset=None, definition=EGOV_JSON_LIST), store)
    assert (result.stopped_reason, result.errors) == (LAST_PAGE, [])
    assert_field_exact(store, demo, start, file_url=lambda a: f"/jsonbbs/file/{a.file_id}")
    assert demo.board.request_count("/jsonbbs/selectList.json") == demo.board.last_page


async def test_json_list_without_last_page_ends_on_the_empty_page(demo: DemoSite) -> None:
    definition = copy.deepcopy(EGOV_JSON_LIST)
    del definition["list"]["last_page"]
    result = await crawl(demo_config(demo, "/jsonbbs/list.do", preset=None, definition=definition), MemoryStore())
    assert result.stopped_reason == EMPTY_PAGE
    assert demo.board.request_count("/jsonbbs/selectList.json") == demo.board.last_page + 1


async def test_bare_url_english_table_with_path_ids_follows_rel_next(demo: DemoSite) -> None:
    store = MemoryStore()
    start = views_now(demo)
    result = await crawl(demo_config(demo, "/en/tenders", preset=None), store)
    assert (result.stopped_reason, result.errors) == (LAST_PAGE, [])
    assert_field_exact(store, demo, start, ident=english_id, pinned=False,
                       file_url=lambda a: f"/shapes/file/{a.file_id}")
    assert demo.board.request_count(f"/en/tenders/page/{demo.board.last_page}") == 1


async def test_card_list_with_pin_icons_is_stored_field_exact_pinned_once(demo: DemoSite) -> None:
    store = MemoryStore()
    start = views_now(demo)
    result = await crawl(demo_config(demo, "/cards/list", preset=None, definition=CARDS_NEXT), store)
    assert (result.stopped_reason, result.errors) == (LAST_PAGE, [])
    assert_field_exact(store, demo, start, file_url=lambda a: f"/shapes/file/{a.file_id}")
    pinned = demo.board.pinned[0]
    assert demo.board.request_count(f"/cards/view/{pinned.ntt_id}") == 1


async def test_table_with_rowspan_dates_and_colspan_pinned_rows_is_stored_field_exact(demo: DemoSite) -> None:
    store = MemoryStore()
    start = views_now(demo)
    result = await crawl(demo_config(demo, "/grid/list.do", preset=None, definition=GRID), store)
    assert (result.stopped_reason, result.errors) == (LAST_PAGE, [])
    assert_field_exact(store, demo, start, file_url=lambda a: f"/shapes/file/{a.file_id}")


async def test_board_in_an_iframe_is_found_by_definition_and_by_detection(demo: DemoSite) -> None:
    framed = {**EGOV_BOARD, "frame": "iframe#boardFrame"}
    for config in (demo_config(demo, "/framed/", preset=None, definition=framed),
                   demo_config(demo, "/framed/", preset=None)):
        demo.board.reset()
        store = MemoryStore()
        start = views_now(demo)
        result = await crawl(config, store)
        assert (result.stopped_reason, result.errors) == (LAST_PAGE, [])
        assert_field_exact(store, demo, start, file_url=lambda a: f"/framed/board/download.do?fileId={a.file_id}")


async def test_egov_preset_definition_reads_the_stock_board_field_exact(demo: DemoSite) -> None:
    store = MemoryStore()
    start = views_now(demo)
    result = await crawl(demo_config(demo, preset=None, definition=EGOV_BOARD), store)
    assert (result.stopped_reason, result.errors) == (LAST_PAGE, [])
    assert_field_exact(store, demo, start, file_url=lambda a: f"/kfs/bid/download.do?fileId={a.file_id}")


async def test_crawl_whose_every_row_failed_is_not_a_success(demo: DemoSite) -> None:
    broken = copy.deepcopy(CARDS_NEXT)
    broken["list"]["fields"]["post_date"] = "span.no-such-date"
    result = await crawl(demo_config(demo, "/cards/list", preset=None, definition=broken, max_pages=2),
                         MemoryStore())
    assert result.failed
    assert result.error is not None
    assert result.error.startswith("no notice could be read: ")
    assert "has no post date" in result.error


async def test_form_posts_and_json_requests_obey_robots_txt(demo: DemoSite) -> None:
    demo.board.robots_txt = "User-agent: *\nDisallow: /egovpost/bid/view.do\nDisallow: /jsonbbs/selectList.json\n"
    result = await crawl(demo_config(demo, "/egovpost/bid/list.do", preset=None, definition=EGOV_FORM_POST,
                                     max_pages=1), MemoryStore())
    assert result.failed and result.error is not None and "robots.txt" in result.error
    assert demo.board.request_count("/egovpost/bid/view.do") == 0
    result = await crawl(demo_config(demo, "/jsonbbs/list.do", preset=None, definition=EGOV_JSON_LIST),
                         MemoryStore())
    assert result.failed and result.error is not None and "robots.txt" in result.error
    assert demo.board.request_count("/jsonbbs/selectList.json") == 0


async def test_bare_url_detection_of_form_post_json_card_and_framed_boards(demo: DemoSite) -> None:
    files = {"/egovpost/bid/list.do": lambda a: f"/cmm/fms/FileDown.do?atchFileId={file_key(a.file_id)}&fileSn=0",
             "/jsonbbs/list.do": lambda a: f"/jsonbbs/file/{a.file_id}",
             "/framed/": lambda a: f"/framed/board/download.do?fileId={a.file_id}",
             "/cards/list": lambda a: f"/shapes/file/{a.file_id}"}
    for path, file_url in files.items():
        demo.board.reset()
        store = MemoryStore()
        start = views_now(demo)
        result = await crawl(demo_config(demo, path, preset=None), store)
        # The detected form-POST board has no known next link: its list ends on the first empty page.
        ending = EMPTY_PAGE if path.startswith("/egovpost") else LAST_PAGE
        assert (result.stopped_reason, result.errors) == (ending, []), path
        assert_field_exact(store, demo, start, file_url=file_url)
    # The form-POST board was paged by POSTs of its list form, the JSON board through its XHR list.
    assert result.definition is not None
    demo.board.reset()
    result = await crawl(demo_config(demo, "/egovpost/bid/list.do", preset=None, max_pages=1), MemoryStore())
    assert result.definition is not None
    assert result.definition["list"]["request"] == {
        "method": "POST", "url": demo.url("/egovpost/bid/list.do"), "form": {"bbsId": "BBSMSTR_000000000123"},
        "page_field": "pageIndex"}
    assert result.definition["detail"]["request"]["form"] == {"bbsId": "BBSMSTR_000000000123", "nttId": "{id}"}
    result = await crawl(demo_config(demo, "/jsonbbs/list.do", preset=None, max_pages=1), MemoryStore())
    assert result.definition is not None and result.definition["list"]["format"] == "json"
