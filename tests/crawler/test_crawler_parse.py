"""Parsers on hand-written pages that follow the demo board's and real eGovFrame boards' markup."""

from __future__ import annotations

import datetime as dt

import pytest

from forest.crawler.parse import (
    Attachment,
    LayoutNotDetected,
    Notice,
    apply_detail,
    detect_table,
    id_from_link,
    parse_date,
    parse_views,
)
from forest.crawler.presets import DEMO_CUSTOM_SELECTORS, UnknownPreset, get_parser
from forest.crawler.presets.egov import detail_url_for
from forest.crawler.selectors import FieldSelector, SelectorError, SelectorParser

LIST_URL = "https://www.forest.go.kr/kfs/bid/list.do"

EGOV_LIST = """<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"></head><body>
<table class="board_list"><caption>입찰공고 목록</caption>
<thead><tr><th>번호</th><th>제목</th><th>담당부서</th><th>작성일</th><th>첨부</th><th>조회수</th></tr></thead>
<tbody>
<tr class="notice"><td class="num"><span class="ico_notice">공지</span></td>
  <td class="subject"><a href="/kfs/bid/view.do?nttId=900001&amp;pageIndex=1">[공지] 전자입찰 참가 시 유의사항 안내</a></td>
  <td>운영지원과</td><td>2026-01-02</td><td><img alt="첨부파일 있음"></td><td>12,345</td></tr>
<tr><td class="num">4990</td>
  <td class="subject"><a href="/kfs/bid/view.do?nttId=123456&amp;pageIndex=1">
      2026년 가리왕산지구 임도 신설 공사 입찰공고 </a></td>
  <td>산림경영과</td><td>2026-11-20</td><td><img alt="첨부파일 있음"></td><td>1,234</td></tr>
<tr><td class="num">4989</td>
  <td class="subject"><a href="/kfs/bid/view.do?nttId=123450&amp;pageIndex=1">산불진화장비 구매 재공고</a></td>
  <td>산불방지과</td><td>2026-11-19</td><td></td><td>7</td></tr>
<tr><td class="num">4988</td>
  <td class="subject"><a href="/kfs/bid/view.do?nttId=123449">날짜가 깨진 공고</a></td>
  <td>산림경영과</td><td>작성일 미상</td><td></td><td>3</td></tr>
</tbody></table>
<div class="paging"><a href="/kfs/bid/list.do?pageIndex=1" class="first">처음</a>
<strong>1</strong> <a href="/kfs/bid/list.do?pageIndex=2">2</a> <a href="/kfs/bid/list.do?pageIndex=3">3</a>
<a href="/kfs/bid/list.do?pageIndex=2" class="next">다음</a>
<a href="/kfs/bid/list.do?pageIndex=499" class="last">끝</a></div>
</body></html>"""

EGOV_JS_LIST = """<html><body>
<table class="board_list"><thead><tr><th>No</th><th>공고명</th><th>부서</th><th>등록일</th><th>조회</th></tr></thead>
<tbody>
<tr><td>공지</td><td><a href="#" onclick="fn_egov_inqire_notice('777'); return false;">상시 공지</a></td>
  <td>운영지원과</td><td>2025.12.22</td><td>10</td></tr>
<tr><td>12</td><td><a href="javascript:fn_view('5001')">목재파쇄기 구매</a></td>
  <td>목재산업과</td><td>26.11.20</td><td>1,001</td></tr>
<tr><td>11</td><td><a href="/board/selectBoardArticle.do?bbsId=B1&amp;nttSn=4999">숲길 정비 공사</a></td>
  <td>산림휴양등산과</td><td>2026년 11월 19일</td><td>0</td></tr>
</tbody></table>
<div class="paging"><strong>1</strong>
<a href="#" onclick="fn_egov_link_page(2); return false;">2</a>
<a href="#" class="next" onclick="fn_egov_link_page(11); return false;">다음</a></div>
</body></html>"""

EGOV_VIEW = """<html><body><table class="board_view"><tbody>
<tr><th>제목</th><td class="title">2026년 가리왕산지구 임도 신설 공사 입찰공고 (정정)</td></tr>
<tr><th>담당부서</th><td class="dept">산림경영과</td></tr>
<tr><th>작성일</th><td class="date">2026-11-20</td></tr>
<tr><th>조회수</th><td class="views">1,240</td></tr>
<tr><th>첨부파일</th><td class="files"><ul>
  <li><a href="/kfs/bid/download.do?fileId=1234561">공고문.hwp</a></li>
  <li><a href="/kfs/bid/download.do?fileId=1234562">설계서.zip</a></li></ul></td></tr>
</tbody></table></body></html>"""

