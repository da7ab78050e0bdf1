"""Plan expectations over `EXPLAIN (FORMAT JSON)`, and a failure message that shows the plan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

SCANS_USING_INDEX = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
SORTS = ("Sort", "Incremental Sort")


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON)` of a statement, executed with its bind parameters as the service would run it."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def nodes(plan: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every node of a plan tree with its depth, top first."""
    yield depth, plan
    for child in plan.get("Plans", []):
        yield from nodes(child, depth + 1)


def render(plan: dict[str, Any]) -> str:
    """The plan as an indented tree: node, relation, index and conditions."""
    lines = []
    for depth, node in nodes(plan):
        parts = [node["Node Type"]]
        if "Scan Direction" in node and node["Scan Direction"] != "Forward":
            parts.append(node["Scan Direction"])
        if "Index Name" in node:
            parts.append(f"using {node['Index Name']}")
        if "Relation Name" in node:
            parts.append(f"on {node['Relation Name']}")
        for key in ("Index Cond", "Recheck Cond", "Filter", "Sort Key", "Group Key"):
            if key in node:
                parts.append(f"{key}: {node[key]}")
        lines.append("  " * depth + "-> " + "  ".join(map(str, parts)))
    return "\n".join(lines)


@dataclass(frozen=True)
class Expect:
    """What a statement's plan must look like.

    `index`: the plan must scan one of these indexes. `keyset`: the rows come in index order, so no Sort
    may appear (a Sort above the scan reads every matching row, whatever the LIMIT); `presorted_ok` lets
    an Incremental Sort pass: its input is already in order of the leading sort column and it reads one
    group of equal values past the page at most. No plan may Seq Scan the tables of `no_seq_scan`.
    """

    index: tuple[str, ...] = ()
    keyset: bool = False
    presorted_ok: bool = False
    no_seq_scan: tuple[str, ...] = ("bid",)


def broken(plan: dict[str, Any], expect: Expect) -> list[str]:
    """The expectations this plan breaks, in words."""
    found = [node for _depth, node in nodes(plan)]
    out = []
    used = {n.get("Index Name") for n in found if n["Node Type"] in SCANS_USING_INDEX}
    if expect.index and not used & set(expect.index):
        out.append(f"expected a scan using {' or '.join(expect.index)}; "
                   f"the plan uses {', '.join(sorted(i for i in used if i)) or 'no index'}")
    for node in found:
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in expect.no_seq_scan:
            out.append(f"Seq Scan on {node['Relation Name']}")
    if expect.keyset:
        sorts = [n for n in found if n["Node Type"] in SORTS
                 and not (expect.presorted_ok and n["Node Type"] == "Incremental Sort")]
        if sorts:
            out.append(f"{sorts[0]['Node Type']} (by {sorts[0].get('Sort Key')}) above the keyset scan: "
                       "every matching row is read and sorted before the LIMIT")
    return out


def assert_plan(raw: Any, expect: Expect, *, what: str, sql: str) -> None:
    """Fail with the plan and every broken expectation unless the plan meets `expect`."""
    doc = json.loads(raw) if isinstance(raw, str) else raw
    plan = doc[0]["Plan"]
    problems = broken(plan, expect)
    if problems:
        raise AssertionError(f"plan of {what} breaks: " + "; ".join(problems) + f"\n\nSQL: {sql}\n\nplan:\n"
                             + render(plan))
