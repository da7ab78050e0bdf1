"""`forest crawl`: one crawl in the foreground, run as a job in this process (no broker, no worker)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from forest.config import Settings
from forest.crawler.engine import ERROR, CrawlProgress, CrawlResult

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
    job_id: uuid.UUID

    def as_dict(self) -> dict[str, Any]:
        """The `--json` object."""
        return {
            "ok": not self.result.failed,
            "job_id": str(self.job_id),
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


class _InProcess:
    """The CLI's job queue: nothing is sent, the job is delivered right here."""

    async def send(self, job_id: uuid.UUID, task_id: str) -> None:
        return None

    async def revoke(self, task_id: str) -> None:
        return None


async def run_crawl(settings: Settings, *, source_id: int | None, url: str | None, max_pages: int | None,
                    progress: Progress | None = None) -> Outcome:
    """Crawl a source (or the ad-hoc source of a URL) as a job delivered in this process: the job row, its
    events, the stored bids and the alerts they raise are those of a worker's crawl of the same board.

    A source that has a job already (queued, or running with a lost worker) has that job delivered here
    instead; one that a live attempt is crawling is refused."""
    from pydantic import ValidationError

    from forest.crawls import lifecycle, runner
    from forest.crawls.models import CrawlJob
    from forest.crawls.schemas import CrawlCreate, progress_of
    from forest.database import Database
    from forest.errors import ForestError
    from forest.events import Publisher
    from forest.sources import service as sources
    from forest.users import service as users

    db = Database.from_settings(settings)
    publisher = Publisher(settings.redis_url)
    try:
        async with db.sessionmaker() as session:
            if source_id is not None and await sources.get(session=session, source_id=source_id) is None:
                raise CrawlRefused(f"source {source_id} does not exist")
            try:
                job_in = CrawlCreate(source_id=source_id, url=url, max_pages=max_pages)
                job = await lifecycle.submit(session=session, settings=settings,
                                             user=await users.operator(session=session), job_in=job_in,
                                             idempotency_key=None, queue=_InProcess(), announcer=publisher)
            except ValidationError as exc:
                raise CrawlRefused("; ".join(str(e["msg"]) for e in exc.errors())) from exc
            except ForestError as exc:
                raise CrawlRefused(exc.detail) from exc
            source = await sources.get_or_raise(session=session, source_id=job.source_id or 0)
            name, pages = source.name, job.max_pages

        task: TaskID | None = None
        if progress is not None:
            task = progress.add_task(name, total=pages, new=0, updated=0, errors=0)

        async def on_progress(p: CrawlProgress) -> None:
            if progress is not None and task is not None:
                progress.update(task, completed=p.pages_done, total=p.pages_total or pages, new=p.items_new,
                                updated=p.items_updated, errors=p.errors)

        started = time.perf_counter()
        ran = await runner.run_job(settings, job.id, report=on_progress)
        seconds = time.perf_counter() - started
        if ran.state is None:
            raise CrawlRefused(f"source {source.id} is being crawled by job {job.id} elsewhere (a worker's live "
                               "attempt holds it)")
        result = ran.result
        if result is None:  # the run ended on an exception, or was stopped from outside: the job row says how
            async with db.sessionmaker() as session:
                ended = await session.get(CrawlJob, job.id)
                assert ended is not None
            error = ended.error or f"the job is {ended.state}"
            result = CrawlResult(progress=CrawlProgress(**progress_of(ended)),
                                 stopped_reason=ERROR, error=error, errors=[error])
        if progress is not None and task is not None:
            progress.update(task, total=result.progress.pages_done or 1, completed=result.progress.pages_done)
        return Outcome(source_id=source.id, source_name=name, url=job.url, max_pages=pages, result=result,
                       seconds=seconds, job_id=job.id)
    finally:
        await publisher.close()
        await db.dispose()


def _summary(outcome: Outcome) -> Table:
    p = outcome.result.progress
    table = Table(title=f"{outcome.source_name} (source {outcome.source_id})", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("job", str(outcome.job_id)),
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
