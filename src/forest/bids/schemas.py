"""Bid schemas as the API shows them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from forest.bids.filters import BidFilters
from forest.pagination import ListQuery


def _money(value: Decimal) -> str:
    # Plain digits, no exponent and no trailing zeros: 1474567273, 120000.5.
    text = format(value.normalize(), "f")
    return text


Money = Annotated[Decimal, PlainSerializer(_money, return_type=str, when_used="json")]


class Attachment(BaseModel):
    """A file attached to a notice."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    url: str


class BidRead(BaseModel):
    """A crawled notice: dates are `YYYY-MM-DD`, timestamps RFC 3339 in UTC."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    external_id: str
    title: str
    department: str
    views: int
    post_date: dt.date
    url: str
    attachments: list[Attachment]
    first_seen_at: dt.datetime
    updated_at: dt.datetime
    closes_at: dt.datetime | None = Field(None, description="When bids close (입찰마감), if the notice says.")
    amount: Money | None = Field(None, description="The notice's amount as a decimal string, e.g. \"1474567273\".")
    amount_kind: str | None = Field(
        None, description="What the amount is: estimated_price, base_amount, estimated_total or budget.")
    currency: str | None = Field(None, description="ISO 4217 code of the amount, e.g. KRW.")
    category: str | None = Field(None, description="works, goods, services or sale.")

    @staticmethod
    def json_item(row: Mapping[str, Any]) -> dict[str, Any]:
        """The list item of a row, as this model would dump it, in one pass (the list body,
        `forest.pagination.page_body`): the amount as its decimal string, each attachment's name and url."""
        amount = row["amount"]
        return {"id": row["id"], "source_id": row["source_id"], "external_id": row["external_id"],
                "title": row["title"], "department": row["department"], "views": row["views"],
                "post_date": row["post_date"], "url": row["url"],
                "attachments": [{"name": a["name"], "url": a["url"]} for a in row["attachments"]],
                "first_seen_at": row["first_seen_at"], "updated_at": row["updated_at"], "closes_at": row["closes_at"],
                "amount": None if amount is None else _money(amount), "amount_kind": row["amount_kind"],
                "currency": row["currency"], "category": row["category"]}


class Evidence(BaseModel):
    """Where in the body a fact was read: `body[start:end] == text`."""

    start: int
    end: int
    text: str


class Fact(BaseModel):
    """One extracted fact: its value (JSON: timestamps RFC 3339, amounts decimal strings) and its evidence."""

    value: Any
    evidence: Evidence | None


class BidDetailRead(BidRead):
    """A notice with its body and every fact extracted from it (null where the body does not say)."""

    body: str | None = Field(description="The notice body as clean text; null when no detail page was read.")
    facts: dict[str, Fact] = Field(description="notice_no, closes_at, opens_at, amount, amount_kind, currency, "
                                               "vat_included, contract_method, bid_method, region_limit, "
                                               "procuring_entity, demand_entity, category.")


class BidListQuery(ListQuery, BidFilters):
    """The query string of `GET /bids`: page parameters plus the bid filters, validated in one pass."""

    def filters(self) -> BidFilters:
        """The filter part (already validated)."""
        return BidFilters.model_construct(**{name: getattr(self, name) for name in BidFilters.model_fields})
