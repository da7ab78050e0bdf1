"""Bulk exports of a bid search: CSV, JSON Lines, OCDS 1.1 release and record packages, streamed in constant memory.

An export reads the bids exactly as `GET /bids` does (`service.fetch_rows`: the same filters, the same
keyset, the same statement builder), a chunk at a time, each chunk its own short query from the position
after the last row of the one before. Nothing holds more than a few chunks, so a million rows cost what a
thousand do. Formatting a chunk is CPU work: it runs in a worker thread (at most `FORMAT_THREADS` at
once), so the event loop keeps serving other requests meanwhile. CSV on PostgreSQL is the exception: the
chunk's query returns the lines ready (`CSV_LINE`), and two chunks are read at once (`_parallel_chunks`).
"""

from __future__ import annotations

import asyncio
import collections
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any, Literal

import anyio
from pydantic import Field
from sqlalchemy import Text, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from forest.bids.filters import BidFilters
from forest.bids.models import Bid, BidDetail, BidRelease
from forest.bids.ocds import record, release
from forest.bids.schemas import BidRead
from forest.bids.service import BID_KEYSET, apply_filters, fetch_rows
from forest.database import Database, utcnow
from forest.errors import CursorError
from forest.pagination import CursorSigner, PageParams, PagePlan, plan_page, sign_position
from forest.users.models import User

Format = Literal["csv", "jsonl", "ocds", "ocds-records"]
CHUNK_ROWS = 5000
# Chunk queries in flight at once for an export whose bytes the database makes (`_parallel_chunks`).
PARALLEL_CHUNKS = 2
MAX_ROWS = 10_000_000
FORMAT_THREADS = 2
_format_limiter = anyio.CapacityLimiter(FORMAT_THREADS)

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


async def fingerprint(*, db: Database, filters: BidFilters, salt: str, user: User | None) -> Fingerprint:
    """How many rows are selected, their newest edit and a digest over ids, edits and views: one aggregate
    over the same filtered statement as the list (`apply_filters`), far cheaper than the export itself."""
    stmt = apply_filters(select(func.count(), func.max(Bid.updated_at), func.coalesce(func.sum(Bid.id), 0),
                                func.coalesce(func.sum(Bid.views), 0)), filters, user)
    async with db.sessionmaker() as session:
        count, newest, id_sum, view_sum = (await session.execute(stmt)).one()
    newest_text = newest.isoformat() if newest is not None else ""
    digest = hashlib.sha256(f"{salt}|{count}|{newest_text}|{id_sum}|{view_sum}".encode()).hexdigest()[:32]
    return Fingerprint(count=int(count), last_modified=newest, digest=digest)


async def prepare(
    *, db: Database, user: User | None, query: ExportQuery, signer: CursorSigner, salt: str,
    ocds_prefix: str = "ocds-local-forest",
    ocds_publisher: str = "Forest", uri: str = "",
) -> Export:
    """Check the sort and cursor, take the fingerprint and, with `max_rows`, find where this response ends.

    Every refusal (bad sort, bad or mismatched cursor) happens here, before a byte is sent. `salt` is
    mixed into the ETag: the format and the query string, so one ETag never stands for two bodies.
    """
    filters = query.filters()
    params = PageParams(limit=CHUNK_ROWS, cursor=query.cursor, sort=query.sort, count="none")
    plan = plan_page(BID_KEYSET, params, filters.cursor_binding(), signer)
    if plan.backwards:
        raise CursorError("An export reads forwards: resume it with a `next` cursor, not a `prev` one.")
    export = Export(db=db, user=user, format=query.format, filters=filters, plan=plan, now=utcnow(),
                    fingerprint=await fingerprint(db=db, filters=filters, salt=salt, user=user),
                    ocds_prefix=ocds_prefix, ocds_publisher=ocds_publisher, uri=uri)
    if query.max_rows is not None:
        await _find_boundary(export, query.max_rows, signer)
    return export


def _key(plan: PagePlan, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.key] for c in plan.cols)


