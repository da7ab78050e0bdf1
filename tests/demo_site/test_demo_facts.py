"""The demo board writes notices like real agencies and knows their true facts; extract() reads them all back."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from selectolax.parser import HTMLParser
from starlette.testclient import TestClient

from forest.crawler.facts import TenderFacts, extract
from forest.demo_site.app import create_demo_app
from forest.demo_site.board import Board
from forest.demo_site.templates import egov_view


def detail_text(html: str) -> str:
    """The notice body of a detail page as clean text: paragraphs, and table rows as 'key<TAB>value' lines.

    A minimal local stand-in for forest.crawler.parse.detail_text until that exists on this branch.
    """
    content = HTMLParser(html).css_first("div.view_content")
    assert content is not None
    lines: list[str] = []
    for node in content.iter():
        if node.tag == "p":
            lines.append(" ".join(node.text().split()))
        elif node.tag == "table":
            for tr in node.css("tr"):
                lines.append("\t".join(" ".join(cell.text().split()) for cell in tr.iter()))
    return "\n".join(lines)


def _mismatches(board: Board) -> list[tuple[int, dict[str, object], dict[str, object]]]:
    bad = []
    for notice in [*board.notices, *board.pinned]:
        got = extract(detail_text(egov_view(notice, prefix="/kfs/bid")), posted_on=notice.post_date)
        if got.without_evidence() != notice.facts.without_evidence():
            bad.append((notice.ntt_id, got.without_evidence(), notice.facts.without_evidence()))
    return bad


def test_every_notice_of_a_5000_board_extracts_to_its_truth() -> None:
    board = Board(notices=5000, seed=3)
    assert _mismatches(board)[:3] == []


def test_board_writes_every_style_and_form() -> None:
    board = Board(notices=5000, seed=3)
    writings = [n.writing for n in board.notices if n.writing is not None]
    assert Counter(w.style for w in writings).keys() == {"numbered", "koneps", "prose"}
    assert {w.amount_form for w in writings} == {"digits", "geum", "hangul", "eokman", "eok"}
    assert {w.date_form for w in writings} == {"dots", "slash", "iso", "korean", "ampm", "yearless"}
    assert any(w.question_trap for w in writings) and any(w.previous_trap for w in writings)
    facts = [n.facts for n in board.notices]
    assert sum(f.amount is None for f in facts) > 100, "some notices state no amount"
    assert {f.amount_kind for f in facts} == {None, "estimated_price", "base_amount", "estimated_total", "budget"}
    assert {f.category for f in facts} >= {"works", "goods", "services", "sale"}
    assert sum(f.region_limit is not None for f in facts) > 100
    bodies = "\n".join(n.body for n in board.notices)
    for form in ("금일", "억 ", "￦", "오전", "오후", "(목)", "년 ", "개찰일시\t", "입찰(투찰)마감일시\t", "질의 마감"):
        assert form in bodies, form


def test_corrections_move_the_deadline_and_the_page_says_so() -> None:
    board = Board(notices=300, seed=5)
    board.edit_notices(10)
    for notice in board.notices[:60]:
        before = notice.facts
        after = board.correct_deadline(notice.ntt_id, days=7)
        assert before.closes_at is not None and after.facts.closes_at == before.closes_at + dt.timedelta(days=7)
        assert after.title.endswith("(정정)")
        assert "정정 전" in after.body
        text = detail_text(egov_view(after, prefix="/kfs/bid"))
        assert extract(text, posted_on=after.post_date).closes_at == after.facts.closes_at
    assert _mismatches(board) == []


def test_demo_api_exposes_facts_and_issues_corrections() -> None:
    client = TestClient(create_demo_app(notices=40, seed=2))
    notices = client.get("/_demo/notices").json()["notices"]
    assert len(notices) >= 40
    first = notices[0]
    assert set(first["facts"]) == set(TenderFacts().to_json()) - {"evidence"}
    assert TenderFacts.from_json(first["facts"]).closes_at is not None
    moved = client.post("/_demo/corrections", params={"ntt_id": first["ntt_id"], "days": 3})
    assert moved.status_code == 200
    new_closes = dt.datetime.fromisoformat(moved.json()["facts"]["closes_at"])
    assert new_closes - dt.datetime.fromisoformat(first["facts"]["closes_at"]) == dt.timedelta(days=3)
    page = client.get("/kfs/bid/view.do", params={"nttId": first["ntt_id"]}).text
    assert extract(detail_text(page), posted_on=dt.date.fromisoformat(first["post_date"])).closes_at == new_closes
    again = client.get("/_demo/notices").json()["notices"][0]
    assert again["facts"]["closes_at"] == new_closes.isoformat()
    assert client.post("/_demo/corrections", params={"ntt_id": 1, "days": 3}).status_code == 404
    assert client.post("/_demo/corrections", params={"ntt_id": first["ntt_id"], "days": 0}).status_code == 422
    assert client.post("/_demo/corrections", params={"ntt_id": "x"}).status_code == 422
    pinned = next(n for n in notices if n["pinned"])
    assert all(v is None for v in pinned["facts"].values())
    assert client.post("/_demo/corrections", params={"ntt_id": pinned["ntt_id"]}).status_code == 422
