"""`EXPLAIN` as a statement of its own, so the explained query keeps its bind parameters.

Compiling a query with its values inlined and wrapping the SQL in `text()` breaks on client text: `text()`
reads `:word` inside a string literal as a bind parameter (`q=x :abc` was a 500). `Explain` compiles the
inner statement with the same compiler, so its values travel to the driver as parameters, never as SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


class Explain(Executable, ClauseElement):
    """`EXPLAIN (<options>) <statement>` on PostgreSQL, `EXPLAIN QUERY PLAN <statement>` on SQLite."""

    # Plans are asked for rarely and their options vary: not worth a cache key.
    inherit_cache = False

    def __init__(self, statement: Select[Any], *, options: str = "") -> None:
        self.statement = statement
        self.explain_options = options  # not `options`: Executable.options() is a method


@compiles(Explain)
def _explain_postgresql(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    options = f"({element.explain_options}) " if element.explain_options else ""
    return f"EXPLAIN {options}" + compiler.process(element.statement, **kw)


@compiles(Explain, "sqlite")
def _explain_sqlite(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN QUERY PLAN " + compiler.process(element.statement, **kw)
