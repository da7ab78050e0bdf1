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

The planner picks between those two from its estimate, and for a word of three or more syllables the
estimate is wrong by twenty times (it multiplies the frequencies of `소나` and `나무` as if they were
independent: 2,543 rows estimated, 52,683 real on 1M bids), so a common word was read in full and sorted
(0.5-1 s). The bid list (`bids.service`, as `pagination.fetch_page`'s `run`) therefore reads each run of a
`q` page through `fetch_run`, which chooses at run time:

- Every bigram of `q` common (`walks_first`: among ANALYZE's most common elements of the search index, each
  in ~1.7 % of the bodies or more on 1M seeded bids): first a walk of the sort's index, at most
  `walk_budget(want)` rows, testing each row's title, then its body read by key (`walk_statement`: a plan
  with no choice in it). A common word fills its page within a few hundred rows. If the walk stops at its
  budget first, the rest of the page is read by the plain statement above from the row it stopped at.
- A bigram of `q` rare: the plain statement alone; the planner's estimate is then low, rightly, and it reads
  the index's few matches and sorts them.

Whatever the steps, a page holds exactly the rows `title ILIKE q OR body ILIKE q` selects, in the page's order
(the walk and the rest meet at a row-value seek position, as keyset pages do). Work per request: the walk is
bounded by its budget; the plain statement by the index's candidates (all rows containing every bigram of
`q`) and, as every statement, by the service's statement timeout (a 503 past it). The worst `q` is one made
of common pieces that rarely occur together (a notice number): the walk finds nothing and the candidates are
many (bench/RESULTS.md, "Search (q) through the API").

SQLite: the FTS5 table `bid_search` (trigram tokenizer, kept in step by triggers, migration 0006) for
three characters or more; shorter text has no trigram to look up (and SQLite 3.40's trigram `LIKE` misses
two-syllable Korean words), so it is matched with `LIKE` on the tables themselves.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Select,
    Text,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from forest.backends import fold_case
from forest.bids.models import Bid, BidDetail
from forest.database import Database

FTS_MIN_CHARS = 3
# The walk reads at most this many rows per row of the page it looks for, and at least WALK_MIN_ROWS: a page
# of 21 rows is found by the walk when one row in 100 matches (a word in 1 % of the bids or more), which
# costs a few milliseconds; below that share the index's matches are few enough to sort. bench/RESULTS.md,
# "Search (`q`) on PostgreSQL: the plans tried", has the measurements.
WALK_ROWS_PER_ROW = 100
WALK_MIN_ROWS = 2000
# ... and at most this many (an export's chunk of 5,000 rows would otherwise walk half a million rows of a word
# that turns out sparse, about ten seconds, before the index takes over).
WALK_MAX_ROWS = 50_000
# The statement reading the rest of a page after a walk that stopped short runs with this statement timeout
# (a 503 past it, as any statement past the service's): its work is the index's candidates, and a `q` made of
# common pieces that rarely occur together (`공고 입찰 공고`) has half the table as candidates and few matches,
# 11-15 s on 1M bids. A word the walk missed because its matches are elsewhere in the order reads its
# candidates in well under a second.
REST_TIMEOUT_MS = 3000
# Names of the walk statement's own output columns (besides the page's columns).
HIT, ROW = "q_hit", "q_row"
SEARCH_INDEX = "ix_bid_detail_search_bigram"
# How long the common bigrams read from the statistics are kept (autovacuum re-analyzes far less often).
COMMON_TTL_SECONDS = 300.0
_COMMON_SQL = ("SELECT most_common_elems::text::text[] FROM pg_stats "
               "WHERE schemaname = current_schema() AND tablename = $1")
_common: weakref.WeakKeyDictionary[Any, tuple[float, frozenset[str]]] = weakref.WeakKeyDictionary()


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere, for `ESCAPE '\\'`."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def bigrams(q: str) -> list[str]:
    """The distinct two-character pieces of `q` case folded (`fold_case`, as the index's `lower()` folds), in
    order: what the bigram index is looked up with."""
    low = fold_case(q)
    return list(dict.fromkeys(low[i:i + 2] for i in range(len(low) - 1)))


def bind_values(q: str) -> dict[str, Any]:
    """The bound values of `TextSearch(q, bound=True)` on PostgreSQL besides `q` itself."""
    pieces = bigrams(q)
    return {"q_bigrams": pieces} if pieces else {}


