"""The local demo board (`forest.demo_site`): an eGovFrame board, plus its custom-layout twin."""

from __future__ import annotations

from forest.crawler.presets.egov import EgovBoardParser

DEMO_LIST_PATH = "/kfs/bid/list.do"
DEMO_EUCKR_LIST_PATH = "/euckr/bid/list.do"
DEMO_CUSTOM_LIST_PATH = "/custom/bids"
# Selectors for the demo's `/custom/bids` layout: JavaScript links and a JavaScript pager.
DEMO_CUSTOM_SELECTORS: dict[str, str] = {
    "row": "ul.bid-list li.bid-item",
    "external_id": r"a.bid-title::attr(onclick) re:goDetail\('(\w+)'\)",
    "title": "a.bid-title",
    "department": "span.org",
    "post_date": "span.reg-date",
    "views": "em.hit",
    "detail_link": "/custom/bid?id={external_id}",
    "next_page": "a.btn-next::attr(href)",
    "next_page_url": "/custom/bids?page={page}",
    "attachments": "a.file",
}


def demo_board() -> EgovBoardParser:
    """The demo board's parser: the stock eGovFrame one."""
    return EgovBoardParser()
