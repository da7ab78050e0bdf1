"""What an export is: its query string, formats and columns, and the state checked before the first byte."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Text, cast
from sqlalchemy.sql.elements import ColumnElement

from forest.bids.filters import BidFilters
from forest.bids.models import Bid
from forest.bids.schemas import BidRead
from forest.database import Database
from forest.pagination import PagePlan
from forest.users.models import User

Format = Literal["csv", "jsonl", "ocds", "ocds-records"]
MAX_ROWS = 10_000_000

MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "ocds": "application/json",
    "ocds-records": "application/json",
}
EXTENSIONS: dict[str, str] = {"csv": "csv", "jsonl": "jsonl", "ocds": "json", "ocds-records": "json"}

# The columns an export reads from `bid`: what the list shows plus the facts it does not, and the hash
# that tells edits apart (the OCDS release id).
EXPORT_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(
    Bid.__table__.c[name] for name in (*BidRead.model_fields, "opens_at", "contract_method", "content_hash"))
# CSV reads the attachments as JSON text and decodes only the non-empty ones itself, skipping the driver's
# JSON codec on every row.
CSV_EXPORT_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(
    cast(c, Text).label("attachments_json") if c.key == "attachments" else c for c in EXPORT_COLUMNS)
# Facts kept only in `bid_detail.facts` (the rest are columns of `bid`).
DETAIL_FACTS = ("notice_no", "bid_method", "region_limit", "procuring_entity", "demand_entity", "vat_included")


class ExportQuery(BidFilters):
    """The query string of `GET /bids/export`: the bid filters plus the format, sort and resumption."""

    format: Format = Field("csv", description="`csv` (UTF-8 with BOM, for Excel), `jsonl`, `ocds` (a release "
                                              "package) or `ocds-records` (a record package with each notice's "
                                              "release history).")
    sort: str | None = Field(None, max_length=40, description="As for `GET /bids`; default `-post_date`.")
    cursor: str | None = Field(None, max_length=2048,
                               description="Resume after the last row of a previous export (its `Link: rel=next`).")
    max_rows: int | None = Field(None, ge=1, le=MAX_ROWS,
                                 description="Stop after about this many rows and hand out a cursor for the rest.")

    def filters(self) -> BidFilters:
        """The filter part (already validated)."""
        return BidFilters.model_construct(**{name: getattr(self, name) for name in BidFilters.model_fields})


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """A summary of the selected rows that changes when the export would: the conditional-GET validators."""

    count: int
    last_modified: dt.datetime | None
    digest: str


@dataclasses.dataclass
class Export:
    """One export, checked and planned before the first byte is sent."""

    db: Database
    user: User | None  # whose view of the bids (None: every bid, the operator's CLI)
    format: Format
    filters: BidFilters
    plan: PagePlan
    now: dt.datetime
    fingerprint: Fingerprint
    # With `max_rows`: the position of the last row this response sends, and the cursor after it.
    boundary: tuple[Any, ...] | None = None
    next_cursor: str | None = None
    ocds_prefix: str = "ocds-local-forest"
    ocds_publisher: str = "Forest"
    uri: str = ""

    @property
    def etag(self) -> str:
        """A weak ETag: the same selection of unchanged rows in the same format and range gives the same one."""
        return f'W/"{self.fingerprint.digest}"'

    def filename(self) -> str:
        """The download's file name, e.g. `forest-bids-20261129T201500Z.csv`."""
        return f"forest-bids-{self.now:%Y%m%dT%H%M%SZ}.{EXTENSIONS[self.format]}"

