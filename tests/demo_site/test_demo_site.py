"""Behaviour of the demo bid board as a crawler sees it."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from selectolax.parser import HTMLParser, Node
from starlette.testclient import TestClient
from typer.testing import CliRunner

from forest.demo_site import cli as demo_cli
from forest.demo_site.app import create_demo_app
from forest.demo_site.board import DEFAULT_ROBOTS_TXT, PER_PAGE, Board
from forest.demo_site.faulting import OVERSIZED_BYTES
from forest.demo_site.notices import ANCHOR_DATE, DEPARTMENTS
from forest.demo_site.params import get_board
from forest.demo_site.testing import DemoSite

SIZE = 95  # ten pages, the last one half full
LAST_PAGE = 10
LIST = "/kfs/bid/list.do"


@pytest.fixture
def site(demo_boards: Callable[..., DemoSite]) -> DemoSite:
    shared = demo_boards(notices=SIZE, seed=7)
    shared.board.reset()
    return shared


@pytest.fixture
def client(site: DemoSite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base_url, timeout=10) as c:
        yield c


def _text(node: Node | None) -> str:
    assert node is not None
    return node.text(strip=True)


def _regular_rows(html: str) -> list[Node]:
    return HTMLParser(html).css("table.board_list tbody tr:not(.notice)")


def _row_ids(html: str) -> list[int]:
    ids = []
    for row in _regular_rows(html):
        link = row.css_first("td.subject a")
        if link is not None:
            match = re.search(r"nttId=(\d+)", link.attributes["href"] or "")
            assert match
            ids.append(int(match.group(1)))
    return ids


# --- data -------------------------------------------------------------------------------------


def test_board_same_seed_and_size_gives_same_notices() -> None:
    first, second = Board(notices=300, seed=3), Board(notices=300, seed=3)
    assert first.notices == second.notices
    assert first.pinned == second.pinned
    assert [n.title for n in Board(notices=300, seed=4).notices] != [n.title for n in first.notices]


def test_board_ids_dates_views_look_like_a_real_board() -> None:
    notices = Board(notices=2000, seed=1).notices
    ids = [n.ntt_id for n in notices]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids)
    assert ids[-1] > 100_000
    assert any(a - b > 1 for a, b in itertools.pairwise(ids)), "ids should not be contiguous"
    dates = [n.post_date for n in notices]
    assert dates[0] == ANCHOR_DATE
    assert dates == sorted(dates, reverse=True)
    assert len(set(dates)) < len(dates) / 2, "several notices should share a post date"
    views = sorted(n.views for n in notices)
    assert views[-1] > 5 * views[len(views) // 2], "view counts should have a long tail"
    assert {n.department for n in notices} <= set(DEPARTMENTS)
    assert len({n.department for n in notices}) >= 10
    assert len({n.title for n in notices}) > 1000
    assert {len(n.attachments) for n in notices} == {0, 1, 2, 3}
    assert any(a.name == "공고문.hwp" for n in notices for a in n.attachments)


def test_board_text_is_representable_in_euckr() -> None:
    board = Board(notices=2000, seed=1)
    board.add_notices(50)
    board.edit_notices(20)
    for notice in [*board.notices, *board.pinned]:
        text = notice.title + notice.department + notice.body + "".join(a.name for a in notice.attachments)
        text.encode("euc_kr")


def test_board_has_two_or_three_pinned_notices_with_their_own_ids() -> None:
    for seed in range(1, 6):
        board = Board(notices=50, seed=seed)
        assert 2 <= len(board.pinned) <= 3
        assert all(p.pinned for p in board.pinned)
        assert not {p.ntt_id for p in board.pinned} & {n.ntt_id for n in board.notices}


# --- eGovFrame list -----------------------------------------------------------------------------


def test_list_page_layout(site: DemoSite, client: httpx.Client) -> None:
    response = client.get(LIST)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    tree = HTMLParser(response.text)
    pinned_rows = tree.css("table.board_list tbody tr.notice")
    assert len(pinned_rows) == len(site.board.pinned)
    assert all(_text(r.css_first("td.num")) == "공지" for r in pinned_rows)
    rows = _regular_rows(response.text)
    assert len(rows) == PER_PAGE
    newest = site.board.notices[:PER_PAGE]
    assert _row_ids(response.text) == [n.ntt_id for n in newest]
    cells = [c.text(strip=True) for c in rows[0].css("td")]
    assert cells[0] == str(SIZE)
    assert cells[1] == newest[0].title
    assert cells[2] == newest[0].department
    assert cells[3] == newest[0].post_date.isoformat()
    assert (rows[0].css_first("td:nth-child(5) img") is not None) == bool(newest[0].attachments)
    assert [_text(r.css_first("td.num")) for r in rows] == [str(SIZE - i) for i in range(PER_PAGE)]
    pinned_views = _text(pinned_rows[0].css("td")[5])
    assert re.fullmatch(r"\d{1,3}(,\d{3})+", pinned_views)
    assert _text(tree.css_first("div.paging strong")) == "1"
    assert tree.css_first("a.next").attributes["href"] == f"{LIST}?pageIndex=2"
    assert tree.css_first("a.last").attributes["href"] == f"{LIST}?pageIndex={LAST_PAGE}"


def test_list_pages_cover_every_notice_once(site: DemoSite, client: httpx.Client) -> None:
    seen: list[int] = []
    for page in range(1, LAST_PAGE + 1):
        seen.extend(_row_ids(client.get(LIST, params={"pageIndex": page}).text))
    assert seen == [n.ntt_id for n in site.board.notices]


def test_list_last_page_has_no_next_link(client: httpx.Client) -> None:
    html = client.get(LIST, params={"pageIndex": LAST_PAGE}).text
    assert len(_regular_rows(html)) == SIZE - (LAST_PAGE - 1) * PER_PAGE
    assert HTMLParser(html).css_first("a.next") is None
    assert HTMLParser(client.get(LIST, params={"pageIndex": LAST_PAGE - 1}).text).css_first("a.next")


def test_list_past_the_end_is_an_empty_page(client: httpx.Client) -> None:
    html = client.get(LIST, params={"pageIndex": LAST_PAGE + 1}).text
    rows = HTMLParser(html).css("table.board_list tbody tr")
    assert len(rows) == 1
    assert rows[0].css_first("td.no_data") is not None
    assert _text(rows[0]) == "등록된 게시물이 없습니다."
    assert HTMLParser(html).css_first("a.next") is None


def test_list_requests_grow_view_counts(site: DemoSite, client: httpx.Client) -> None:
    listed = [*site.board.pinned, *site.board.notices[:PER_PAGE]]
    unlisted = site.board.notices[PER_PAGE]
    client.get(LIST)
    for notice in listed:
        current = site.board.get(notice.ntt_id)
        assert current is not None
        assert notice.views < current.views <= notice.views + 3
    assert site.board.get(unlisted.ntt_id) == unlisted


# --- detail and download -------------------------------------------------------------------------


def test_detail_page_fields_and_attachments(site: DemoSite, client: httpx.Client) -> None:
    notice = next(n for n in site.board.notices if len(n.attachments) >= 2)
    html = client.get("/kfs/bid/view.do", params={"nttId": notice.ntt_id}).text
    view = HTMLParser(html).css_first("table.board_view")
    assert view is not None
    assert _text(view.css_first("td.title")) == notice.title
    assert _text(view.css_first("td.dept")) == notice.department
    assert _text(view.css_first("td.date")) == notice.post_date.isoformat()
    assert _text(view.css_first("td.views")) == f"{notice.views + 1:,}"
    links = view.css("td.files li a")
    assert [a.text() for a in links] == [a.name for a in notice.attachments]
    assert "추정가격" in _text(HTMLParser(html).css_first("div.view_content"))
    download = client.get(links[0].attributes["href"] or "")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.content


def test_detail_view_counts_a_view_each_time(site: DemoSite, client: httpx.Client) -> None:
    notice = site.board.notices[3]
    for _ in range(3):
        client.get("/kfs/bid/view.do", params={"nttId": notice.ntt_id})
    current = site.board.get(notice.ntt_id)
    assert current is not None
    assert current.views == notice.views + 3


def test_detail_of_pinned_notice_exists(site: DemoSite, client: httpx.Client) -> None:
    pinned = site.board.pinned[0]
    html = client.get("/kfs/bid/view.do", params={"nttId": pinned.ntt_id}).text
    assert _text(HTMLParser(html).css_first("td.title")) == pinned.title


@pytest.mark.parametrize("query", ["nttId=1", "nttId=abc", ""])
def test_detail_unknown_id_is_404(client: httpx.Client, query: str) -> None:
    assert client.get(f"/kfs/bid/view.do?{query}").status_code == 404


def test_download_unknown_file_is_404(client: httpx.Client) -> None:
    assert client.get("/kfs/bid/download.do", params={"fileId": 1}).status_code == 404


# --- EUC-KR variant -----------------------------------------------------------------------------


def _euckr_as_utf8(text: str) -> str:
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">'
    return text.replace("/euckr/bid/", "/kfs/bid/").replace(meta, '<meta charset="utf-8">')


@pytest.mark.parametrize("path", ["list.do?pageIndex=2", "view.do?nttId={id}"])
def test_euckr_pages_decode_to_the_utf8_pages(path: str) -> None:
    # Two boards from the same seed, so view counts match despite each request bumping them.
    utf8_app, euckr_app = create_demo_app(notices=SIZE, seed=7), create_demo_app(notices=SIZE, seed=7)
    path = path.format(id=get_board(utf8_app).notices[0].ntt_id)
    utf8 = TestClient(utf8_app).get(f"/kfs/bid/{path}")
    euckr = TestClient(euckr_app).get(f"/euckr/bid/{path}")
    assert euckr.headers["content-type"] == "text/html"
    assert b'<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">' in euckr.content
    with pytest.raises(UnicodeDecodeError):
        euckr.content.decode("utf-8")
    decoded = euckr.content.decode("cp949")
    assert "/euckr/bid/" in decoded
    assert _euckr_as_utf8(decoded) == utf8.text


# --- custom layout ------------------------------------------------------------------------------


def test_custom_list_layout(site: DemoSite, client: httpx.Client) -> None:
    tree = HTMLParser(client.get("/custom/bids", params={"page": 2}).text)
    items = tree.css("ul.bid-list li.bid-item")
    assert len(items) == PER_PAGE
    expected = site.board.notices[PER_PAGE : 2 * PER_PAGE]
    first = items[0]
    assert _text(first.css_first("span.no")) == str(SIZE - PER_PAGE)
    assert first.css_first("a.bid-title").attributes["onclick"] == f"goDetail('{expected[0].ntt_id}')"
    assert first.css_first("a.bid-title").attributes["href"] == "javascript:void(0)"
    assert _text(first.css_first("span.org")) == expected[0].department
    assert _text(first.css_first("span.reg-date")) == expected[0].post_date.strftime("%Y.%m.%d")
    assert re.fullmatch(r"[\d,]+", _text(first.css_first("em.hit")))
    assert tree.css_first("div.pager a.btn-next").attributes["href"] == "javascript:goPage(3)"
    assert tree.css_first("tr.notice") is None


def test_custom_last_page_has_no_next_and_detail_has_fields(site: DemoSite, client: httpx.Client) -> None:
    tree = HTMLParser(client.get("/custom/bids", params={"page": LAST_PAGE}).text)
    assert tree.css_first("a.btn-next") is None
    notice = next(n for n in site.board.notices if n.attachments)
    detail = HTMLParser(client.get("/custom/bid", params={"id": notice.ntt_id}).text)
    assert _text(detail.css_first(".bid-title")) == notice.title
    assert _text(detail.css_first(".org")) == notice.department
    assert _text(detail.css_first(".reg-date")) == notice.post_date.strftime("%Y.%m.%d")
    assert _text(detail.css_first(".hit")) == f"{notice.views + 1:,}"
    files = detail.css("a.file")
    assert [a.text() for a in files] == [a.name for a in notice.attachments]
    assert client.get(files[0].attributes["href"] or "").status_code == 200
    assert client.get("/custom/bid", params={"id": 5}).status_code == 404


# --- board operations ---------------------------------------------------------------------------


def test_added_notices_appear_on_top(site: DemoSite, client: httpx.Client) -> None:
    old_newest = site.board.notices[0]
    added = site.board.add_notices(3)
    assert [n.ntt_id for n in added] == sorted((n.ntt_id for n in added), reverse=True)
    assert min(n.ntt_id for n in added) > old_newest.ntt_id
    assert all(n.post_date >= old_newest.post_date for n in added)
    html = client.get(LIST).text
    assert _row_ids(html)[:4] == [*(n.ntt_id for n in added), old_newest.ntt_id]
    assert _text(_regular_rows(html)[0].css_first("td.num")) == str(SIZE + 3)


def test_edited_notices_keep_ids_and_dates(site: DemoSite, client: httpx.Client) -> None:
    before = {n.ntt_id: n for n in site.board.notices}
    edited = site.board.edit_notices(4)
    assert len(edited) == 4
    for notice in edited:
        old = before[notice.ntt_id]
        assert notice.post_date == old.post_date
        assert (notice.title, notice.department) != (old.title, old.department)
    recent = {n.ntt_id for n in site.board.notices[:30]}
    assert {n.ntt_id for n in edited} <= recent
    assert [n.ntt_id for n in site.board.notices] == list(before)
    html = "".join(client.get(LIST, params={"pageIndex": p}).text for p in (1, 2, 3))
    titles = dict(zip(_row_ids(html), (_text(r.css_first("td.subject")) for r in _regular_rows(html)), strict=True))
    assert all(titles[n.ntt_id] == n.title for n in edited)


def test_edits_are_deterministic() -> None:
    first, second = Board(notices=100, seed=2), Board(notices=100, seed=2)
    assert first.edit_notices(5) == second.edit_notices(5)
    assert first.add_notices(5) == second.add_notices(5)


# --- robots.txt and index ----------------------------------------------------------------------


def test_robots_default_override_and_runtime_change(site: DemoSite, client: httpx.Client) -> None:
    assert client.get("/robots.txt").text == DEFAULT_ROBOTS_TXT
    assert "Crawl-delay" not in DEFAULT_ROBOTS_TXT
    assert client.get("/private/list.do").status_code == 200
    assert "/private/view.do" in client.get("/private/list.do").text
    site.board.robots_txt = "User-agent: *\nDisallow: /\n"
    assert client.get("/robots.txt").text == "User-agent: *\nDisallow: /\n"
    custom = TestClient(create_demo_app(notices=5, robots_txt="User-agent: *\nCrawl-delay: 2\n"))
    assert custom.get("/robots.txt").text == "User-agent: *\nCrawl-delay: 2\n"


def test_index_links_to_the_boards(client: httpx.Client) -> None:
    hrefs = {a.attributes["href"] for a in HTMLParser(client.get("/").text).css("a")}
    assert {"/kfs/bid/list.do", "/euckr/bid/list.do", "/custom/bids"} <= hrefs


# --- faults -------------------------------------------------------------------------------------


def test_fault_unavailable_returns_503_then_recovers(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("unavailable", remaining=2)
    for _ in range(2):
        response = client.get(LIST)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
    assert client.get(LIST).status_code == 200
    assert site.board.faults == {}


def test_fault_rate_limited_returns_429(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("rate_limited", remaining=1)
    response = client.get(LIST)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert client.get(LIST).status_code == 200


def test_fault_slow_delays_responses(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("slow", delay=0.3, remaining=1)
    started = time.perf_counter()
    assert client.get(LIST).status_code == 200
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    client.get(LIST)
    assert time.perf_counter() - started < 0.3


def test_fault_reset_breaks_the_connection(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("reset", remaining=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(LIST)
    assert client.get(LIST).status_code == 200


def test_fault_redirect_chain_hops_before_the_page(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("redirect_chain", hops=3)
    response = client.get(LIST, params={"pageIndex": 2}, follow_redirects=True)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [302, 302, 302]
    assert response.url == httpx.URL(site.url(f"{LIST}?pageIndex=2"))
    assert len(_regular_rows(response.text)) == PER_PAGE
    again = client.get(LIST, params={"pageIndex": 2}, follow_redirects=True)
    assert len(again.history) == 3


def test_fault_redirect_to_another_host(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("redirect_chain", hops=2, location="http://169.254.169.254/latest/meta-data/")
    response = client.get(LIST)
    locations = []
    while response.is_redirect:
        locations.append(response.headers["location"])
        if locations[-1].startswith("http://169.254"):
            break
        response = client.get(locations[-1])
    assert len(locations) == 2
    assert locations[-1] == "http://169.254.169.254/latest/meta-data/"


def test_fault_oversized_page(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("oversized", remaining=1)
    response = client.get(LIST)
    assert int(response.headers["content-length"]) == OVERSIZED_BYTES
    assert len(response.content) == OVERSIZED_BYTES > 10 * 1024 * 1024


def test_fault_oversized_gzip_inflates_past_10_mib(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("oversized", gzip=True, remaining=1)
    response = client.get(LIST)
    assert response.headers["content-encoding"] == "gzip"
    assert response.num_bytes_downloaded < 100_000
    assert len(response.content) > 10 * 1024 * 1024


def test_fault_repeat_last_page(site: DemoSite, client: httpx.Client) -> None:
    last = _row_ids(client.get(LIST, params={"pageIndex": LAST_PAGE}).text)
    site.board.set_fault("repeat_last_page")
    for page in (LAST_PAGE + 1, LAST_PAGE + 50):
        assert _row_ids(client.get(LIST, params={"pageIndex": page}).text) == last
    custom_items = HTMLParser(client.get("/custom/bids", params={"page": 99}).text).css("li.bid-item")
    assert len(custom_items) == SIZE - (LAST_PAGE - 1) * PER_PAGE
    site.board.clear_fault("repeat_last_page")
    assert _row_ids(client.get(LIST, params={"pageIndex": LAST_PAGE + 1}).text) == []


def test_fault_scoped_to_a_path_prefix(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("unavailable", path_prefix="/euckr/")
    assert client.get(LIST).status_code == 200
    assert client.get("/euckr/bid/list.do").status_code == 503
    assert site.board.faults["unavailable"].remaining is None


def test_unscoped_faults_spare_robots_txt(site: DemoSite, client: httpx.Client) -> None:
    site.board.set_fault("unavailable")
    assert client.get("/robots.txt").status_code == 200
    site.board.set_fault("unavailable", path_prefix="/robots.txt")
    assert client.get("/robots.txt").status_code == 503


def test_set_fault_rejects_bad_parameters(site: DemoSite) -> None:
    with pytest.raises(ValueError):
        site.board.set_fault("slow", remaining=0)
    with pytest.raises(ValueError):
        site.board.set_fault("redirect_chain", hops=0)


# --- counters and control API -------------------------------------------------------------------


def test_request_counters_by_path(site: DemoSite, client: httpx.Client) -> None:
    client.get(LIST)
    client.get(LIST, params={"pageIndex": 2})
    client.get("/robots.txt")
    client.get("/_demo/state")
    counts = site.board.request_counts
    assert counts == {LIST: 2, "/robots.txt": 1}
    assert client.get("/_demo/state").json()["requests"] == counts


def test_control_api_adds_edits_and_reports_state(site: DemoSite, client: httpx.Client) -> None:
    state = client.get("/_demo/state").json()
    assert state["total"] == SIZE
    assert state["newest_id"] == site.board.notices[0].ntt_id
    added = client.post("/_demo/notices", params={"count": 5}).json()
    assert len(added["added"]) == 5
    assert added["total"] == SIZE + 5
    assert added["newest_id"] == added["added"][0] == site.board.notices[0].ntt_id
    edited = client.post("/_demo/edits", params={"count": 2}).json()["edited"]
    assert len(edited) == 2
    assert client.post("/_demo/notices", params={"count": -1}).status_code == 422


def test_control_api_sets_and_clears_faults(site: DemoSite, client: httpx.Client) -> None:
    body: dict[str, Any] = {
        "unavailable": {"remaining": 1, "path_prefix": "/kfs/"},
        "slow": {"delay": 0.01},
    }
    faults = client.post("/_demo/faults", json=body).json()["faults"]
    assert faults["unavailable"] == {"remaining": 1, "path_prefix": "/kfs/"}
    assert faults["slow"]["delay"] == 0.01
    assert client.get(LIST).status_code == 503
    assert "unavailable" not in client.get("/_demo/state").json()["faults"]
    client.post("/_demo/faults", json={"slow": None})
    assert site.board.faults == {}
    client.post("/_demo/faults", json={"rate_limited": {}})
    assert client.delete("/_demo/faults").status_code == 200
    assert site.board.faults == {}


def test_bad_charset_fault_declares_a_charset_over_the_usual_page(site: DemoSite, client: httpx.Client) -> None:
    plain = client.get(LIST)
    faults = client.post("/_demo/faults", json={"bad_charset": {"charset": "base64", "remaining": 1}}).json()["faults"]
    assert faults["bad_charset"] == {"remaining": 1, "path_prefix": None, "charset": "base64"}

    bad = client.get(LIST)

    assert bad.headers["content-type"] == "text/html; charset=base64"
    assert bad.status_code == 200 and b'class="board_list"' in bad.content  # the page itself, utf-8 as always
    assert client.get(LIST).headers["content-type"] == plain.headers["content-type"]  # used up


@pytest.mark.parametrize(
    "body",
    [{"meltdown": {}}, {"slow": {"delay": -1}}, {"slow": {"bogus": 1}}, {"unavailable": {"remaining": 0}},
     {"bad_charset": {"charset": "utf-8\r\nSet-Cookie: a=b"}}, {"bad_charset": {"charset": ""}}],
)
def test_control_api_rejects_bad_faults(site: DemoSite, client: httpx.Client, body: dict[str, Any]) -> None:
    assert client.post("/_demo/faults", json=body).status_code == 422
    assert site.board.faults == {}


def test_control_api_reset_and_robots(site: DemoSite, client: httpx.Client) -> None:
    original = site.board.notices
    site.board.add_notices(3)
    site.board.set_fault("unavailable", path_prefix="/custom/")
    client.put("/_demo/robots", content="User-agent: *\nDisallow: /kfs/\n")
    assert client.get("/robots.txt").text == "User-agent: *\nDisallow: /kfs/\n"
    state = client.post("/_demo/reset").json()
    assert state["total"] == SIZE
    assert state["faults"] == {}
    assert state["requests"] == {}
    assert site.board.notices == original
    assert client.get("/robots.txt").text == DEFAULT_ROBOTS_TXT


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_serves_the_requested_board(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        served.update(kwargs, board=get_board(app))

    monkeypatch.setattr(demo_cli.uvicorn, "run", fake_run)
    result = CliRunner().invoke(demo_cli.app, ["--host", "127.0.0.1", "--port", "8123", "--notices", "42"])
    assert result.exit_code == 0, result.output
    assert served["port"] == 8123
    assert served["host"] == "127.0.0.1"
    assert served["board"].total == 42
    assert served["board"].notices[0].post_date == date(2026, 11, 20)
