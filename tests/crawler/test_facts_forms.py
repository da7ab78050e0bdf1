"""The project's own readers of Korean amounts and dates, form by form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from forest.crawler.facts import extract
from forest.crawler.facts.numerals import korean_amount, korean_words


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,474,567,273", 1474567273),
        ("일십사억칠천사백오십육만칠천이백칠십삼", 1474567273),
        ("14억 7,456만 7,273", 1474567273),
        ("1.47억", 147000000),
        ("5천만", 50000000),
        ("1억 5천만", 150000000),
        ("삼천만", 30000000),
        ("백만", 1000000),
        ("이십억", 2000000000),
    ],
)
def test_korean_amount_reads_every_form(text: str, value: int) -> None:
    assert korean_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["일이", "만억", "원", "", "12a"])
def test_korean_amount_refuses_what_is_not_an_amount(text: str) -> None:
    assert korean_amount(text) is None


@pytest.mark.parametrize("value", [1, 10, 11, 1000, 10001, 30_000_000, 1_474_567_273, 2_000_000_000_000])
def test_korean_words_round_trip(value: int) -> None:
    assert korean_amount(korean_words(value)) == Decimal(value)


@pytest.mark.parametrize(
    ("written", "local"),
    [
        ("2026. 12. 3.(목) 10:00", "2026-12-03 10:00"),
        ("2026/12/03 10:00", "2026-12-03 10:00"),
        ("2026-12-03 10:00", "2026-12-03 10:00"),
        ("2026년 12월 3일 10시", "2026-12-03 10:00"),
        ("2026년 12월 3일(목) 오후 2시 30분", "2026-12-03 14:30"),
        ("2026. 12. 3.(목) 오전 10:00", "2026-12-03 10:00"),
        ("2026. 12. 3.(목) 오후 12:00", "2026-12-03 12:00"),
        ("12. 3.(목) 10:00", "2026-12-03 10:00"),
        ("12월 3일(목) 15:00", "2026-12-03 15:00"),
        ("1. 5.(화) 10:00", "2027-01-05 10:00"),
    ],
)
def test_korean_deadline_forms(written: str, local: str) -> None:
    facts = extract(f"입찰서 제출 마감: {written}", posted_on=dt.date(2026, 11, 20))
    expected = dt.datetime.fromisoformat(local).replace(tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert facts.closes_at == expected
    assert facts.evidence["closes_at"].text == written


def test_yearless_date_without_post_date_is_not_read() -> None:
    assert extract("입찰서 제출 마감: 12. 3.(목) 10:00").closes_at is None


def test_date_without_time_is_not_a_deadline() -> None:
    assert extract("입찰서 제출 마감: 2026. 12. 3.(목)").closes_at is None