def _after(plan: PagePlan, key: Sequence[Any], boundary: Sequence[Any]) -> bool:
    """Whether position `key` comes after `boundary` in the export's order (nulls last, ties by id)."""
    if len(key) == 1:
        return bool(key[0] < boundary[0] if plan.desc else key[0] > boundary[0])
    (value, id_), (b_value, b_id) = key, boundary
    if (value is None) != (b_value is None):
        return value is None
    if value is not None and value != b_value:
        return bool(value < b_value if plan.desc else value > b_value)
    return bool(id_ < b_id if plan.desc else id_ > b_id)


async def _find_boundary(export: Export, max_rows: int, signer: CursorSigner) -> None:
    """Walk the keys (sort column and id only: an index-only read) to the `max_rows`-th row.

    The body then stops at that position rather than after a count, so rows inserted before it while
    the body streams make the response longer, never leave a gap before the next cursor.
    """
    plan, seen = export.plan, 0
    while True:
        keys = await fetch_rows(db=export.db, filters=export.filters, plan=plan, user=export.user,
                                limit=min(CHUNK_ROWS, max_rows + 1 - seen), columns=plan.cols, now=export.now,
                                as_dicts=False)
        if seen + len(keys) > max_rows:
            boundary = _key(plan, keys[max_rows - seen - 1])
            export.boundary = boundary
            export.next_cursor = sign_position(plan, boundary, signer)
            return
        seen += len(keys)
        if len(keys) < CHUNK_ROWS:
            return  # fewer rows than max_rows: the export is complete
        plan = dataclasses.replace(plan, seek=_key(plan, keys[-1]))


def _cut(plan: PagePlan, rows: list[Any], end: Sequence[Any] | None) -> tuple[list[Any], bool]:
    """`rows` up to position `end` (included; None: no end), and whether any lay beyond it."""
    if end is None or not rows or not _after(plan, _key(plan, rows[-1]), end):
        return rows, False
    cut = next(i for i, row in enumerate(rows) if _after(plan, _key(plan, row), end))
    return rows[:cut], True


async def _chunks(export: Export, columns: Sequence[ColumnElement[Any]]) -> AsyncGenerator[list[Any], None]:
    """The selected rows (`columns` and the keyset's), a chunk (one query) at a time, up to the boundary."""
    plan = export.plan
    keys = [c for c in plan.cols if all(c.key != have.key for have in columns)]
    while True:
        rows = await fetch_rows(db=export.db, filters=export.filters, plan=plan, limit=CHUNK_ROWS, user=export.user,
                                columns=[*columns, *keys], now=export.now, as_dicts=False)
        full = len(rows) == CHUNK_ROWS
        rows, past = _cut(plan, rows, export.boundary)
        if rows:
            yield rows
        if not full or past:
            return
        plan = dataclasses.replace(plan, seek=_key(plan, rows[-1]))


async def _spans(export: Export) -> AsyncGenerator[tuple[Any, tuple[Any, ...], int], None]:
    """The export cut into consecutive spans of up to CHUNK_ROWS rows, `(seek, last position, rows)`, by a
    walk over the keys alone (sort column and id: an index-only read, as `_find_boundary`)."""
    plan = export.plan
    while True:
        found = await fetch_rows(db=export.db, filters=export.filters, plan=plan, limit=CHUNK_ROWS,
                                 user=export.user, columns=plan.cols, now=export.now, as_dicts=False)
        full = len(found) == CHUNK_ROWS
        found, past = _cut(plan, found, export.boundary)
        if found:
            yield plan.seek, _key(plan, found[-1]), len(found)
        if not full or past:
            return
        plan = dataclasses.replace(plan, seek=_key(plan, found[-1]))


async def _span_rows(export: Export, columns: Sequence[ColumnElement[Any]], seek: Any, last: tuple[Any, ...],
                     size: int) -> list[Any]:
    """The rows after `seek` up to position `last` (included), whatever was inserted or deleted there since
    the key walk: rows past `last` are cut off, and the read goes on while rows before it keep coming."""
    plan = dataclasses.replace(export.plan, seek=seek)
    keys = [c for c in plan.cols if all(c.key != have.key for have in columns)]
    out: list[Any] = []
    while True:
        rows = await fetch_rows(db=export.db, filters=export.filters, plan=plan, limit=size, user=export.user,
                                columns=[*columns, *keys], now=export.now, as_dicts=False)
        rows, past = _cut(plan, rows, last)
        out.extend(rows)
        if past or len(rows) < size or _key(plan, rows[-1]) == last:
            return out
        plan = dataclasses.replace(plan, seek=_key(plan, rows[-1]))


