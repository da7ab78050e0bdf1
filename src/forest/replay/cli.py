"""``forest replay``: replay recorded or synthetic traffic and compare runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from forest.replay.entries import ReplayEntry, read_log
from forest.replay.report import compare as compare_runs
from forest.replay.report import comparison_table, run_table
from forest.replay.runner import TargetNotAllowed, ensure_loopback, login, replay
from forest.replay.stats import RunResult
from forest.replay.synthetic import discover_catalog, synthetic_entries

app = typer.Typer(
    help="Replay recorded (or synthetic) traffic open-loop against a Forest API and compare runs.",
    no_args_is_help=True,
)
SYNTHETIC = "synthetic"
# Without --duration the synthetic mix runs this long.
DEFAULT_SYNTHETIC_DURATION_S = 30.0


@app.command()
def run(
    log: Annotated[str, typer.Argument(help="Access log (JSONL) to replay, or 'synthetic' for the built-in mix.")],
    target: Annotated[str, typer.Option(help="Base URL of the API, e.g. http://127.0.0.1:8000.")],
    speed: Annotated[float, typer.Option(help="Replay speed: 2 sends the log twice as fast.")] = 1.0,
    duration: Annotated[float | None, typer.Option(help="Stop scheduling requests after this many seconds.")] = None,
    concurrency: Annotated[int, typer.Option(help="Maximum requests in flight.")] = 64,
    token: Annotated[str | None, typer.Option(help="Send 'Authorization: Bearer TOKEN'.")] = None,
    login_as: Annotated[
        str | None, typer.Option("--login", help="EMAIL:PASSWORD to exchange for a token first.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Save the run (with histograms) as JSON.")] = None,
    rate: Annotated[float, typer.Option(help="Synthetic mix: mean requests per second.")] = 20.0,
    seed: Annotated[int, typer.Option(help="Synthetic mix: random seed.")] = 0,
    timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds.")] = 30.0,
    allow_non_loopback: Annotated[bool, typer.Option(help="Allow a target that is not on this machine.")] = False,
) -> None:
    """Replay LOG against TARGET open-loop and print latency percentiles per route."""
    console = Console()
    if token and login_as:
        raise typer.BadParameter("give either --token or --login, not both")
    if login_as is not None and ":" not in login_as:
        raise typer.BadParameter("--login takes EMAIL:PASSWORD")
    try:
        result = asyncio.run(
            _run(
                log,
                target=target,
                speed=speed,
                duration=duration,
                concurrency=concurrency,
                token=token,
                login_as=login_as,
                rate=rate,
                seed=seed,
                request_timeout=timeout,
                allow_non_loopback=allow_non_loopback,
                console=console,
            )
        )
    except TargetNotAllowed as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(2) from exc
    except (PermissionError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(run_table(result))
    if out is not None:
        result.save(out)
        console.print(f"saved to {out}")


async def _run(
    log: str,
    *,
    target: str,
    speed: float,
    duration: float | None,
    concurrency: int,
    token: str | None,
    login_as: str | None,
    rate: float,
    seed: int,
    request_timeout: float,
    allow_non_loopback: bool,
    console: Console,
) -> RunResult:
    if not allow_non_loopback:
        await ensure_loopback(target)
    headers: dict[str, str] = {}
    if login_as is not None:
        email, password = login_as.split(":", 1)
        token = await login(
            target, email, password, allow_non_loopback=allow_non_loopback, request_timeout=request_timeout
        )
    if token:
        headers["Authorization"] = f"Bearer {token}"
    entries: list[ReplayEntry]
    if log == SYNTHETIC:
        catalog = await discover_catalog(target, headers=headers, request_timeout=request_timeout)
        length = duration if duration is not None else DEFAULT_SYNTHETIC_DURATION_S
        entries = synthetic_entries(rate=rate, duration=length * speed, seed=seed, catalog=catalog)
    else:
        entries = read_log(Path(log))
    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("replay", total=len(entries))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return await replay(
            entries,
            target=target,
            speed=speed,
            concurrency=concurrency,
            duration=duration,
            headers=headers,
            request_timeout=request_timeout,
            allow_non_loopback=allow_non_loopback,
            on_progress=advance,
        )


@app.command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="Run A (the baseline), saved with --out.")],
    candidate: Annotated[Path, typer.Argument(help="Run B, compared against A.")],
    min_effect: Annotated[float, typer.Option(help="Smallest relative change reported as faster/slower.")] = 0.10,
    alpha: Annotated[float, typer.Option(help="Significance level of the tests.")] = 0.01,
    fail_on_slower: Annotated[bool, typer.Option(help="Exit with status 1 when any route is slower.")] = False,
) -> None:
    """Compare two saved runs route by route: change of p50, p99 and throughput, with a verdict."""
    console = Console()
    try:
        a = RunResult.load(baseline)
        b = RunResult.load(candidate)
    except (OSError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    comparisons = compare_runs(a, b, min_effect=min_effect, alpha=alpha)
    console.print(comparison_table(comparisons, title=f"{baseline} → {candidate}"))
    for route in sorted(a.routes.keys() - b.routes.keys()):
        console.print(f"only in {baseline}: {route}")
    for route in sorted(b.routes.keys() - a.routes.keys()):
        console.print(f"only in {candidate}: {route}")
    if fail_on_slower and any(row.verdict == "slower" for row in comparisons):
        raise typer.Exit(1)
