"""Plan regression tests: the statements the services run keep their index plans on a seeded PostgreSQL.

Each statement comes from the service code itself (`bids.service.page_query`, the routers' keysets with the
services' list queries through `pagination.page_statement`, `analytics.queries`), so a change to a query,
a sort or an index that loses its plan fails here with the plan printed. docs/query-plans.md and
migrations/README.md ("0002") explain the plans these tests hold on to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from forest.alerts import service as alerts
from forest.alerts import webhooks
from forest.alerts.service import ALERT_KEYSET, DELIVERY_KEYSET
from forest.analytics import service as analytics
from forest.bids import service as bids
from forest.bids.schemas import BidListQuery
from forest.crawls import service as crawls
from forest.crawls.service import EVENT_KEYSET, JOB_KEYSET
from forest.database import Database
from forest.pagination import CursorSigner, Keyset, PageParams, PagePlan, page_statement, plan_page
from forest.sources import service as sources
from forest.sources.schemas import SourceFilters
from forest.sources.service import SOURCE_KEYSET
from forest.users import service as users
from forest.users.models import User
from forest.users.service import USER_KEYSET
from tests.plans.checker import Expect, Explain, assert_plan
from tests.plans.conftest import TODAY

SIGNER = CursorSigner([b"plan-tests"])
NOW = dt.datetime.combine(TODAY, dt.time(12), tzinfo=dt.UTC)
DEEP_DATE = TODAY - dt.timedelta(days=500)  # a seek position two thirds down the default list
BIG, SMALL = "산림경영과", "운영지원과"  # the most and the least frequent department of the seeder


# A normal user: the page statement then also carries the visibility rule (shared and own sources).
VIEWER = User(id=1, email="viewer@example.com", password_hash="-", is_admin=False)


async def explain_bids(conn: AsyncConnection, query: BidListQuery, seek: tuple[Any, ...] | None = None,
                       backwards: bool = False, user: User = VIEWER) -> tuple[Any, str]:
    """EXPLAIN of the page statement `bids.service.list` runs on PostgreSQL for this query string."""
    plan = plan_page(bids.BID_KEYSET, query.page_params(), query.filters().cursor_binding(), SIGNER)
    if seek is not None:
        plan = dataclasses.replace(plan, seek=seek, backwards=backwards)
    sql, args = bids.page_query(conn.dialect, plan, query.filters(), user)
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    return await raw.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args), f"{sql}  -- {args}"


@dataclasses.dataclass(frozen=True)
class BidShape:
    """One list request: its query string, the index(es) that must serve it, and a seek position at depth."""

    params: dict[str, Any]
    index: tuple[str, ...]
    keyset: bool = True  # rows in index order: no Sort at any depth
    presorted_ok: bool = False  # an Incremental Sort of one day's rows is acceptable
    seek: tuple[Any, ...] | None = None  # default: two thirds down the list in its sort

    def deep(self) -> tuple[Any, ...]:
        if self.seek is not None:
            return self.seek
        sort = self.params.get("sort", bids.BID_KEYSET.default).lstrip("-")
        return {"post_date": (DEEP_DATE, 20_000), "views": (150, 20_000), "id": (20_000,)}[sort]

    def __str__(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.params.items()) or "default"


DAY = dt.timedelta(days=1)
DATE_INDEXES = ("ix_bid_post_date_id", "ix_bid_post_date_covering")
BID_SHAPES = [
    BidShape({}, ("ix_bid_post_date_id",)),
    BidShape({"sort": "post_date"}, ("ix_bid_post_date_id",)),
    BidShape({"sort": "-views"}, ("ix_bid_views_id",)),
    BidShape({"sort": "views"}, ("ix_bid_views_id",)),
    BidShape({"sort": "id"}, ("pk_bid",)),
    BidShape({"sort": "-id"}, ("pk_bid",)),
    BidShape({"department": [SMALL]}, ("ix_bid_department_post_date_id",)),
    BidShape({"department": [BIG]}, ("ix_bid_department_post_date_id",)),
    BidShape({"source_id": [1]}, ("ix_bid_source_id_post_date_id",)),
    # Several values: walk the date index and filter (common values), or read each value's range and sort
    # the few rows (rare ones); either way an index, never the table.
    BidShape({"department": [BIG, SMALL]}, ("ix_bid_post_date_id", "ix_bid_department_post_date_id"), keyset=False),
    BidShape({"source_id": [1, 2]}, ("ix_bid_post_date_id", "ix_bid_source_id_post_date_id"), keyset=False),
    # A date range bounds the scan at both ends once a page seeks into it: the planner may read it from the
    # smaller covering index and sort each day's rows by id (one day past the page at most).
    BidShape({"posted_from": TODAY - 30 * DAY}, DATE_INDEXES, presorted_ok=True, seek=(TODAY - 15 * DAY, 20_000)),
    BidShape({"posted_from": TODAY - 400 * DAY, "posted_to": TODAY - 300 * DAY}, DATE_INDEXES, presorted_ok=True,
             seek=(TODAY - 350 * DAY, 20_000)),
    BidShape({"views_gte": 100}, ("ix_bid_post_date_id",)),
    # Selective (a few hundred rows above 5,000 views): the range is read from the index, and the rows of a
    # page seeking upwards may be sorted.
    BidShape({"views_gte": 5000, "sort": "-views"}, ("ix_bid_views_id",), keyset=False, seek=(6000, 20_000)),
    # `q` searches title and body (bid_detail): the planner either walks the sort's index probing each bid's
    # detail row (a common word) or reads the bigram index's matches and sorts those few (a rare word).
    BidShape({"q": "재선충"}, ("ix_bid_post_date_id", "ix_bid_detail_search_bigram"), keyset=False),
    # A phrase that matches almost nothing: the bigram index finds the few rows, which are then sorted.
    BidShape({"q": "치유의 숲 운영 사전규격 (제9차)"}, ("ix_bid_detail_search_bigram",), keyset=False),
]


@pytest.mark.parametrize("shape", BID_SHAPES, ids=str)
async def test_plan_bid_list_first_page_and_deep_seek(plans_db: Database, shape: BidShape) -> None:
    query = BidListQuery(**shape.params)
    expect = Expect(index=shape.index, keyset=shape.keyset, presorted_ok=shape.presorted_ok)
    async with plans_db.engine.connect() as conn:
        for seek, backwards, what in ((None, False, "first page"), (shape.deep(), False, "deep page"),
                                      (shape.deep(), True, "previous page at depth")):
            raw, sql = await explain_bids(conn, query, seek, backwards)
            assert_plan(raw, expect, what=f"GET /bids?{shape} ({what})", sql=sql)


# The first step of a `q` page (bids/search.py): the sort's index walked in order, each row's body read by key,
# never a Sort, a join reading every body, or a hashed subplan; the same at depth and backwards.
WALK_SHAPES = [
    BidShape({"q": "재선충"}, ("ix_bid_post_date_id",)),
    BidShape({"q": "재선충", "sort": "-views"}, ("ix_bid_views_id",)),
    BidShape({"q": "재선충", "department": [BIG]}, ("ix_bid_department_post_date_id",)),
]


@pytest.mark.parametrize("shape", WALK_SHAPES, ids=str)
async def test_plan_q_walk_reads_the_sort_index_in_order(plans_db: Database, shape: BidShape) -> None:
    query = BidListQuery(**shape.params)
    plan = plan_page(bids.BID_KEYSET, query.page_params(), query.filters().cursor_binding(), SIGNER)
    async with plans_db.engine.connect() as conn:
        raw_conn = (await conn.get_raw_connection()).driver_connection
        assert raw_conn is not None
        for seek, backwards, what in ((None, False, "first page"), (shape.deep(), False, "deep page"),
                                      (shape.deep(), True, "previous page at depth")):
            at = dataclasses.replace(plan, seek=seek, backwards=backwards)
            sql, args = bids.page_query(conn.dialect, at, query.filters(), VIEWER, walk_budget=2100)
            raw = await raw_conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
            assert_plan(raw, Expect(index=shape.index, keyset=True, no_seq_scan=("bid", "bid_detail")),
                        what=f"walk of GET /bids?{shape} ({what})", sql=f"{sql}  -- {args}")
            text_plan = json.dumps(raw, ensure_ascii=False)
            assert '"Hash' not in text_plan and "pk_bid_detail" in text_plan, text_plan


# The amounts need columns the covering index does not carry: they read the post-date range by index.
ANALYTICS_INDEXES = {"amounts": ("ix_bid_post_date_covering", "ix_bid_post_date_id")}


@pytest.mark.parametrize("viewer", [None, 7], ids=["admin", "user"])
@pytest.mark.parametrize("name", sorted(analytics.PLANS))
async def test_plan_analytics_reads_the_covering_index(plans_db: Database, name: str, viewer: int | None) -> None:
    stmt = analytics.PLANS[name](analytics.AnalyticsArgs(viewer=viewer), NOW, "postgresql")
    async with plans_db.engine.connect() as conn:
        raw = (await conn.execute(Explain(stmt))).scalar_one()
    expect = Expect(index=ANALYTICS_INDEXES.get(name, ("ix_bid_post_date_covering",)))
    assert_plan(raw, expect, what=f"analytics {name}", sql=str(stmt))


def _plan(keyset: Keyset, sort: str | None, seek: tuple[Any, ...] | None) -> PagePlan:
    plan = plan_page(keyset, PageParams(limit=20, cursor=None, sort=sort, count="none"), {}, SIGNER)
    return dataclasses.replace(plan, seek=seek) if seek is not None else plan


_USER = User(id=7, email="user7@example.com", password_hash="x", is_admin=False)
_ADMIN = User(id=1, email="admin@example.com", password_hash="x", is_admin=True)
_JOB = uuid.UUID(int=7)
_MID = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)

# (what, base statement from the service, keyset of the router, sort, seek at depth, the indexes that may serve it).
# Sources by name: the name is unique, so the Incremental Sort by (name, id) sorts groups of one row.
# A user's alerts: walking the primary key backwards and skipping other users' rows is the planner's choice
# while the user owns a good share of them; the (user_id) index otherwise.
OTHER_LISTS: list[tuple[str, Any, Keyset, str | None, tuple[Any, ...], tuple[str, ...]]] = [
    ("GET /sources", sources.list_query(user=_USER, filters=SourceFilters()), SOURCE_KEYSET, None, (2500,), ("pk_source",)),
    ("GET /sources?sort=-id", sources.list_query(user=_USER, filters=SourceFilters()), SOURCE_KEYSET, "-id", (2500,),
     ("pk_source",)),
    ("GET /sources?sort=name", sources.list_query(user=_USER, filters=SourceFilters()), SOURCE_KEYSET, "name",
     ("board 2500", 2500), ("uq_source_name",)),
    ("GET /sources?enabled=true", sources.list_query(user=_USER, filters=SourceFilters(enabled=True)), SOURCE_KEYSET, None,
     (2500,), ("pk_source",)),
    ("GET /crawls", crawls.list_query(user=_USER, states=[], source_ids=[]), JOB_KEYSET, None, (_MID, _JOB),
     ("ix_crawl_job_user_id_created_at",)),
    ("GET /crawls (admin)", crawls.list_query(user=_ADMIN, states=[], source_ids=[]), JOB_KEYSET, None, (_MID, _JOB),
     ("ix_crawl_job_created_at_id",)),
    ("GET /crawls?state=failed", crawls.list_query(user=_USER, states=["failed"], source_ids=[]), JOB_KEYSET, None,
     (_MID, _JOB), ("ix_crawl_job_user_id_created_at",)),
    ("GET /crawls/{id}/events", crawls.events_query(job_id=_JOB, after=0), EVENT_KEYSET, None, (1,),
     ("ix_job_event_job_id_id",)),
    ("GET /alerts", alerts.list_query(user=_USER), ALERT_KEYSET, None, (10_000,), ("ix_alert_user_id", "pk_alert")),
    ("GET /alerts/{id}/deliveries", webhooks.list_query(alert_id=7), DELIVERY_KEYSET, None, (_MID, _JOB),
     ("ix_webhook_delivery_alert_id_created_at",)),
    ("GET /users", users.list_query(), USER_KEYSET, None, (1000,), ("pk_user",)),
]


@pytest.mark.parametrize("case", OTHER_LISTS, ids=[c[0] for c in OTHER_LISTS])
async def test_plan_other_lists_use_their_index(plans_db: Database, case: tuple[Any, ...]) -> None:
    what, base, keyset, sort, seek, index = case
    async with plans_db.engine.connect() as conn:
        for at, plan in (("first page", _plan(keyset, sort, None)), ("deep page", _plan(keyset, sort, seek))):
            stmt = page_statement(base.bound(), plan)
            raw = (await conn.execute(Explain(stmt))).scalar_one()
            assert_plan(raw, Expect(index=index, keyset=True, presorted_ok=sort == "name",
                                    no_seq_scan=(stmt.get_final_froms()[0].name,)),
                        what=f"{what} ({at})", sql=str(stmt))


async def test_plan_checker_reports_a_dropped_index(plans_db: Database) -> None:
    """The guard can fail: without ix_bid_post_date_id the default list sorts, and the message says so."""
    query = BidListQuery()
    async with plans_db.engine.connect() as conn:
        trans = await conn.begin()
        try:
            await conn.execute(text("DROP INDEX ix_bid_post_date_id"))
            raw, sql = await explain_bids(conn, query)
            with pytest.raises(AssertionError) as failure:
                assert_plan(raw, Expect(index=("ix_bid_post_date_id",), keyset=True), what="GET /bids", sql=sql)
        finally:
            await trans.rollback()
        raw, sql = await explain_bids(conn, query)
    message = str(failure.value)
    assert message.startswith("plan of GET /bids breaks: expected a scan using ix_bid_post_date_id; the plan uses")
    assert "Sort" in message and "above the keyset scan" in message
    assert "\nplan:\n-> Limit" in message and "ORDER BY bid.post_date DESC, bid.id DESC" in message
    assert_plan(raw, Expect(index=("ix_bid_post_date_id",), keyset=True), what="GET /bids", sql=sql)  # back after rollback
