"""Built-in layouts written as source definitions, so users can copy one and edit it.

`GET /api/v1/sources/presets` serves them; docs/crawler.md explains every key.
"""

from __future__ import annotations

from typing import Any

# The stock eGovFrame board (번호·제목·담당부서·작성일·첨부·조회수), paged by links, detail by link.
EGOV_BOARD: dict[str, Any] = {
    "list": {
        "rows": "table.board_list tbody tr",
        "fields": {
            "external_id": r"td.subject a::attr(href) re:nttId=(\w+) || td.subject a js:0",
            "title": "td.subject a || td.subject",
            "department": "td:nth-child(3)",
            "post_date": "td:nth-child(4)",
            "views": "td:nth-child(6)",
            "detail_link": "td.subject a::attr(href)",
        },
        "pinned": "tr.notice, .ico_notice",
    },
    "detail": {
        "fields": {
            "title": "td.title",
            "department": "td.dept",
            "post_date": "td.date",
            "views": "td.views",
            "attachments": "td.files a",
        },
        "attachment_url": "/cmm/fms/FileDown.do?atchFileId={0}&fileSn={1}",
    },
}

# eGovFrame paged by form POST: fn_egov_link_page(N) posts pageIndex, fn_egov_inqire_notice('id', 'bbsId')
# posts nttId and bbsId, downloads are fn_egov_downFile('FILE_…', '0'); the session is a JSESSIONID cookie.
EGOV_FORM_POST: dict[str, Any] = {
    "list": {
        "request": {"method": "POST", "form": {"bbsId": "BBSMSTR_000000000123"}, "page_field": "pageIndex"},
        "rows": "table.board_list tbody tr",
        "fields": {
            "external_id": "td.subject a js:fn_egov_inqire_notice:0",
            "bbs_id": "td.subject a js:fn_egov_inqire_notice:1",
            "title": "td.subject a",
            "department": "td.dept",
            "post_date": "td.date",
            "views": "td.hit",
        },
        "pinned": "tr.notice",
        "next": "div.paging a.next",
    },
    "detail": {
        "request": {"method": "POST", "url": "view.do", "form": {"nttId": "{id}", "bbsId": "{bbs_id}"}},
        "fields": {
            "title": "td.title",
            "department": "td.dept",
            "post_date": "td.date",
            "views": "td.views",
            "attachments": "td.files a",
        },
        "attachment_url": "/cmm/fms/FileDown.do?atchFileId={0}&fileSn={1}",
    },
    "session": {"lost_text": "세션이 만료되었습니다"},
}

# An eGovFrame board that lists by XHR: /bbs/selectList.json?page=N → {"resultList": [...], "paginationInfo": {...}}.
EGOV_JSON_LIST: dict[str, Any] = {
    "list": {
        "format": "json",
        "request": {"url": "selectList.json?page={page}"},
        "rows": "resultList",
        "fields": {
            "external_id": "nttId",
            "title": "nttSj",
            "department": "deptNm",
            "post_date": "frstRegistPnttm",
            "views": "inqireCo",
        },
        "pinned": "noticeAt == 'Y'",
        "last_page": "paginationInfo.totalPageCount",
    },
    "detail": {
        "request": {"url": "view/{id}"},
        "fields": {"title": ".subject", "department": ".dept", "post_date": ".date", "views": ".hit",
                   "attachments": "ul.files a"},
    },
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "egov_board": "eGovFrame notice board paged by links (table.board_list, 번호·제목·담당부서·작성일·첨부·조회수)",
    "egov_form_post": "eGovFrame board paged by form POST (fn_egov_link_page / fn_egov_inqire_notice / "
                      "fn_egov_downFile) behind a JSESSIONID session; set bbsId to the board's",
    "egov_json_list": "eGovFrame board listing by XHR (selectList.json → resultList, paginationInfo)",
}
PRESET_DEFINITIONS: dict[str, dict[str, Any]] = {
    "egov_board": EGOV_BOARD,
    "egov_form_post": EGOV_FORM_POST,
    "egov_json_list": EGOV_JSON_LIST,
}
