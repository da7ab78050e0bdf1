"""Reading a page: the list's select, its page statements compiled once, both engines, and the count."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Integer, Select, bindparam, literal
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from forest.backends import backend_of
from forest.database import Database
from forest.pagination.cursors import CursorSigner
from forest.pagination.plan import (
    CountInfo,
    CountMode,
    Keyset,
    PageParams,
    PagePlan,
    PageResult,
    Segment,
    finish_page,
    plan_page,
)

Row = Mapping[str, Any]
# Builds the SQL (`$n` parameters) and arguments of one run of a page on the driver: (plan, segment, rows wanted).
DriverStatement = Callable[[PagePlan, Segment, int], tuple[str, list[Any]]]
# A list that reads a run in more than one statement on the driver engine (the bid list's `q`:
# bids.search.fetch_run) gives this instead: (plan, run, rows wanted) -> the rows, read by column name.
DriverRun = Callable[[PagePlan, Segment, int], Awaitable[Sequence[Any]]]


def columns_of(table: Any, schema: type[BaseModel], *extra: str) -> tuple[ColumnElement[Any], ...]:
    """The columns of `table` (a mapped class or a Table) named like the fields of `schema`, plus `extra` ones:
    what a list selects, so its rows hold the schema's fields and nothing the API does not show."""
    columns = getattr(table, "__table__", table).c
    return tuple(columns[name] for name in (*schema.model_fields, *extra) if name in columns)


@functools.cache
def _built(build: Callable[..., Select[Any]], shape: tuple[Any, ...]) -> Select[Any]:
    return build(*shape)


