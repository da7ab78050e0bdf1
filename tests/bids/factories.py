"""Small factories for bid tests: a source and bids with many equal post_dates and views."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from forest.bids.models import Bid
from forest.database import Database
from forest.sources.models import Source

DEPARTMENTS = ["산림경영과", "산불방지과", "목재산업과", "산림자원과", "운영지원과"]
TITLES = [
    "숲가꾸기 사업 입찰 공고", "산불 감시카메라 구매 100% 국산", "임도_개설 공사", "사방댐 설치 용역 재공고",
    "O'Brien's \"quoted\" 용역", r"C:\path\to 백슬래시 공고", "'; DROP TABLE bid; -- 공고", "50%_할인 목재 펠릿",
    "휴양림 시설 보수 %s {0}", "Forest Drone 입찰",
]
BASE_DATE = dt.date(2026, 11, 20)
# Deadlines are spread around the time the test runs, so `open` and `closes_within_days` have both sides.
FACTS_EPOCH = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class BidRow:
    """The columns a test compares against the API."""

    id: int
    source_id: int
    title: str
    department: str
    views: int
    post_date: dt.date
    closes_at: dt.datetime | None = None
    amount: Decimal | None = None
    category: str | None = None
    contract_method: str | None = None


async def make_source(db: Database, name: str = "Test board") -> int:
    """Create a source and return its id."""
    async with db.sessionmaker() as session:
        source = Source(name=name, start_url=f"https://board.example.kr/{name.replace(' ', '-')}")
        session.add(source)
        await session.commit()
        return source.id


def bid_values(i: int, source_id: int, **overrides: Any) -> dict[str, Any]:
    """Column values of bid number `i`: 8 distinct post_dates, 6 distinct views, 5 departments."""
    now = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)
    values: dict[str, Any] = {
        "source_id": source_id, "external_id": f"ext-{source_id}-{i}", "title": f"{TITLES[i % len(TITLES)]} #{i}",
        "department": DEPARTMENTS[i % len(DEPARTMENTS)], "views": [0, 5, 5, 120, 1000, 2500][(i * 7) % 6],
        "post_date": BASE_DATE - dt.timedelta(days=(i * 3) % 8), "url": f"https://board.example.kr/n/{i}",
        "attachments": [{"name": f"공고문{i}.hwp", "url": f"https://board.example.kr/f/{i}"}] if i % 3 == 0 else [],
        "content_hash": f"{i:064d}", "first_seen_at": now, "updated_at": now,
        # Tender facts with ties and gaps: a quarter have no deadline, a fifth no amount. Deadlines fall
        # on whole hours around the moment the rows are made (so some are past), five at each.
        "closes_at": None if i % 4 == 0 else FACTS_EPOCH + dt.timedelta(hours=(i * 5) % 37 - 12),
        "amount": None if i % 5 == 0 else Decimal((i * 7) % 11) * Decimal("12500000.50"),
        "amount_kind": None if i % 5 == 0 else "estimated_price",
        "currency": None if i % 5 == 0 else "KRW",
        "category": [None, "works", "goods", "services", "sale"][i % 5],
        "contract_method": ["일반경쟁", "제한경쟁", None][i % 3],
    }
    values.update(overrides)
    return values


_counter = itertools.count(10_000)


async def make_bids(db: Database, n: int, *, source_ids: list[int] | None = None, **overrides: Any) -> list[BidRow]:
    """Insert `n` bids spread over the sources and return them as rows."""
    if source_ids is None:
        source_ids = [await make_source(db, "Board A"), await make_source(db, "Board B")]
    values = []
    for i in range(n):
        row = bid_values(i, source_ids[i % len(source_ids)], **overrides)
        row["external_id"] = f"{row['external_id']}-{next(_counter)}"
        values.append(row)
    async with db.sessionmaker() as session:
        stmt = insert(Bid).returning(Bid.id, sort_by_parameter_order=True)
        ids = (await session.scalars(stmt, values)).all()
        await session.commit()
    return [BidRow(id=bid_id, source_id=v["source_id"], title=v["title"], department=v["department"],
                   views=v["views"], post_date=v["post_date"], closes_at=v["closes_at"], amount=v["amount"],
                   category=v["category"], contract_method=v["contract_method"])
            for bid_id, v in zip(ids, values, strict=True)]


SORT_KEYS = {
    "post_date": lambda b: (b.post_date, b.id),
    "views": lambda b: (b.views, b.id),
    "id": lambda b: (b.id,),
}


def expected_order(rows: list[BidRow], sort: str) -> list[int]:
    """Ids in the order the API must list them for `sort`."""
    key = SORT_KEYS[sort.lstrip("-")]
    return [b.id for b in sorted(rows, key=key, reverse=sort.startswith("-"))]
