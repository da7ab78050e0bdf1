"""`q`: a case-insensitive substring of a bid's title or its notice body, served by an index on each backend.

PostgreSQL: one semi-join on `bid_detail`, which holds a copy of every bid's title next to its body (a
trigger on `bid` keeps it, migration 0006): `bid.id IN (SELECT bid_id FROM bid_detail WHERE
forest_bigrams(lower(title || ' ' || body)) @> :bigrams AND (title ILIKE :q OR body ILIKE :q))`. The GIN
index `ix_bid_detail_search_bigram` holds each row's distinct two-character pieces (what pg_bigm does, in
plain SQL), so a two-syllable Korean word — which has no trigram — is found through the index; the ILIKE
rechecks the candidates. Being one semi-join (not `title … OR id IN (…)`), the planner can choose per
query between walking the sort's index and probing each bid's row by key (a common word: the first page
is found after a few hundred rows) and reading the index's matches then sorting them (a rare word).
`q` of one character has no bigram and is matched by ILIKE alone.

SQLite: the FTS5 table `bid_search` (trigram tokenizer, kept in step by triggers, migration 0006) for
three characters or more; shorter text has no trigram to look up (and SQLite 3.40's trigram `LIKE` misses
two-syllable Korean words), so it is matched with `LIKE` on the tables themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, Text, bindparam, func, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from forest.bids.filters import like_pattern
from forest.bids.models import Bid, BidDetail

FTS_MIN_CHARS = 3


def bigrams(q: str) -> list[str]:
    """The distinct two-character pieces of `q` lowered, in order: what the bigram index is looked up with."""
    low = q.lower()
    return list(dict.fromkeys(low[i:i + 2] for i in range(len(low) - 1)))


def bind_values(q: str) -> dict[str, Any]:
    """The bound values of `TextSearch(q, bound=True)` on PostgreSQL besides `q` itself."""
    pieces = bigrams(q)
    return {"q_bigrams": pieces} if pieces else {}


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
        pieces = bigrams(q)
        document = func.forest_bigrams(func.lower(BidDetail.title + literal_column("' '") + BidDetail.body),
                                       type_=ARRAY(Text))
        found = or_(BidDetail.title.ilike(pattern, escape=escape), BidDetail.body.ilike(pattern, escape=escape))
        if pieces:
            wanted: Any = (bindparam("q_bigrams", type_=ARRAY(Text)) if bound
                           else bindparam("q_bigrams", pieces, type_=ARRAY(Text)))
            found = document.contains(wanted) & found
        self.semi_join: ColumnElement[bool] = Bid.id.in_(select(BidDetail.bid_id).where(found))
        self.fts: ColumnElement[bool] | None = None
        if len(q) >= FTS_MIN_CHARS:
            self.fts = Bid.id.in_(
                select(literal_column("rowid")).select_from(text("bid_search"))
                .where(literal_column("bid_search").op("MATCH")(bindparam("q_fts", fts_phrase(q), type_=Text))))


@compiles(TextSearch)
def _compile_default(element: TextSearch, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.portable, **kw)


@compiles(TextSearch, "postgresql")
def _compile_postgresql(element: TextSearch, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.semi_join, **kw)


@compiles(TextSearch, "sqlite")
def _compile_sqlite(element: TextSearch, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.fts if element.fts is not None else element.portable, **kw)