@dataclass(frozen=True)
class ListSelect:
    """What a list selects before order and limit: a Core select of the columns it shows with its filters.

    `build(*shape)` makes the statement with named bind parameters (`bindparam("viewer")`) where the request's
    values go, and `values` holds them: a list has a few shapes (admin or not, which filters are set), so each
    is built and compiled once and a request only binds its values. Constructing SQLAlchemy expressions and
    their cache keys on every request cost a third of a list request's CPU (bench/RESULTS.md, Pagination).
    """

    build: Callable[..., Select[Any]]
    shape: tuple[Any, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    #: False for a statement built with its values inline (read per request, never compiled for the driver).
    cached: bool = True

    def statement(self) -> Select[Any]:
        """The statement of this shape (built once), values unbound."""
        return _built(self.build, self.shape) if self.cached else self.build(*self.shape)

    def bound(self) -> Select[Any]:
        """The statement with this request's values bound: a self-contained select (counts, plans, tools)."""
        return self.statement().params(**self.values) if self.values else self.statement()


def page_statement(stmt: Select[Any], plan: PagePlan, segment: Segment | None = None, *,
                   limit: int | None = None) -> Select[Any]:
    """`stmt` cut to one run of the page of `plan` (its first by default): the seek from the cursor, the keyset
    order and `limit` rows (`limit + 1` of the plan by default)."""
    segment = segment or plan.segments()[0]
    seek = None if segment.seek is None else [
        None if v is None else literal(v, c.type) for v, c in zip(segment.seek, plan.cols, strict=True)]
    return (stmt.where(*plan.segment_clauses(segment, seek)).order_by(*plan.segment_order_by(segment))
            .limit(plan.limit + 1 if limit is None else limit))


def _page_template(stmt: Select[Any], plan: PagePlan, segment: Segment) -> Select[Any]:
    """`stmt` cut to one run of a page with the seek position and the limit as bind parameters."""
    seek = None if segment.seek is None else [bindparam(f"seek_{i}", type_=c.type) for i, c in enumerate(plan.cols)]
    return (stmt.where(*plan.segment_clauses(segment, seek)).order_by(*plan.segment_order_by(segment))
            .limit(bindparam("page_limit", type_=Integer)))


def _page_values(query: ListSelect, plan: PagePlan, segment: Segment, limit: int) -> dict[str, Any]:
    values = dict(query.values)
    values.update((f"seek_{i}", v) for i, v in enumerate(segment.seek or ()))
    values["page_limit"] = limit
    return values


# Compiled page statements: a few per list (its shapes × sort, direction, cursor or not, run of the page).
_compiled: dict[tuple[Any, ...], SQLCompiler] = {}


def page_query(dialect: Dialect, query: ListSelect, plan: PagePlan, segment: Segment | None = None, *,
               limit: int | None = None) -> tuple[str, list[Any]]:
    """One run of a page of `query` as the driver runs it: its SQL (`$n` parameters), compiled once per shape,
    and its arguments in order, after SQLAlchemy's bind processing."""
    segment = segment or plan.segments()[0]
    key = (query.build, query.shape, dialect.name, plan.sort_name, plan.backwards, segment.kind,
           segment.seek is not None)
    if not query.cached:
        raise ValueError("a statement built with its values inline is not compiled for the driver")
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled[key] = _page_template(query.statement(), plan, segment).compile(dialect=dialect)
    params: Mapping[str, Any] = compiled.construct_params(
        _page_values(query, plan, segment, plan.limit + 1 if limit is None else limit))
    sql: str = compiled.string
    names: Sequence[str] = compiled.positiontup or ()
    processors: Mapping[str, Any] = compiled._bind_processors
    if compiled.post_compile_params or compiled.literal_execute_params:  # `IN (…)` lists: expanded per call
        state = compiled.construct_expanded_state(params)
        sql, names, params, processors = state.statement, state.positiontup or (), state.parameters, state.processors
    args: list[Any] = []
    for name in names:
        process: Any = processors.get(name)
        args.append(params[name] if process is None else process(params[name]))
    return sql, args


def uses_driver(db: Database) -> bool:
    """Whether pages of `db` are read by the driver engine (PostgreSQL on asyncpg) rather than a session."""
    return db.engine.dialect.name == "postgresql" and db.engine.dialect.driver == "asyncpg"


async def fetch_page(
    db: Database, query: ListSelect, plan: PagePlan, *, limit: int | None = None,
    driver: DriverStatement | None = None, as_dicts: bool = False, run: DriverRun | None = None,
) -> list[Row]:
    """Up to `limit` rows (the plan's `limit + 1` by default) of `query` in the order of `plan` from its seek
    position, read run by run (`PagePlan.segments`).

    Two engines: on PostgreSQL the compiled statement runs on the asyncpg driver outside a transaction (`driver`
    builds it when a list tunes its own SQL, else `page_query`); elsewhere a short session runs the statement
    through SQLAlchemy. Rows are read by column name; `as_dicts` copies the driver's records to dicts.
    """
    want_total = plan.limit + 1 if limit is None else limit
    rows: list[Row] = []
    if uses_driver(db):
        for segment in plan.segments():
            want = want_total - len(rows)
            if want <= 0:
                break
            if run is not None:
                found: Sequence[Any] = await run(plan, segment, want)
            else:
                if driver is not None:
                    sql, args = driver(plan, segment, want)
                else:
                    sql, args = page_query(db.engine.dialect, query, plan, segment, limit=want)
                found = await db.fetch(sql, *args)
            rows.extend((dict(row) for row in found) if as_dicts else found)
        return rows
    async with db.sessionmaker() as session:
        conn = await session.connection()
        for segment in plan.segments():
            want = want_total - len(rows)
            if want <= 0:
                break
            page = _page_template(query.statement(), plan, segment)
            result = await conn.execute(page, _page_values(query, plan, segment, want))
            rows.extend(dict(row) for row in result.mappings())
    return rows


def _column(row: Row, name: str) -> Any:
    return row[name]


async def paginate(
    db: Database,
    query: ListSelect,
    *,
    keyset: Keyset,
    params: PageParams,
    filters: Mapping[str, Any],
    signer: CursorSigner,
    count_timeout_ms: int = 250,
    driver: DriverStatement | None = None,
    run: DriverRun | None = None,
) -> PageResult[Row]:
    """One keyset page of a list: the cursor checked against the list's sort and `filters`, the rows of `query`
    read by `fetch_page`, cursors signed, and the total when asked for. The one pagination flow of every list."""
    plan = plan_page(keyset, params, filters, signer)
    rows = await fetch_page(db, query, plan, driver=driver, run=run)
    result = finish_page(plan, rows, signer, _column)
    if params.count != "none":
        async with db.sessionmaker() as session:
            result.count = await count_rows(session, query.bound(), params.count, count_timeout_ms)
    return result


async def count_rows(session: AsyncSession, stmt: Select[Any], mode: CountMode, timeout_ms: int) -> CountInfo:
    """How many rows `stmt` selects: exactly (within `timeout_ms`, else estimated) or the planner's estimate
    (the backend's `count_rows`: SQLite always counts)."""
    value, exact = await backend_of(session).count_rows(session, stmt, exact=mode == "exact", timeout_ms=timeout_ms)
    return CountInfo(value=value, exact=exact)
