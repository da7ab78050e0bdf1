"""Crawling the demo board end to end: every style's facts stored exactly; a 정정공고 is an edit."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest
from crawler_support import demo_config
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forest.alerts.models import Alert
from forest.bids.ingest import DbNoticeStore
from forest.bids.models import Bid, BidDetail
from forest.crawler.engine import crawl
from forest.crawls.models import JobEvent
from forest.crawls.runner import _AlertingStore
from forest.demo_site.testing import DemoSite, running_demo_site
from forest.events import Publisher
from forest.users.models import User

BIG_BOARD = 5000


def _truth(site: DemoSite) -> dict[str, dict[str, Any]]:
    notices = httpx.get(site.url("/_demo/notices"), timeout=30).json()["notices"]
    return {str(n["ntt_id"]): n["facts"] for n in notices}


def _stored_json(bid: Bid) -> dict[str, Any]:
    """The list columns in the truth's JSON spelling."""
    return {
        "closes_at": bid.closes_at.isoformat() if bid.closes_at is not None else None,
        "amount": format(bid.amount.normalize(), "f") if bid.amount is not None else None,
        "amount_kind": bid.amount_kind, "currency": bid.currency, "category": bid.category,
        "contract_method": bid.contract_method,
    }


@pytest.mark.parametrize("backend", ["postgres"])
async def test_crawl_of_a_5000_notice_board_stores_every_fact_exactly(
    sessionmaker: async_sessionmaker[AsyncSession], source_id: int,
) -> None:
    with running_demo_site(notices=BIG_BOARD, seed=23) as site:
        started = time.perf_counter()
        result = await crawl(demo_config(site, max_pages=10_000, concurrency=8, incremental=False),
                             DbNoticeStore(sessionmaker, source_id))
        seconds = time.perf_counter() - started
        truth = _truth(site)
    assert result.error is None and not result.errors, result.errors[:3]
    async with sessionmaker() as session:
        bids = {b.external_id: b for b in (await session.scalars(select(Bid))).all()}
        details = {d.bid_id: d for d in (await session.scalars(select(BidDetail))).all()}
    assert len(bids) >= BIG_BOARD and set(bids) == set(truth)
    wrong = []
    for external_id, facts in truth.items():
        bid = bids[external_id]
        stored = dict(details[bid.id].facts)
        stored.pop("evidence", None)
        listed = {name: facts[name] for name in _stored_json(bid)}
        if stored != facts or _stored_json(bid) != listed:
            wrong.append((external_id, facts, stored))
    assert not wrong, f"{len(wrong)} of {len(truth)} notices read wrong, e.g. {wrong[:2]}"
    # Every style and every kind of fact occurs, so 100 % means something.
    values = list(truth.values())
    assert {f["amount_kind"] for f in values} >= {"estimated_price", "base_amount", "estimated_total", "budget", None}
    assert {f["category"] for f in values} >= {"works", "goods", "services"}
    assert sum(f["closes_at"] is not None for f in values) > BIG_BOARD * 0.8
    # Evidence points into the stored body.
    for detail in list(details.values())[:500]:
        for span in detail.facts.get("evidence", {}).values():
            assert detail.body[span["start"]:span["end"]] == span["text"]
    assert seconds < 120, f"crawl took {seconds:.0f} s"


async def test_recrawl_after_a_correction_moves_closes_at_and_raises_bid_updated(
    demo: DemoSite, sessionmaker: async_sessionmaker[AsyncSession], source_id: int,
) -> None:
    async with sessionmaker() as session, session.begin():
        user = User(email="bidder@example.com", password_hash="x", is_admin=False,
                    created_at=dt.datetime.now(dt.UTC))
        session.add(user)
        await session.flush()
        session.add(Alert(user_id=user.id, name="공사 마감", filters={"category": ["works", "goods", "services"]},
                          webhook_url=None, webhook_secret="whsec_test", created_at=dt.datetime.now(dt.UTC)))
    store = _AlertingStore(sessionmaker, source_id, Publisher(None))
    config = demo_config(demo, max_pages=50)
    first = await crawl(config, store)
    assert first.error is None and first.new_ids
    truth = _truth(demo)
    target = next(k for k, f in truth.items()
                  if f["closes_at"] is not None and f["category"] in ("works", "goods", "services"))
    async with sessionmaker() as session:
        before = (await session.scalars(select(Bid).where(Bid.external_id == target))).one()
        events_before = len((await session.scalars(select(JobEvent).where(JobEvent.type == "bid.updated"))).all())
    assert before.closes_at == dt.datetime.fromisoformat(truth[target]["closes_at"])

    r = httpx.post(demo.url("/_demo/corrections"), params={"ntt_id": target, "days": 7}, timeout=10)
    assert r.status_code == 200, r.text
    moved = dt.datetime.fromisoformat(r.json()["facts"]["closes_at"])
    assert moved == before.closes_at + dt.timedelta(days=7)

    again = await crawl(config, store)
    assert again.error is None
    assert again.updated_ids == [before.id] and not again.new_ids
    async with sessionmaker() as session:
        after = (await session.scalars(select(Bid).where(Bid.external_id == target))).one()
        detail = await session.get(BidDetail, after.id)
        updated = (await session.scalars(select(JobEvent).where(JobEvent.type == "bid.updated"))).all()
    assert after.closes_at == moved and after.updated_at > before.updated_at
    assert detail is not None and detail.facts["closes_at"] == moved.isoformat()
    assert len(updated) == events_before + 1
    assert updated[-1].data["bid"]["id"] == before.id
    assert updated[-1].data["bid"]["closes_at"] == moved.isoformat()

    # A crawl that only sees views move is no edit: nothing updated, no event.
    third = await crawl(config, store)
    assert third.updated_ids == [] and third.new_ids == []