LABELLED_VIEW = """<html><body><table><tr><th>제목</th><td>조림용 묘목 구매</td></tr>
<tr><th>부서</th><td>산림자원과</td></tr><tr><th>등록일</th><td>2026/11/18 09:30</td></tr>
<tr><th>첨부파일</th><td><a href="#" onclick="fn_egov_downFile('FILE_000000000001','0')">규격서.pdf</a></td></tr>
</table></body></html>"""

CUSTOM_LIST = """<html><head><meta charset="utf-8"></head><body>
<ul class="bid-list">
<li class="bid-item"><span class="no">120</span>
  <a class="bid-title" href="javascript:void(0)" onclick="goDetail('123456')">산림병해충 예찰·방제 용역 입찰공고</a>
  <span class="org">산림병해충방제과</span><span class="reg-date">2026.11.20</span><em class="hit">1,234</em></li>
<li class="bid-item"><span class="no">119</span>
  <a class="bid-title" href="javascript:void(0)" onclick="goDetail('123400')">국유림 간벌목 매각 입찰공고</a>
  <span class="org">국유림관리과</span><span class="reg-date">2026.11.19</span><em class="hit">56</em></li>
<li class="bid-item"><span class="no">118</span>
  <a class="bid-title" href="javascript:void(0)">id 없는 행</a>
  <span class="org">국유림관리과</span><span class="reg-date">2026.11.19</span><em class="hit">5</em></li>
</ul>
<div class="pager"><strong>1</strong> <a href="javascript:goPage(2)">2</a>
<a href="javascript:goPage(2)" class="btn-next">다음</a></div></body></html>"""

CUSTOM_VIEW = """<html><body><div class="bid-view"><h2 class="bid-title">산림병해충 예찰·방제 용역 입찰공고</h2>
<p class="bid-meta"><span class="org">산림병해충방제과</span> <span class="reg-date">2026.11.20</span>
조회 <em class="hit">1,235</em></p>
<ul class="bid-files"><li><a class="file" href="/custom/file?id=1234561">과업지시서.pdf</a></li></ul>
</div></body></html>"""


def test_egov_list_parses_rows_pinned_and_next_page() -> None:
    page = get_parser("egov_board").parse_list(EGOV_LIST, LIST_URL)

    assert [n.external_id for n in page.notices] == ["900001", "123456", "123450"]
    pinned, first, second = page.notices
    assert pinned.pinned and not first.pinned and not second.pinned
    assert first == Notice(
        external_id="123456",
        title="2026년 가리왕산지구 임도 신설 공사 입찰공고",
        department="산림경영과",
        post_date=dt.date(2026, 11, 20),
        views=1234,
        url="https://www.forest.go.kr/kfs/bid/view.do?nttId=123456&pageIndex=1",
    )
    assert page.next_url == "https://www.forest.go.kr/kfs/bid/list.do?pageIndex=2"
    assert page.last_page == 499


def test_egov_list_bad_row_becomes_error_and_others_survive() -> None:
    page = get_parser("egov_board").parse_list(EGOV_LIST, LIST_URL)

    assert len(page.errors) == 1
    assert "no date" in page.errors[0].reason
    assert "123449" in page.errors[0].snippet


def test_egov_list_javascript_links_and_pager() -> None:
    url = "https://www.example.go.kr/board/selectBoardList.do?bbsId=B1&pageIndex=1"
    page = get_parser("egov_board").parse_list(EGOV_JS_LIST, url)

    assert [(n.external_id, n.pinned) for n in page.notices] == [("777", True), ("5001", False), ("4999", False)]
    assert page.notices[1].url == "https://www.example.go.kr/board/selectBoardView.do?nttId=5001"
    assert page.notices[1].post_date == dt.date(2026, 11, 20)
    assert page.notices[2].url == "https://www.example.go.kr/board/selectBoardArticle.do?bbsId=B1&nttSn=4999"
    # The page-number link wins over a.next, which jumps a whole block of ten.
    assert page.next_url == "https://www.example.go.kr/board/selectBoardList.do?bbsId=B1&pageIndex=2"


