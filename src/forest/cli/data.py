"""`forest seed bids` and `forest explain`: data commands that call the services directly."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console

seed_app = typer.Typer(help="Synthetic data for benchmarks and demos.", no_args_is_help=True)
console = Console()


@seed_app.command("bids")
def seed_bids(
    n: Annotated[int, typer.Argument(min=1, help="How many bids to insert.")],
    sources: Annotated[int, typer.Option(min=1, help="Spread them over this many synthetic sources.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same rows.")] = 0,
) -> None:
    """Insert N deterministic synthetic bids (COPY on PostgreSQL) and print the insert rate."""
    from forest.bids import seed as seeding
    from forest.config import get_settings
    from forest.database import Database

    async def run() -> seeding.SeedReport:
        db = Database.from_settings(get_settings())
        try:
            async with db.sessionmaker() as session:
                return await seeding.seed_bids(session=session, n=n, sources=sources, seed=seed)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    console.print(f"inserted {report.rows:,} bids over {report.sources} sources in {report.seconds:.1f} s "
                  f"({report.rows_per_second:,.0f} rows/s)")


def explain(
    name: Annotated[str, typer.Argument(help="high-value-departments or daily-counts")],
    analyze: Annotated[bool, typer.Option("--analyze", help="Run the query (EXPLAIN ANALYZE, BUFFERS).")] = False,
    min_views: Annotated[int, typer.Option(min=0, help="High-value threshold.")] = 1000,
    days: Annotated[int, typer.Option(min=1, help="Days back from today (UTC).")] = 30,
    limit: Annotated[int, typer.Option(min=1, help="Rows of the ranking.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON plan too.")] = False,
) -> None:
    """Print an analytics query's SQL and its plan."""
    from forest.analytics import service
    from forest.analytics.schemas import QueryPlan
    from forest.config import get_settings
    from forest.database import Database
    from forest.errors import NotFound

    async def run() -> QueryPlan:
        db = Database.from_settings(get_settings())
        try:
            async with db.sessionmaker() as session:
                args = service.AnalyticsArgs(min_views=min_views, days=days, limit=limit)
                return await service.explain(session=session, name=name, analyze=analyze, args=args)
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except NotFound as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    console.print(result.sql, markup=False, highlight=False)
    console.print()
    console.print(result.plan_text, markup=False, highlight=False)
    if as_json:
        console.print(json.dumps(result.plan, indent=2, ensure_ascii=False), markup=False, highlight=False)
