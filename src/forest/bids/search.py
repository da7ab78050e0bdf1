"""`q`: a case-insensitive substring of a bid's title or its notice body, served by an index on each backend.

PostgreSQL: `ILIKE` over `bid.title` and `bid_detail.body`, each with a pg_trgm GIN index (migrations
0002 and 0006); trigrams need no dictionary, so Korean works as it is. SQLite: the FTS5 table `bid_search`
(trigram tokenizer, kept in step by triggers, migration 0006) for three characters or more; shorter text
has no trigram to look up (and SQLite 3.40's trigram `LIKE` misses two-syllable Korean words), so it is
matched with `LIKE` on the tables themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, Text, bindparam, literal_column, or_, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from forest.bids.filters import like_pattern
from forest.bids.models import Bid, BidDetail

FTS_MIN_CHARS = 3


def fts_phrase(text_: str) -> str:
    """An FTS5 query matching `text_` as one phrase (a substring, with the trigram tokenizer)."""
    return '"' + text_.replace('"', '""') + '"'


class TextSearch(ColumnElement[bool]):
    """`q` as one WHERE clause, compiled per dialect (see the module docstring)."""

    type = Boolean()
    inherit_cache = False  # the SQLite form depends on the length of q, not only on the statement's shape

    def __init__(self, q: str, *, bound: bool = False) -> None:
        self.q = q
        # `bound` (PostgreSQL's compiled-once page SQL): its ILIKE escapes with a backslash by default,
        # the backslash `like_pattern` uses; SQLite has no default escape.
        escape = None if bound else "\\"
        pattern: Any = bindparam("q", type_=Text) if bound else like_pattern(q)
        # Parenthesised: the clause is ANDed with the other filters.
        self.portable: ColumnElement[bool] = or_(
            Bid.title.ilike(pattern, escape=escape),
            Bid.id.in_(select(BidDetail.bid_id).where(BidDetail.body.ilike(pattern, escape=escape))),
        ).self_group()
        self.fts: ColumnElement[bool] | None = None
        if len(q) >= FTS_MIN_CHARS:
            self.fts = Bid.id.in_(
                select(literal_column("rowid")).select_from(text("bid_search"))
                .where(literal_column("bid_search").op("MATCH")(bindparam("q_fts", fts_phrase(q), type_=Text))))


@compiles(TextSearch)
def _compile_default(element: TextSearch, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.portable, **kw)


@compiles(TextSearch, "sqlite")
def _compile_sqlite(element: TextSearch, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.fts if element.fts is not None else element.portable, **kw)