def test_egov_list_past_the_end_is_empty() -> None:
    html = (
        '<table class="board_list"><thead><tr><th>번호</th><th>제목</th></tr></thead>'
        '<tbody><tr><td colspan="6" class="no_data">등록된 게시물이 없습니다.</td></tr></tbody></table>'
    )
    page = get_parser("demo_board").parse_list(html, LIST_URL + "?pageIndex=600")

    assert page.notices == [] and page.errors == [] and page.next_url is None


def test_egov_detail_is_authoritative_with_attachments() -> None:
    listed = get_parser("egov_board").parse_list(EGOV_LIST, LIST_URL).notices[1]
    detail = get_parser("egov_board").parse_detail(EGOV_VIEW, listed.url)
    merged = apply_detail(listed, detail)

    assert merged.title.endswith("(정정)")
    assert merged.views == 1240
    assert merged.attachments == (
        Attachment("공고문.hwp", "https://www.forest.go.kr/kfs/bid/download.do?fileId=1234561"),
        Attachment("설계서.zip", "https://www.forest.go.kr/kfs/bid/download.do?fileId=1234562"),
    )
    assert merged.content_hash != listed.content_hash


def test_detail_by_th_labels_and_javascript_download() -> None:
    detail = get_parser("egov_board").parse_detail(LABELLED_VIEW, "https://www.example.go.kr/board/view.do?nttId=1")

    assert detail.title == "조림용 묘목 구매"
    assert detail.department == "산림자원과"
    assert detail.post_date == dt.date(2026, 11, 18)
    assert detail.attachments == (
        Attachment("규격서.pdf", "https://www.example.go.kr/cmm/fms/FileDown.do?atchFileId=FILE_000000000001&fileSn=0"),
    )


def test_custom_selectors_with_javascript_links() -> None:
    parser = SelectorParser(DEMO_CUSTOM_SELECTORS)
    page = parser.parse_list(CUSTOM_LIST, "http://board.example/custom/bids")

    assert [n.external_id for n in page.notices] == ["123456", "123400"]
    first = page.notices[0]
    assert first.url == "http://board.example/custom/bid?id=123456"
    assert (first.department, first.post_date, first.views) == ("산림병해충방제과", dt.date(2026, 11, 20), 1234)
    assert page.next_url == "http://board.example/custom/bids?page=2"
    assert len(page.errors) == 1 and "no notice id" in page.errors[0].reason


def test_custom_detail_reuses_class_selectors() -> None:
    parser = SelectorParser(DEMO_CUSTOM_SELECTORS)
    detail = parser.parse_detail(CUSTOM_VIEW, "http://board.example/custom/bid?id=123456")

    assert detail.title == "산림병해충 예찰·방제 용역 입찰공고"
    assert detail.views == 1235
    assert detail.attachments == (Attachment("과업지시서.pdf", "http://board.example/custom/file?id=1234561"),)


def test_selector_mini_syntax() -> None:
    spec = FieldSelector.parse(r"a.bid-title::attr(onclick) re:goDetail\('(\d+)'\)")
    assert (spec.css, spec.attr) == ("a.bid-title", "onclick")
    assert spec.pattern is not None and spec.pattern.pattern == r"goDetail\('(\d+)'\)"
    with pytest.raises(SelectorError, match="title: bad regex"):
        SelectorParser({"row": "li", "title": "a re:(", "post_date": "span"})
    with pytest.raises(SelectorError, match="unknown selector keys: titel"):
        SelectorParser({"row": "li", "titel": "a", "title": "a", "post_date": "span"})


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(UnknownPreset, match="egov_board"):
        get_parser("nope")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", dt.date(2026, 11, 20)),
        ("2026.11.20", dt.date(2026, 11, 20)),
        ("2026/11/20", dt.date(2026, 11, 20)),
        ("26.11.20", dt.date(2026, 11, 20)),
        ("2026년 11월 20일", dt.date(2026, 11, 20)),
        ("2026-11-20 14:30", dt.date(2026, 11, 20)),
        (" 2026.1.5 09:00:00 ", dt.date(2026, 1, 5)),
    ],
)
def test_parse_date_formats(text: str, expected: dt.date) -> None:
    assert parse_date(text) == expected


def test_parse_date_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="no date"):
        parse_date("어제")
    with pytest.raises(ValueError, match="not a calendar date"):
        parse_date("2026-02-30")


@pytest.mark.parametrize(
    ("text", "expected"), [("1,234", 1234), ("0", 0), ("", 0), (" 56 ", 56), ("조회 12,000", 12000)]
)
def test_parse_views(text: str, expected: int) -> None:
    assert parse_views(text) == expected


