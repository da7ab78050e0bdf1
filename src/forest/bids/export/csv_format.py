"""CSV exports: encoded in Python (`CsvEncoder`) or, on PostgreSQL, written line by line by the database."""

from __future__ import annotations

import csv
import io
import json
from operator import itemgetter
from typing import Any

from sqlalchemy import Text, literal_column

from forest.bids.export.encoders import Encoder
from forest.bids.export.model import CSV_EXPORT_COLUMNS, DETAIL_FACTS
from forest.bids.export.values import FORMULA_PREFIXES, cell, fact, money, neutralise, stamp

CSV_COLUMNS = ("id", "source_id", "external_id", "title", "department", "views", "post_date", "url", "closes_at",
               "opens_at", "amount", "amount_kind", "currency", "category", "contract_method", *DETAIL_FACTS,
               "attachments", "first_seen_at", "updated_at")


def _attachments_cell(attachments_json: str | None) -> str:
    if not attachments_json or attachments_json == "[]":
        return ""
    attachments = json.loads(attachments_json)
    return neutralise("\n".join(f"{a.get('name', '')} <{a.get('url', '')}>" for a in attachments))


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
                stamp(closes_at), stamp(opens_at), None if amount is None else money(amount),
                amount_kind, currency, category,
                None if contract_method is None else neutralise(contract_method),
                *(_NO_FACTS if detail is None else [cell(fact(detail[1], name)) for name in DETAIL_FACTS]),
                _attachments_cell(attachments), stamp(first_seen_at), stamp(updated_at)])
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
    """A timestamptz as `stamp` writes it: RFC 3339 in UTC with `Z`, microseconds only when there are some."""
    return (f"to_char({expr} AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {expr}) = {expr} "
            """THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)""")


def _sql_fact(i: int) -> str:
    """Fact `i` of `DETAIL_FACTS` as `cell(fact(…))` writes it: strings neutralised, booleans `true`/`false`."""
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
    " || ',' || ".join(f"coalesce({expr}, '')" for expr in _SQL_CELLS) + r" || E'\r\n'", Text).label("csv_line")


class SqlCsvEncoder(CsvEncoder):
    """The CSV of `CsvEncoder` with the lines written by PostgreSQL (`CSV_LINE`): a chunk is their join."""

    columns = (CSV_LINE,)
    in_database = True

    def chunk(self, rows: list[Any], details: dict[int, tuple[str | None, dict[str, Any]]]) -> bytes:
        """The chunk's lines as they came (a few milliseconds for 5,000 rows: no thread hop)."""
        return "".join([row[0] for row in rows]).encode()
