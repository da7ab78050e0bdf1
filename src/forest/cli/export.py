"""`forest export`: a bid search to a file, through the same export service as `GET /bids/export`."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True)


def export_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write ('-' for standard output).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, jsonl, ocds or ocds-records.")] = "csv",
    department: Annotated[list[str] | None, typer.Option(help="Any of these departments (repeatable).")] = None,
    source_id: Annotated[list[int] | None, typer.Option(help="Any of these sources (repeatable).")] = None,
    category: Annotated[list[str] | None, typer.Option(help="works, goods, services or sale (repeatable).")] = None,
    contract_method: Annotated[list[str] | None, typer.Option(help="Contract method (repeatable).")] = None,
    q: Annotated[str | None, typer.Option(help="Substring of the title or body.")] = None,
    posted_from: Annotated[str | None, typer.Option(help="Posted on or after (YYYY-MM-DD).")] = None,
    posted_to: Annotated[str | None, typer.Option(help="Posted on or before (YYYY-MM-DD).")] = None,
    closes_after: Annotated[str | None, typer.Option(help="Closing at or after (RFC 3339).")] = None,
    closes_before: Annotated[str | None, typer.Option(help="Closing at or before (RFC 3339).")] = None,
    open_: Annotated[bool | None, typer.Option("--open/--closed", help="Only still open (or closed) notices.")]
    = None,
    views_gte: Annotated[int | None, typer.Option(help="At least this many views.")] = None,
    amount_gte: Annotated[str | None, typer.Option(help="Amount at least this.")] = None,
    amount_lte: Annotated[str | None, typer.Option(help="Amount at most this.")] = None,
    sort: Annotated[str | None, typer.Option(help="As for GET /bids, e.g. -post_date, closes_at.")] = None,
    max_rows: Annotated[int | None, typer.Option(min=1, help="Stop after about this many rows.")] = None,
    cursor: Annotated[str | None, typer.Option(help="Resume after a previous export's cursor.")] = None,
) -> None:
    """Export every notice a search selects to FILE as csv (Excel-ready), jsonl, an OCDS release package (ocds) or
    an OCDS record package with each notice's release history (ocds-records)."""
    from forest.bids import export
    from forest.config import get_settings
    from forest.database import Database
    from forest.errors import ForestError

    raw: dict[str, Any] = {"format": fmt, "department": department or [], "source_id": source_id or [],
                           "category": category or [], "contract_method": contract_method or [], "q": q,
                           "posted_from": posted_from, "posted_to": posted_to, "closes_after": closes_after,
                           "closes_before": closes_before, "open": open_, "views_gte": views_gte,
                           "amount_gte": amount_gte, "amount_lte": amount_lte, "sort": sort, "max_rows": max_rows,
                           "cursor": cursor}
    try:
        query = export.ExportQuery.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            console.print(f"[red]{'.'.join(str(p) for p in error['loc'])}: {error['msg']}[/red]")
        raise typer.Exit(2) from exc

    async def run() -> tuple[int, str | None]:
        from forest.pagination import CursorSigner

        settings = get_settings()
        db = Database.from_settings(settings)
        try:
            prepared = await export.prepare(db=db, user=None, query=query, signer=CursorSigner(settings.signing_keys()),
                                            salt=fmt, ocds_prefix=settings.ocds_prefix,
                                            ocds_publisher=settings.ocds_publisher,
                                            uri=f"urn:forest:export:{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}")
            total = min(prepared.fingerprint.count, max_rows or prepared.fingerprint.count)
            written = 0
            to_stdout = str(output) == "-"
            sink = typer.get_binary_stream("stdout") if to_stdout else output.open("wb")
            columns = (TextColumn("[bold]export"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            try:
                with Progress(*columns, console=console) as progress:
                    task = progress.add_task("rows", total=total)

                    def advance(n: int) -> None:
                        nonlocal written
                        written += n
                        progress.advance(task, n)

                    async for part in export.stream(prepared, on_rows=advance):
                        sink.write(part)
            finally:
                if not to_stdout:
                    sink.close()
            return written, prepared.next_cursor
        finally:
            await db.dispose()

    try:
        rows, next_cursor = asyncio.run(run())
    except ForestError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"wrote {rows:,} notices to {output}")
    if next_cursor:
        console.print(f"more remain: resume with --cursor {next_cursor}")