async def _parallel_chunks(export: Export, columns: Sequence[ColumnElement[Any]]) -> AsyncGenerator[list[Any], None]:
    """The rows of `_chunks`, in the same order, with up to PARALLEL_CHUNKS chunk queries running at once.

    For exports whose bytes PostgreSQL makes (CSV): the API then does little per row, and one query at a time
    left the export waiting on a single database backend (bench/RESULTS.md, "Export"). The positions where
    chunks end come first from a cheap walk over the keys (`_spans`), so the chunks can be read side by side,
    each on its own pooled connection.
    """
    spans = _spans(export)
    running: collections.deque[asyncio.Task[list[Any]]] = collections.deque()
    try:
        async for span in spans:
            running.append(asyncio.ensure_future(_span_rows(export, columns, *span)))
            if len(running) >= PARALLEL_CHUNKS and (rows := await running.popleft()):
                yield rows
        while running:
            if rows := await running.popleft():
                yield rows
    finally:
        for task in running:
            task.cancel()  # the client went away: stop reading
        await asyncio.gather(*running, return_exceptions=True)
        await spans.aclose()


async def _details(db: Database, ids: list[int], *, body: bool) -> dict[int, tuple[str | None, dict[str, Any]]]:
    """Body (when asked for) and facts of the bids among `ids` that have a detail page."""
    if not ids:
        return {}
    cols: list[Any] = [BidDetail.bid_id, BidDetail.facts]
    if body:
        cols.append(BidDetail.body)
    if db.engine.dialect.name == "postgresql":
        # One array parameter instead of an IN list of 5,000 parameters compiled anew for every chunk.
        sql = _DETAIL_SQL[body]
        rows = await db.fetch(sql, ids)
        return {row[0]: (row[2] if body else None, _facts(row[1])) for row in rows}
    async with db.sessionmaker() as session:
        result = await session.execute(select(*cols).where(BidDetail.bid_id.in_(ids)))
        return {row[0]: (row[2] if body else None, row[1] or {}) for row in result}


# No export shows the evidence spans, which are most of each facts document: PostgreSQL drops them
# (`facts - 'evidence'`), so they are neither sent nor decoded per row.
_DETAIL_SQL = {
    False: "SELECT bid_id, facts - 'evidence' FROM bid_detail WHERE bid_id = ANY($1::bigint[])",
    True: "SELECT bid_id, facts - 'evidence', body FROM bid_detail WHERE bid_id = ANY($1::bigint[])",
}


def _facts(value: Any) -> dict[str, Any]:
    # The driver hands JSONB over decoded when SQLAlchemy set up the connection's codecs; else as text.
    if isinstance(value, str):
        decoded = json.loads(value)
        return decoded if isinstance(decoded, dict) else {}
    return value if isinstance(value, dict) else {}


async def stream(export: Export, on_rows: Callable[[int], None] | None = None) -> AsyncIterator[bytes]:
    """The export's body, chunk by chunk; `on_rows(n)` is told of each chunk's rows (a progress bar)."""
    encoder = encoder_for(export)
    yield encoder.head()
    chunks = (_parallel_chunks if encoder.in_database else _chunks)(export, encoder.columns)
    # One chunk ahead: the database reads the next chunk while this one is formatted and sent.
    ahead: asyncio.Future[list[Any]] = asyncio.ensure_future(anext(chunks))
    try:
        while True:
            try:
                rows = await ahead
            except StopAsyncIteration:
                break
            ahead = asyncio.ensure_future(anext(chunks))
            if encoder.in_database:
                yield encoder.chunk(rows, {})
            else:
                details = await encoder.lookup(rows)
                yield await anyio.to_thread.run_sync(encoder.chunk, rows, details, limiter=_format_limiter)
            if on_rows is not None:
                on_rows(len(rows))
    finally:
        if not ahead.done():
            ahead.cancel()  # the client went away: stop reading
            await asyncio.wait([ahead])
        await chunks.aclose()
    yield encoder.tail()


