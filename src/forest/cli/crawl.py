"""`forest crawl`: one crawl in the foreground, straight into the configured database (no Celery)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from forest.config import Settings
from forest.crawler.engine import CrawlProgress, CrawlResult

console = Console()
err_console = Console(stderr=True)

# Exit codes: 0 the crawl ran to a normal stop, 1 the crawl failed, 2 it could not start.
EXIT_FAILED = 1
EXIT_REFUSED = 2


class CrawlRefused(Exception):
    """The crawl cannot start: unknown source, refused URL, bad arguments."""


@dataclass
class Outcome:
    """What one foreground crawl did."""

    source_id: int
    source_name: str
    url: str
    max_pages: int
    result: CrawlResult
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The `--json` object."""
        return {
            "ok": not self.result.failed,
            "source_id": self.source_id,
            "source_name": self.source_name,
            "url": self.url,
            "max_pages": self.max_pages,
            "progress": self.result.progress.as_dict(),
            "stopped_reason": self.result.stopped_reason,
            "error": self.result.error,
            "errors": self.result.errors,
            "seconds": round(self.seconds, 3),
        }


async def run_crawl(settings: Settings, *, source_id: int | None, url: str | None, max_pages: int | None,
                    progress: Progress | None = None) -> Outcome:
    """Resolve the source (or the ad-hoc source of a URL), crawl it through DbNoticeStore, record the crawl time."""
    from forest.bids.ingest import DbNoticeStore
    from forest.crawler.engine import crawl
    from forest.crawls.models import CrawlJob
    from forest.crawls.runner import crawl_config
    from forest.database import Database
    from forest.errors import UrlNotAllowed
    from forest.sources import service as sources

    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            if source_id is not None:
                source = await sources.get(session=session, source_id=source_id)
                if source is None:
                    raise CrawlRefused(f"source {source_id} does not exist")
                start_url = source.start_url
            else:
                assert url is not None
                try:
                    await sources.check_start_url(settings=settings, url=url)
                except UrlNotAllowed as exc:
                    raise CrawlRefused(exc.detail) from exc
                # The operator's ad-hoc crawls are shared, like an admin's.
                source = await sources.for_url(session=session, url=url, max_pages=max_pages or 10, owner_id=None)
                await session.commit()
                start_url = url
            pages = min(max_pages or source.max_pages, settings.crawl_max_pages_limit)
            # The same Source → CrawlConfig mapping as a worker's job, for a job that is never stored.
            config = crawl_config(settings, CrawlJob(url=start_url, max_pages=pages), source)
            sid, name = source.id, source.name

        task: TaskID | None = None
        if progress is not None:
            task = progress.add_task(name, total=pages, new=0, updated=0, errors=0)

        async def on_progress(p: CrawlProgress) -> None:
            if progress is not None and task is not None:
                progress.update(task, completed=p.pages_done, total=p.pages_total or pages, new=p.items_new,
                                updated=p.items_updated, errors=p.errors)

        started = time.perf_counter()
        result = await crawl(config, DbNoticeStore(db.sessionmaker, sid), on_progress=on_progress)
        seconds = time.perf_counter() - started
        if progress is not None and task is not None:
            progress.update(task, total=result.progress.pages_done or 1, completed=result.progress.pages_done)
        if not result.failed:
            async with db.sessionmaker() as session:
                await sources.mark_crawled(session=session, source_id=sid)
        return Outcome(source_id=sid, source_name=name, url=start_url, max_pages=pages, result=result,
                       seconds=seconds)
    finally:
        await db.dispose()


def _summary(outcome: Outcome) -> Table:
    p = outcome.result.progress
    table = Table(title=f"{outcome.source_name} (source {outcome.source_id})", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("url", outcome.url),
        ("stopped", outcome.result.stopped_reason),
        ("pages", f"{p.pages_done} (max {outcome.max_pages})"),
        ("notices seen", str(p.items_seen)),
        ("new", str(p.items_new)),
        ("updated", str(p.items_updated)),
        ("errors", str(p.errors)),
        ("time", f"{outcome.seconds:.1f} s"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def crawl_command(
    url: Annotated[str | None, typer.Argument(help="A board's list page to crawl as an ad-hoc source.")] = None,
    source: Annotated[int | None, typer.Option("--source", min=1, help="Crawl this source id.")] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", min=1, help="Stop after N list pages.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of progress and a table.")]
    = False,
) -> None:
    """Crawl one source (--source ID) or a bare URL now, in the foreground, into the configured database."""
    from forest.config import get_settings

    if (source is None) == (url is None):
        err_console.print("[red]give either --source ID or a URL[/red]")
        raise typer.Exit(EXIT_REFUSED)
    settings = get_settings()
    try:
        if as_json:
            outcome = asyncio.run(run_crawl(settings, source_id=source, url=url, max_pages=max_pages))
        else:
            columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("pages  new {task.fields[new]}  updated {task.fields[updated]}  "
                                  "errors {task.fields[errors]}"), TimeElapsedColumn())
            with Progress(*columns, console=err_console) as progress:
                outcome = asyncio.run(run_crawl(settings, source_id=source, url=url, max_pages=max_pages,
                                                progress=progress))
    except CrawlRefused as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "error": str(exc), "errors": [str(exc)]}, ensure_ascii=False))
        else:
            err_console.print(f"[red]cannot crawl:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_REFUSED) from exc

    if as_json:
        typer.echo(json.dumps(outcome.as_dict(), ensure_ascii=False))
    else:
        console.print(_summary(outcome))
        for error in outcome.result.errors[:20]:
            err_console.print(f"[yellow]•[/yellow] {escape(error)}", highlight=False)
        if len(outcome.result.errors) > 20:
            err_console.print(f"… and {len(outcome.result.errors) - 20} more")
        if outcome.result.failed:
            err_console.print(f"[red]crawl failed:[/red] {escape(outcome.result.error or '')}", highlight=False)
    if outcome.result.failed:
        raise typer.Exit(EXIT_FAILED)
