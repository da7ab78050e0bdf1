"""`forest up`: migrate, then run the demo board, a worker with beat, and the API as one process tree."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from types import FrameType

import httpx
import typer
from rich.console import Console

from forest.cli import migrate
from forest.cli.supervise import Supervisor
from forest.config import Settings, get_settings
from forest.filemodes import protect_sqlite
from forest.worker.broker import QUEUES, declare_queue

console = Console()


def _ensure_demo_source(settings: Settings, base_url: str) -> None:
    from forest.database import Database
    from forest.sources import service

    async def run() -> None:
        db = Database.from_settings(settings)
        try:
            async with db.sessionmaker() as session:
                source = await service.ensure_demo_source(session=session, base_url=base_url)
                console.print(f"default source [bold]{source.name}[/bold] (id {source.id}) → {source.start_url}")
        finally:
            await db.dispose()

    asyncio.run(run())


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise typer.Exit(1)
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise typer.Exit(1)


def _log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def up(
    demo: bool = typer.Option(True, help="Run the local demo bid board as the default source."),
    workers: int = typer.Option(1, help="Celery worker processes."),
) -> None:
    """Run the whole product: migrations, the demo board, a worker with beat, and the API.

    A child that dies (the worker killed, the API crashing) is started again after a backoff; Ctrl-C or
    SIGTERM stops them all.
    """
    settings = get_settings()
    migrate.upgrade("head", settings)
    console.print(f"database ready: [dim]{settings.database_url.split('@')[-1]}[/dim]")
    protect_sqlite(settings.broker_url, settings.var_dir)  # created next, by the queue declarations
    for queue in QUEUES:
        declare_queue(settings.broker_url, queue)
    python = [sys.executable, "-m", "forest.cli.main"]
    children = Supervisor(_log)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        children.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if demo:
            port = settings.demo_site_port
            board = children.start("demo board", [*python, "demo-site", "--port", str(port),
                                                  "--notices", str(settings.demo_site_notices)])
            base = f"http://127.0.0.1:{port}"
            _wait_http(f"{base}/robots.txt", board)
            _ensure_demo_source(settings, base)
        children.start("worker", [*python, "worker", "--concurrency", str(workers), "--beat"])
        api = children.start("api", [*python, "api"])
        _wait_http(f"http://{settings.api_host}:{settings.api_port}/healthz", api)
        console.print(f"[bold green]Forest is up:[/bold green] http://{settings.api_host}:{settings.api_port} "
                      "(dashboard), /docs (API). Ctrl-C stops everything.")
        while True:
            children.poll()
            time.sleep(0.5)
    finally:
        children.stop()