# ---- values as text ----------------------------------------------------------------------------------------

def rfc3339(value: dt.datetime) -> str:
    """A UTC timestamp as RFC 3339 with `Z`, e.g. `2026-11-20T09:30:00Z` (microseconds kept when present)."""
    if value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat() + "Z"


def money(value: Decimal) -> str:
    """Plain digits without exponent or trailing zeros, as the API shows amounts: `1474567273`, `120000.5`."""
    return format(value.normalize(), "f")


# Spreadsheets run a cell starting with one of these as a formula (CSV injection): such a cell gets a
# leading apostrophe, which Excel, LibreOffice and Google Sheets show as text and do not print.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """`text` safe to open in a spreadsheet: a leading formula character is escaped with `'`."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return money(value)
    return str(value)


def _fact(facts: dict[str, Any], name: str) -> Any:
    value = facts.get(name)
    return value if isinstance(value, str | bool) else None


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return money(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Encoder:
    """Turns chunks of rows into bytes of one format."""

    wants_body = False
    # The rows' columns the encoder reads (the keyset's are added).
    columns: Sequence[ColumnElement[Any]] = EXPORT_COLUMNS
    # Whether the query already made the bytes (no details read, no formatting thread).
    in_database = False

    def __init__(self, export: Export) -> None:
        self.export = export

    def head(self) -> bytes:
        """What comes before the first row."""
        return b""

    async def lookup(self, rows: list[Any]) -> dict[int, Any]:
        """What a chunk needs besides its rows, by bid id: the body (when wanted) and facts of each."""
        return await _details(self.export.db, [row["id"] for row in rows], body=self.wants_body)

    def chunk(self, rows: list[dict[str, Any]], details: dict[int, Any]) -> bytes:
        """One chunk of rows as bytes."""
        raise NotImplementedError

    def tail(self) -> bytes:
        """What comes after the last row."""
        return b""


CSV_COLUMNS = ("id", "source_id", "external_id", "title", "department", "views", "post_date", "url", "closes_at",
               "opens_at", "amount", "amount_kind", "currency", "category", "contract_method", *DETAIL_FACTS,
               "attachments", "first_seen_at", "updated_at")


def _attachments_cell(attachments_json: str | None) -> str:
    if not attachments_json or attachments_json == "[]":
        return ""
    attachments = json.loads(attachments_json)
    return neutralise("\n".join(f"{a.get('name', '')} <{a.get('url', '')}>" for a in attachments))


def _stamp(value: dt.datetime | None) -> str | None:
    # rfc3339 for the common case (the driver's UTC datetimes) in one call; None stays None (an empty cell).
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else rfc3339(value)


_FORMULA_START = frozenset(FORMULA_PREFIXES)
_ROW_VALUES = itemgetter("id", "source_id", "external_id", "title", "department", "views", "post_date", "url",
                         "closes_at", "opens_at", "amount", "amount_kind", "currency", "category", "contract_method",
                         "attachments_json", "first_seen_at", "updated_at")
_NO_FACTS = [None] * len(DETAIL_FACTS)


class CsvEncoder(Encoder):
    """RFC 4180 CSV (CRLF, quotes doubled) in UTF-8 with a BOM, so Excel reads Korean text right (SQLite; on
    PostgreSQL the database writes the same bytes, `SqlCsvEncoder`)."""

    columns = CSV_EXPORT_COLUMNS

    def head(self) -> bytes:
        """The BOM and the header row."""
        out = io.StringIO()
        out.write("\ufeff")
        csv.writer(out, lineterminator="\r\n").writerow(CSV_COLUMNS)
        return out.getvalue().encode()

    def chunk(self, rows: list[Any], details: dict[int, tuple[str | None, dict[str, Any]]]) -> bytes:
        """One line per notice; attachments as `name <url>` lines in one cell.

        The hottest loop of an export (bench/RESULTS.md, "Export"): values are taken in one C call, text cells
        neutralised inline, and None written by the csv module as an empty cell.
        """
        out = io.StringIO()
        write = csv.writer(out, lineterminator="\r\n").writerow
        formula = _FORMULA_START
        for row in rows:
            (id_, source_id, external_id, title, department, views, post_date, url, closes_at, opens_at, amount,
             amount_kind, currency, category, contract_method, attachments, first_seen_at,
             updated_at) = _ROW_VALUES(row)
            detail = details.get(id_)
            write([
                id_, source_id,
                "'" + external_id if external_id[:1] in formula else external_id,
                "'" + title if title[:1] in formula else title,
                "'" + department if department[:1] in formula else department,
                views, post_date.isoformat(),
                "'" + url if url[:1] in formula else url,
                _stamp(closes_at), _stamp(opens_at), None if amount is None else money(amount),
                amount_kind, currency, category,
                None if contract_method is None else neutralise(contract_method),
                *(_NO_FACTS if detail is None else [_cell(_fact(detail[1], name)) for name in DETAIL_FACTS]),
                _attachments_cell(attachments), _stamp(first_seen_at), _stamp(updated_at)])
        return out.getvalue().encode()


# ---- CSV built by PostgreSQL -------------------------------------------------------------------------------
#
# On PostgreSQL the CSV lines come out of the export's own query (`fetch_rows`: the same filters, visibility,
# keyset and bind parameters as `GET /bids`) as one text column per row, the whole line with its CRLF, which
# the API only joins and sends. Encoding each row in Python capped an export at ~28k rows per API CPU second
# (bench/RESULTS.md, "Export"); this way the database builds the lines on its own core. `COPY (…) TO STDOUT
# (FORMAT csv)` was the other route, but it ends lines with LF only (its line ends can no longer be told from a
# line break inside a quoted cell afterwards) and takes no bind parameters. The SQL below is constant text
# written here, never a value: every value of a request reaches the statement as a bind parameter.
# It writes exactly what `CsvEncoder` writes (tests/exports compare the two byte for byte): the same formula
# neutralisation and Python's csv quoting (QUOTE_MINIMAL: a cell is quoted when it holds a comma, a double
# quote, CR or LF).

_NEEDS_QUOTES = r"""E'[",\r\n]'"""
_FORMULA_SQL = r"""('=', '+', '-', '@', E'\t', E'\r')"""


def _sql_cell(expr: str, *, neutralised: bool = True) -> str:
    """The CSV cell of a text expression (NULL stays NULL), as `neutralise` and the csv module write it."""
    prefix = f"CASE WHEN left({expr}, 1) IN {_FORMULA_SQL} THEN '''' ELSE '' END || " if neutralised else ""
    return (f"""CASE WHEN {expr} ~ {_NEEDS_QUOTES} THEN '"' || {prefix}replace({expr}, '"', '""') || '"' """
            f"ELSE {prefix}{expr} END")


def _sql_stamp(expr: str) -> str:
    """A timestamptz as `_stamp` writes it: RFC 3339 in UTC with `Z`, microseconds only when there are some."""
    return (f"to_char({expr} AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {expr}) = {expr} "
            """THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)""")


def _sql_fact(i: int) -> str:
    """Fact `i` of `DETAIL_FACTS` as `_cell(_fact(…))` writes it: strings neutralised, booleans `true`/`false`."""
    return (f"CASE d.t{i} WHEN 'string' THEN {_sql_cell(f'd.v{i}')} WHEN 'boolean' THEN d.v{i} ELSE '' END")


# The facts of the row's `bid_detail` (a bid without a detail row gets empty cells): each fact's JSON type and
# text are looked up once, in a subquery that OFFSET 0 keeps from being flattened (flattened, every use of a
# value in the cell's expression would look it up in the document again: ~30 lookups a row instead of 12).
_SQL_FACTS = (
    "coalesce((SELECT " + " || ',' || ".join(_sql_fact(i) for i in range(len(DETAIL_FACTS)))
    + " FROM (SELECT "
    + ", ".join(f"jsonb_typeof(facts -> '{name}') AS t{i}, facts ->> '{name}' AS v{i}"
                for i, name in enumerate(DETAIL_FACTS))
    + " FROM bid_detail WHERE bid_detail.bid_id = bid.id OFFSET 0) AS d), '"
    + "," * (len(DETAIL_FACTS) - 1) + "')")

# Attachments as `name <url>` lines in one cell, in their order, as `_attachments_cell` writes them. Most notices
# have one or two: those are read by position, the rest through a set-returning subquery (a few microseconds a
# row more, which showed in the export's rate). (S608: the text is assembled from the constants of this module
# only, no value of a request.)
def _sql_attachment(i: int) -> str:
    """Attachment `i` as its `name <url>` line."""
    return (f"coalesce(bid.attachments -> {i} ->> 'name', '') || ' <' || "
            f"coalesce(bid.attachments -> {i} ->> 'url', '') || '>'")


_NEWLINE = r" || E'\n' || "
_SQL_ALL_ATTACHMENTS = (
    "(SELECT string_agg(coalesce(a ->> 'name', '') || ' <' || coalesce(a ->> 'url', '') || '>', "
    r"E'\n' ORDER BY n) FROM jsonb_array_elements(bid.attachments) WITH ORDINALITY AS t(a, n))")
_SQL_ATTACHMENTS = (
    "CASE WHEN jsonb_typeof(bid.attachments) = 'array' THEN CASE jsonb_array_length(bid.attachments) "  # noqa: S608
    f"WHEN 0 THEN NULL WHEN 1 THEN {_sql_cell(_sql_attachment(0))} "
    f"WHEN 2 THEN {_sql_cell(_sql_attachment(0) + _NEWLINE + _sql_attachment(1))} "
    f"ELSE (SELECT {_sql_cell('s')} FROM (SELECT {_SQL_ALL_ATTACHMENTS} AS s OFFSET 0) AS joined) END END")
_SQL_CELLS = (
    "bid.id::text", "bid.source_id::text", _sql_cell("bid.external_id"), _sql_cell("bid.title"),
    _sql_cell("bid.department"), "bid.views::text", "to_char(bid.post_date, 'YYYY-MM-DD')", _sql_cell("bid.url"),
    _sql_stamp("bid.closes_at"), _sql_stamp("bid.opens_at"), "trim_scale(bid.amount)::text",
    _sql_cell("bid.amount_kind", neutralised=False), _sql_cell("bid.currency", neutralised=False),
    _sql_cell("bid.category", neutralised=False), _sql_cell("bid.contract_method"), _SQL_FACTS,
    _SQL_ATTACHMENTS, _sql_stamp("bid.first_seen_at"), _sql_stamp("bid.updated_at"))
# One CSV line (CRLF included) per bid, the `CSV_COLUMNS` in order.
CSV_LINE = literal_column(
    " || ',' || ".join(f"coalesce({cell}, '')" for cell in _SQL_CELLS) + r" || E'\r\n'", Text).label("csv_line")


def _json_row(row: dict[str, Any], body: str | None, facts: dict[str, Any]) -> dict[str, Any]:
    item = {name: row[name] for name in (*BidRead.model_fields, "opens_at", "contract_method")}
    item["body"] = body
    item["facts"] = {name: value for name, value in facts.items() if name != "evidence"}
    return item


class JsonlEncoder(Encoder):
    """One JSON object per line: the list's bid fields, `opens_at`, `contract_method`, `body` and `facts`."""

    wants_body = True

    def chunk(self, rows: list[dict[str, Any]], details: dict[int, tuple[str | None, dict[str, Any]]]) -> bytes:
        """One line per notice."""
        out = []
        for row in rows:
            body, facts = details.get(row["id"], (None, {}))
            out.append(json.dumps(_json_row(row, body, facts), ensure_ascii=False, default=_json_default))
        out.append("")
        return "\n".join(out).encode()


class OcdsEncoder(Encoder):
    """An OCDS 1.1 release package: one `tender` release per notice (forest.bids.ocds)."""

    wants_body = True

    def __init__(self, export: Export) -> None:
        super().__init__(export)
        self.first = True

    def head(self) -> bytes:
        """The package metadata and the opening of `releases`."""
        published = self.export.fingerprint.last_modified or self.export.now
        meta = {"uri": self.export.uri, "version": "1.1", "publishedDate": rfc3339(published),
                "publisher": {"name": self.export.ocds_publisher}}
        return (json.dumps(meta, ensure_ascii=False)[:-1] + ', "releases": [').encode()

    def chunk(self, rows: list[dict[str, Any]], details: dict[int, tuple[str | None, dict[str, Any]]]) -> bytes:
        """Releases, comma-separated across chunks."""
        parts = []
        for row in rows:
            body, facts = details.get(row["id"], (None, {}))
            parts.append(json.dumps(release(row, body, facts, prefix=self.export.ocds_prefix), ensure_ascii=False,
                                    default=_json_default))
        text = ",".join(parts)
        if parts and not self.first:
            text = "," + text
        self.first = self.first and not parts
        return text.encode()

    def tail(self) -> bytes:
        """The end of `releases` and of the package."""
        return b"]}"


class OcdsRecordsEncoder(OcdsEncoder):
    """An OCDS 1.1 record package: one record per notice, with every release Forest kept of it (the versions
    an edit replaced, `bid_release`, then the current one) and the compiled release (forest.bids.ocds)."""

    def head(self) -> bytes:
        """The package metadata and the opening of `records`."""
        return super().head()[: -len(b'"releases": [')] + b'"records": ['

    async def lookup(self, rows: list[Any]) -> dict[int, Any]:
        """Body, facts and the earlier versions of each notice of the chunk."""
        ids = [row["id"] for row in rows]
        details = await _details(self.export.db, ids, body=True)
        history = await _history(self.export.db, ids)
        return {bid_id: (*details.get(bid_id, (None, {})), history.get(bid_id, [])) for bid_id in ids}

    def chunk(self, rows: list[dict[str, Any]], details: dict[int, Any]) -> bytes:
        """Records, comma-separated across chunks."""
        parts = []
        for row in rows:
            body, facts, versions = details[row["id"]]
            current = release(row, body, facts, prefix=self.export.ocds_prefix)
            releases = [release({**row, **version}, version["body"], version["facts"],
                                prefix=self.export.ocds_prefix) for version in versions]
            # Merging compares dates as text: the releases as they will be written.
            plain = json.loads(json.dumps([*releases, current], default=_json_default))
            parts.append(json.dumps(record(plain), ensure_ascii=False))
        text = ",".join(parts)
        if parts and not self.first:
            text = "," + text
        self.first = self.first and not parts
        return text.encode()


# The columns of an earlier version that its release reads (the rest, such as the ocid's parts, never change).
_VERSION_COLUMNS = ("content_hash", "updated_at", "title", "url", "attachments", "closes_at", "amount", "currency",
                    "category", "contract_method", "body", "facts")


async def _history(db: Database, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The earlier versions of the bids among `ids`, oldest first, as release inputs."""
    if not ids:
        return {}
    stmt = (select(BidRelease.bid_id, *(BidRelease.__table__.c[name] for name in _VERSION_COLUMNS))
            .where(BidRelease.bid_id.in_(ids)).order_by(BidRelease.bid_id, BidRelease.updated_at, BidRelease.id))
    out: dict[int, list[dict[str, Any]]] = {}
    async with db.sessionmaker() as session:
        for row in await session.execute(stmt):
            version = row._asdict()
            out.setdefault(version.pop("bid_id"), []).append(version)
    return out


class SqlCsvEncoder(CsvEncoder):
    """The CSV of `CsvEncoder` with the lines written by PostgreSQL (`CSV_LINE`): a chunk is their join."""

    columns = (CSV_LINE,)
    in_database = True

    def chunk(self, rows: list[Any], details: dict[int, tuple[str | None, dict[str, Any]]]) -> bytes:
        """The chunk's lines as they came (a few milliseconds for 5,000 rows: no thread hop)."""
        return "".join([row[0] for row in rows]).encode()


ENCODERS: dict[str, Callable[[Export], Encoder]] = {"csv": CsvEncoder, "jsonl": JsonlEncoder, "ocds": OcdsEncoder,
                                                   "ocds-records": OcdsRecordsEncoder}


def encoder_for(export: Export) -> Encoder:
    """The encoder of the export's format; CSV lines come from PostgreSQL itself there."""
    if export.format == "csv" and export.db.engine.dialect.name == "postgresql":
        return SqlCsvEncoder(export)
    return ENCODERS[export.format](export)