def walk_budget(want: int) -> int:
    """How many rows the walk of a page of `want` rows reads at most before the index takes over."""
    return min(WALK_MAX_ROWS, max(WALK_MIN_ROWS, WALK_ROWS_PER_ROW * want))


def walk_statement(columns: Sequence[ColumnElement[Any]], where: Sequence[ColumnElement[bool]],
                   keys: Sequence[Any], desc: bool, carry: Sequence[Any] = ()) -> Select[Any]:
    """The first step of a `q` page on PostgreSQL: the first `q_budget` rows selected by `where` (every filter
    but `q`) in the order of `keys`, each tested for `q` on its own; returns the rows that match, up to
    `page_limit`, and the `q_budget`-th row whether it matches or not (`q_row` = `q_budget`: the walk stopped
    there, the next step starts after it). The rows also carry the columns `carry` (the page's seek columns).

    The title is tested first (a match spares reading the body); the body is read by key through a scalar
    subquery, which PostgreSQL cannot turn into a join or a hashed read of every body, so the plan is always
    the sort's index walked in order, its work bounded by `q_budget`.
    """
    pattern = bindparam("q", type_=Text)
    budget = bindparam("q_budget", type_=BigInteger)
    body_hit = select(BidDetail.body.ilike(pattern)).where(BidDetail.bid_id == Bid.id).scalar_subquery()
    hit = func.coalesce(or_(Bid.title.ilike(pattern), body_hit), false())
    order = [k.desc() if desc else k.asc() for k in keys]
    names = {c.key for c in columns}
    extra = list({k.key: k for k in (*keys, *carry) if k.key not in names}.values())
    walk = (select(*columns, *extra, hit.label(HIT),
                   func.row_number().over(order_by=order).label(ROW))
            .where(*where).order_by(*order).limit(budget).subquery("walk"))
    found: Select[Any] = (select(*walk.c).where(or_(walk.c[HIT], walk.c[ROW] == budget))
                          .order_by(*(walk.c[k.key].desc() if desc else walk.c[k.key].asc() for k in keys))
                          .limit(bindparam("page_limit", type_=BigInteger)))
    return found


# Runs one statement of a page's run on PostgreSQL: (the run with its seek position, rows wanted, the walk's
# budget or None for the plain statement, a statement timeout in ms or None for the service's) -> the rows.
RunStatement = Callable[[Any, int, "int | None", "int | None"], Awaitable[Sequence[Any]]]


async def common_bigrams(db: Database) -> frozenset[str]:
    """The bigrams ANALYZE found in many rows (`most_common_elems` of the search index: a piece in at least
    ~1.7 % of the rows on 1M seeded bids), read at most every `COMMON_TTL_SECONDS` per engine; empty before
    the first ANALYZE or where the statistics are not readable."""
    now = time.monotonic()
    cached = _common.get(db.engine)
    if cached is not None and now - cached[0] < COMMON_TTL_SECONDS:
        return cached[1]
    rows = await db.fetch(_COMMON_SQL, SEARCH_INDEX)
    found = frozenset(e for row in rows for e in (row[0] or ()))
    _common[db.engine] = (now, found)
    return found


async def walks_first(db: Database, q: str) -> bool:
    """Whether a page of `q` starts with the walk: when every bigram of `q` is common (a word in a few percent
    of the bids or more: the walk finds a page within a few hundred rows). A word with one rare bigram is in
    few bids and the index's matches are read and sorted at once. `q` of one character has no bigram and no
    index: it is always walked."""
    pieces = bigrams(q)
    return not pieces or set(pieces) <= await common_bigrams(db)


async def fetch_run(db: Database, run: RunStatement, q: str, segment: Any, keys: Sequence[Any],
                    want: int) -> list[Any]:
    """Up to `want` rows of one run of a page (`pagination.Segment`) selected with `q`, in order: the rows
    the walk finds, then, if the walk stopped before it had them all, the rest read from the row it stopped
    at by the plain statement; for a rare word only the plain statement (see the module docstring). `keys`
    are the page's sort columns and id.
    """
    if not await walks_first(db, q):
        return list(await run(segment, want, None, None))
    budget = walk_budget(want)
    walked = await run(segment, want, budget, None)
    found = [row for row in walked if row[HIT]]
    stop = next((row for row in walked if row[ROW] == budget), None)
    if len(found) >= want or stop is None:
        return found[:want]
    resume = dataclasses.replace(segment, seek=tuple(stop[k.key] for k in keys))
    return found + list(await run(resume, want - len(found), None, REST_TIMEOUT_MS))


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