@pytest.mark.parametrize(
    ("href", "onclick", "expected"),
    [
        ("/kfs/bid/view.do?nttId=123456&pageIndex=1", None, "123456"),
        ("/bbs/view.do?bbsSn=77", None, "77"),
        ("/notice/read?seq=9", None, "9"),
        ("#", "fn_egov_inqire_notice('123'); return false;", "123"),
        ("javascript:fn_view('456')", None, "456"),
        ("javascript:void(0)", None, None),
    ],
)
def test_id_from_link(href: str, onclick: str | None, expected: str | None) -> None:
    assert id_from_link(href, onclick) == expected


def test_detail_url_for_javascript_only_rows() -> None:
    assert (
        detail_url_for("https://a.go.kr/kfs/bid/list.do?pageIndex=3", "9") == "https://a.go.kr/kfs/bid/view.do?nttId=9"
    )


def test_detect_table_finds_notice_headers() -> None:
    html = (
        "<table><tr><td>menu</td></tr></table>"
        '<table class="tbl_list"><thead><tr><th>No</th><th>Title</th><th>Department</th><th>Date</th>'
        "<th>Hits</th></tr></thead><tbody><tr><td>3</td><td><a href='/notice/view?seq=31'>Forest road works</a></td>"
        "<td>Planning</td><td>2026-11-20</td><td>1,000</td></tr></tbody></table>"
    )
    selectors = detect_table(html)

    assert selectors["row"] == "table.tbl_list tbody tr"
    page = SelectorParser(selectors).parse_list(html, "https://intl.example/notice/list")
    assert [(n.external_id, n.title, n.department, n.views) for n in page.notices] == [
        ("31", "Forest road works", "Planning", 1000)
    ]


def test_detect_table_explains_failure() -> None:
    with pytest.raises(LayoutNotDetected, match="no table has notice headers"):
        detect_table("<table><thead><tr><th>이름</th><th>전화</th></tr></thead></table>")
    with pytest.raises(LayoutNotDetected, match="no <table>"):
        detect_table("<ul><li>a</li></ul>")


def test_content_hash_ignores_views() -> None:
    notice = Notice("1", "제목", "부서", dt.date(2026, 11, 20), 1, "http://x/1")
    assert notice.content_hash == Notice("1", "제목", "부서", dt.date(2026, 11, 20), 999, "http://x/1").content_hash
    assert (
        notice.content_hash != Notice("1", "제목 (정정)", "부서", dt.date(2026, 11, 20), 1, "http://x/1").content_hash
    )


def test_detail_text_reads_paragraphs_and_tables_in_order_without_counters() -> None:
    from forest.crawler.parse import detail_text

    html = (
        "<html><body><nav>메뉴 로그인</nav><div id=content><table class=board_view>"
        "<tr><th>제목</th><td>숲가꾸기</td></tr><tr><th>조회수</th><td class=views>12</td></tr></table>"
        "<div class=view_content><p>1.  공고\u00a0개요\u200b</p><script>var x = 1;</script>"
        "<p>가. 추정가격: 금1,474,567,273원<br>(부가가치세 별도)</p>"
        "<table><tr><th>입찰(투찰)마감일시</th><td>2026/12/03 10:00</td><th>개찰일시</th><td>11:00</td></tr>"
        "<tr><th>구분</th><td>정정 전</td><td>정정 후</td></tr></table>"
        "<table><thead><tr><th>공고번호</th><th>추정가격</th></tr></thead>"
        "<tbody><tr><td>2026-1</td><td>1,000원</td></tr></tbody></table></div></div></body></html>"
    )
    assert detail_text(html).split("\n") == [
        "1. 공고 개요", "가. 추정가격: 금1,474,567,273원", "(부가가치세 별도)",
        "입찰(투찰)마감일시\t2026/12/03 10:00", "개찰일시\t11:00", "구분\t정정 전\t정정 후",
        "공고번호\t2026-1", "추정가격\t1,000원",
    ]
    # A selector picks the element; the view counter never enters the text, so a views tick is no edit.
    whole = detail_text(html, "#content")
    assert whole.startswith("제목\t숲가꾸기\n1. 공고 개요") and "12" not in whole.split("\n")[1]
    assert "메뉴" not in detail_text(html, "body") and "var x" not in whole


def test_detail_text_survives_deep_nesting_and_nul() -> None:
    from forest.crawler.parse import detail_text

    html = "<div>" * 5000 + "깊은\x00 본문" + "</div>" * 5000
    assert detail_text(html) == "깊은 본문"
