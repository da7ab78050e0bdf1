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


def up(
    demo: bool = typer.Option(True, help="Run the local demo bid board as the default source."),
    workers: int = typer.Option(1, help="Celery worker processes."),
) -> None:
    """Run the whole product: migrations, the demo board, a worker with beat, and the API."""
    settings = get_settings()
    migrate.upgrade("head", settings)
    console.print(f"database ready: [dim]{settings.database_url.split('@')[-1]}[/dim]")
    protect_sqlite(settings.broker_url, settings.var_dir)  # created next, by the queue declarations
    for queue in QUEUES:
        declare_queue(settings.broker_url, queue)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    python = [sys.executable, "-m", "forest.cli.main"]

    def stop(*_: object) -> None:
        for name, proc in reversed(list(procs.items())):
            if proc.poll() is None:
                console.print(f"stopping {name}")
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if demo:
            port = settings.demo_site_port
            procs["demo board"] = subprocess.Popen([*python, "demo-site", "--port", str(port),
                                                    "--notices", str(settings.demo_site_notices)])
            base = f"http://127.0.0.1:{port}"
            _wait_http(f"{base}/robots.txt", procs["demo board"])
            _ensure_demo_source(settings, base)
        procs["worker"] = subprocess.Popen([*python, "worker", "--concurrency", str(workers), "--beat"])
        procs["api"] = subprocess.Popen([*python, "api"])
        _wait_http(f"http://{settings.api_host}:{settings.api_port}/healthz", procs["api"])
        console.print(f"[bold green]Forest is up:[/bold green] http://{settings.api_host}:{settings.api_port} "
                      "(dashboard), /docs (API). Ctrl-C stops everything.")
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    console.print(f"[red]{name} exited with {proc.returncode}; stopping[/red]")
                    stop()
                    raise typer.Exit(1)
            time.sleep(0.5)
    finally:
        stop()
