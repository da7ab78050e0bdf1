"""List bodies written straight from rows are the bytes the documented `Page[schema]` would serialise."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asyncpg.pgproto import pgproto
from pydantic import BaseModel, TypeAdapter, model_validator

from forest.alerts.schemas import AlertRead, WebhookDeliveryRead
from forest.bids.filters import BidFilters
from forest.bids.schemas import BidRead
from forest.crawls.schemas import CrawlJobRead, JobEventRead
from forest.database import Database
from forest.pagination import CountInfo, Page, PageResult, page_body
from forest.pagination.body import _item_builder
from forest.sources.schemas import SourceRead
from forest.users.schemas import UserRead
from tests.bids.factories import make_bids

UTC = dt.UTC
SEOUL = dt.timezone(dt.timedelta(hours=9))


def pydantic_bytes(schema: type[BaseModel], result: PageResult[Any]) -> bytes:
    adapter: TypeAdapter[Any] = TypeAdapter(Page[schema])  # type: ignore[valid-type]
    return adapter.dump_json(adapter.validate_python({
        "items": [dict(row) for row in result.items], "next_cursor": result.next_cursor,
        "prev_cursor": result.prev_cursor, "has_more": result.has_more, "count": result.count}))


ALL_FILTERS = BidFilters.model_validate({
    "department": ["산불방지과", "Forest Ops"], "source_id": [1, 2], "views_gte": 1, "views_lte": 9,
    "posted_from": "2026-01-01", "posted_to": "2026-02-01", "q": "소나무", "closes_after": "2026-01-01T09:00:00+09:00",
    "closes_before": "2026-03-01T00:00:00Z", "closes_within_days": 7, "open": True, "amount_gte": "1000",
    "amount_lte": "99999999.5", "category": ["works"], "contract_method": ["limited"],
}).model_dump(mode="json", exclude_defaults=True)


def bid(i: int, **over: Any) -> dict[str, Any]:
    row = {"id": 2**40 + i, "source_id": 3, "external_id": f"R25BK{i:08d}", "title": "숲가꾸기 \"사업\" \\ \u2028 \x1f 공고",
           "department": "산불방지과", "views": 0, "post_date": dt.date(2026, 1, 31),
           "url": "https://example.org/view?id=1&x=/y",
           # jsonb hands keys back ordered by length: `url` first, and whatever else the crawler stored
           "attachments": [{"url": "https://example.org/f/1", "name": "공고문.hwp", "size": 10}],
           "first_seen_at": dt.datetime(2026, 1, 31, 0, 0, 0, 120000, tzinfo=UTC),
           "updated_at": dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC), "closes_at": None,
           "amount": None, "amount_kind": None, "currency": None, "category": None}
    row.update(over)
    return row


ROWS: dict[type[BaseModel], list[dict[str, Any]]] = {
    BidRead: [bid(0), bid(1, amount=Decimal("1474567273.00"), closes_at=dt.datetime(2026, 2, 1, 1, tzinfo=SEOUL),
                         amount_kind="base_amount", currency="KRW", category="works", attachments=[]),
              bid(2, amount=Decimal("1E+3"), views=2**31, closes_at=dt.datetime(2026, 2, 1, tzinfo=UTC)),
              bid(3, amount=Decimal("120000.50"))],
    SourceRead: [{"id": 1, "name": "산림청", "start_url": "https://example.org/", "preset": None,
                  "selectors": {"row": "table tr"}, "definition": {"list": {"rows": "tr", "n": 1.5e16}, "z": [1, None]},
                  "encoding": "euc-kr", "max_pages": 50, "schedule": "0 9 * * 1-5", "timezone": "Asia/Seoul",
                  "enabled": True, "polite": False, "delay_seconds": 1.0, "last_crawled_at": None,
                  "next_run_at": dt.datetime(2026, 1, 1, tzinfo=UTC), "owner_id": None},
                 {"id": 2, "name": "b", "start_url": "https://example.org/2", "preset": "egov", "selectors": None,
                  "definition": None, "encoding": None, "max_pages": 1, "schedule": None, "timezone": "UTC",
                  "enabled": False, "polite": True, "delay_seconds": 0.1, "last_crawled_at": None,
                  "next_run_at": None, "owner_id": 7}],
    CrawlJobRead: [{"id": pgproto.UUID("12345678-1234-5678-1234-567812345678"), "source_id": None,
                    "url": "https://example.org/", "state": "running",
                    "progress": {"pages_done": 1, "pages_total": None, "items_seen": 2, "items_new": 1,
                                 "items_updated": 0, "errors": 0},
                    "attempt": 1, "error": None, "created_at": dt.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
                    "started_at": None, "finished_at": None, "retry_of": uuid.UUID(int=5)}],
    JobEventRead: [{"id": 9, "type": "job.progress", "seq": 3, "job_id": uuid.UUID(int=1), "alert_id": None,
                    "data": {"pages_done": 1, "message": "한글 ✓"}, "at": dt.datetime(2026, 1, 1, tzinfo=UTC)}],
    UserRead: [{"id": 1, "email": "a@example.org", "is_admin": False,
                "created_at": dt.datetime(2026, 1, 1, tzinfo=UTC)}],
    AlertRead: [{"id": 1, "name": "a", "filters": {"department": ["산불방지과"]}, "webhook_url": None,
                 "webhook_secret": "s" * 32, "created_at": dt.datetime(2026, 1, 1, tzinfo=UTC)},
                # every filter set, as `alerts.service.create` stores them (the validated model, defaults left out)
                {"id": 2, "name": "모든 조건", "filters": ALL_FILTERS, "webhook_url": "https://hooks.example.org/x",
                 "webhook_secret": "t" * 32, "created_at": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=SEOUL)},
                {"id": 3, "name": "none", "filters": {}, "webhook_url": "https://hooks.example.org/y",
                 "webhook_secret": "u" * 32, "created_at": dt.datetime(2026, 1, 3, tzinfo=UTC)}],
    WebhookDeliveryRead: [{"id": uuid.UUID(int=3), "state": "succeeded", "bid_count": 2, "attempts": 1,
                           "last_status": 200, "last_error_code": None, "last_error": None,
                           "next_attempt_at": dt.datetime(2026, 1, 1, tzinfo=UTC),
                           "created_at": dt.datetime(2026, 1, 1, tzinfo=UTC), "finished_at": None},
                          {"id": uuid.UUID(int=4), "state": "pending", "bid_count": 1, "attempts": 2,
                           "last_status": 503, "last_error_code": "http_status", "last_error": "503",
                           "next_attempt_at": dt.datetime(2026, 1, 1, 0, 10, tzinfo=UTC),
                           "created_at": dt.datetime(2026, 1, 1, tzinfo=UTC), "finished_at": None}],
}


@pytest.mark.parametrize("schema", list(ROWS), ids=lambda s: s.__name__)
@pytest.mark.parametrize("count", [None, CountInfo(value=12, exact=False)], ids=["no-count", "count"])
def test_page_body_is_the_bytes_of_the_documented_page(schema: type[BaseModel], count: CountInfo | None) -> None:
    result = PageResult(items=ROWS[schema], next_cursor="abc.def", prev_cursor=None, has_more=True, count=count)
    assert page_body(result, schema) == pydantic_bytes(schema, result)


def test_a_job_list_row_gives_the_bytes_of_its_item() -> None:
    """The job list reads the progress counters as columns of their own; its body nests them as the model does."""
    item = ROWS[CrawlJobRead][0]
    row = {key: value for key, value in item.items() if key != "progress"} | item["progress"]
    result = PageResult(items=[row], next_cursor=None, prev_cursor=None, has_more=False, count=None)
    expected = PageResult(items=[item], next_cursor=None, prev_cursor=None, has_more=False, count=None)
    assert page_body(result, CrawlJobRead) == pydantic_bytes(CrawlJobRead, expected)


def test_every_list_schema_skips_pydantic() -> None:
    # Plain schemas are written field by field; the two whose validators hide values (the secret only with a
    # webhook, the next attempt only when pending) say how with `json_item`, held to pydantic's bytes above.
    for schema in (BidRead, SourceRead, CrawlJobRead, JobEventRead, UserRead, AlertRead, WebhookDeliveryRead):
        assert _item_builder(schema) is not None, schema


class Hidden(BaseModel):
    value: int

    @model_validator(mode="after")
    def _hide(self) -> Hidden:
        return self


def test_a_schema_with_validators_and_no_json_item_goes_through_pydantic() -> None:
    assert _item_builder(Hidden) is None


async def test_bid_list_answers_the_bytes_of_its_response_model(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    await make_bids(db, 25)
    r = await client.get("/api/v1/bids", params={"limit": 10, "count": "exact"}, headers=user.headers)
    assert r.status_code == 200
    adapter: TypeAdapter[Any] = TypeAdapter(Page[BidRead])
    assert r.content == adapter.dump_json(adapter.validate_json(r.content))
    assert r.json()["count"] == {"value": 25, "exact": True}


def test_a_subclass_does_not_inherit_its_parents_json_item() -> None:
    from forest.bids.schemas import BidDetailRead

    assert _item_builder(BidRead) is BidRead.json_item
    assert _item_builder(BidDetailRead) is not BidRead.json_item


@pytest.mark.parametrize(("query", "kept"), [
    (b"limit=3&department=%EC%82%B0&cursor=old.sig", "limit=3&department=%EC%82%B0&"),
    (b"cur%73or=old.sig&q=a+b", "q=a+b&"),
    (b"", ""),
    # not plain URI text (a raw `>` or quote could end the `<…>` early): decoded and encoded again
    (b'q=x>y"&cursor=c', "q=x%3Ey%22&"),
])
def test_the_link_header_repeats_the_query_without_its_cursor(query: bytes, kept: str) -> None:
    from types import SimpleNamespace

    from starlette.requests import Request

    from forest.pagination.body import link_header

    app = SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(public_url=None)))
    request = Request({"type": "http", "method": "GET", "path": "/api/v1/bids", "query_string": query,
                       "headers": [], "app": app, "root_path": "", "scheme": "http", "server": ("t", 80)})
    result = PageResult(items=[], next_cursor="n.s", prev_cursor="p.s", has_more=True, count=None)
    assert link_header(request, result) == (f'</api/v1/bids?{kept}cursor=n.s>; rel="next", '
                                            f'</api/v1/bids?{kept}cursor=p.s>; rel="prev"')
