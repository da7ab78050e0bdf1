"""The `forest` command line: runs the service's processes and calls services directly."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from forest.cli import data, migrate
from forest.cli.crawl import crawl_command
from forest.cli.export import export_command
from forest.cli.up import up
from forest.config import Settings
from forest.demo_site import cli as demo_site_cli
from forest.logs import install_log_redaction
from forest.replay import cli as replay_cli

app = typer.Typer(help="Forest: public bid notice boards, crawled and served.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations, backup and restore.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(data.seed_app, name="seed")
app.command("explain")(data.explain)
app.command("crawl")(crawl_command)
app.command("export")(export_command)
app.command("up")(up)
app.add_typer(demo_site_cli.app, name="demo-site", help="Run the local demo bid board.")
app.add_typer(replay_cli.app, name="replay", help="Record and replay traffic; compare runs.")
console = Console()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrate.upgrade(revision)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base.")) -> None:
    """Revert migrations down to REVISION."""
    migrate.downgrade(revision)


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    migrate.check()
    console.print("[green]models and migrations agree[/green]")


@db_app.command("backup")
def db_backup(file: Annotated[Path, typer.Argument(help="Where to write the backup.", dir_okay=False)]) -> None:
    """Write a consistent backup of the database to FILE while it keeps serving (pg_dump or SQLite's backup API)."""
    from forest import backup
    from forest.config import get_settings

    try:
        result = backup.backup(get_settings(), file)
    except backup.BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{result.backend} backup written to {result.path} ({result.bytes:,} bytes)")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A file made by `forest db backup`.", exists=True, dir_okay=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before replacing the database's contents.")] = False,
) -> None:
    """Replace the database's contents with the backup in FILE, all or nothing."""
    from forest import backup
    from forest.config import get_settings

    settings = get_settings()
    if not yes:
        typer.confirm(f"Replace everything in {settings.database_url.split('@')[-1]} with {file}?", abort=True)
    try:
        result = backup.restore(settings, file)
    except backup.BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{result.backend} database restored from {result.path}")


@users_app.command("create-admin")
def create_admin(
    email: str,
    password: Annotated[str | None, typer.Option(envvar="FOREST_ADMIN_PASSWORD", help="Read from the environment.")]
    = None,
) -> None:
    """Create an admin (or promote an existing user), asking for the password unless FOREST_ADMIN_PASSWORD is set."""
    from forest.config import get_settings
    from forest.database import Database
    from forest.errors import ValidationFailed
    from forest.users import passwords, service

    if password is None:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            raise typer.BadParameter("passwords differ")
    if not 8 <= len(password) <= 128:
        raise typer.BadParameter("the password must be 8 to 128 characters")

    async def run() -> None:
        settings = get_settings()
        try:
            await passwords.check_strength(password, email=email, min_score=settings.password_min_score)
        except ValidationFailed as exc:
            raise typer.BadParameter(exc.detail) from exc
        db = Database.from_settings(settings)
        try:
            async with db.sessionmaker() as session:
                user = await service.ensure_admin(session=session, email=email, password=password)
                console.print(f"admin [bold]{user.email}[/bold] (id {user.id}) ready")
        finally:
            await db.dispose()

    asyncio.run(run())


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API and the dashboard with uvicorn."""
    import uvicorn

    from forest.config import get_settings

    settings = get_settings()
    uvicorn.run("forest.app:create_app", factory=True, host=host or settings.api_host, port=port or settings.api_port,
                workers=workers, log_level="info", **server_options(settings))


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options of `forest api` that follow from the settings (tests start servers with them too)."""
    # ws_max_size: uvicorn refuses a larger client message (close 1009) before buffering it; its default
    # is 16 MiB. The WebSocket route checks again, for servers started without these options.
    return {"proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips,
            "access_log": settings.request_log, "ws_per_message_deflate": settings.ws_compression,
            "ws_max_size": settings.ws_max_message_bytes}


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")] = 1,
    crawls_per_process: Annotated[int | None, typer.Option(
        "--crawls-per-process", min=1, max=1000,
        help="Crawl jobs each process runs at once on its event loop "
        "(default: FOREST_WORKER_CRAWLS_PER_PROCESS, 200).")] = None,
    beat: Annotated[bool, typer.Option(help="Also run the periodic scheduler in this process.")] = False,
    hostname: Annotated[str | None, typer.Option(help="Celery node name.")] = None,
    queues: Annotated[str, typer.Option(
        "--queues", "-Q", help="Comma-separated queues to consume: `forest` (crawls and periodic tasks), "
        "`forest.webhooks` (alert webhook deliveries). Default: both.")] = "forest,forest.webhooks",
) -> None:
    """Run Celery worker processes for crawl jobs and webhook deliveries (docs/jobs.md, "Worker processes")."""
    from forest.worker.broker import QUEUES

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if not names or unknown:
        raise typer.BadParameter(f"unknown queue(s) {', '.join(unknown) or '(none)'}; known: {', '.join(QUEUES)}",
                                 param_hint="--queues")
    if crawls_per_process is not None:
        os.environ["FOREST_WORKER_CRAWLS_PER_PROCESS"] = str(crawls_per_process)  # this process and its children
    if concurrency > 1:
        _worker_processes(concurrency, beat=beat, hostname=hostname, queues=",".join(names))
        return
    from forest.config import get_settings
    from forest.worker.celery_app import celery

    get_settings.cache_clear()
    settings = get_settings()
    lower_priority(settings.worker_nice)
    slots = settings.worker_crawls_per_process
    # The pool is the app's (`worker_pool`: Celery's thread pool, forest.worker.pool).
    argv = ["worker", "--loglevel=INFO", f"--concurrency={slots}", "-E", "-Q", ",".join(names),
            "--without-gossip", "--without-mingle"]
    if beat:
        argv.append("--beat")
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery.conf.worker_concurrency = slots
    celery.worker_main(argv)


def lower_priority(nice: int) -> None:
    """Set this process's niceness (absolute, Linux) before it starts threads, which inherit it."""
    if nice and sys.platform == "linux":
        # PRIO_PROCESS 0 is the calling thread on Linux; threads started later (Celery's pool, the event loop's
        # executors) inherit it. Raising niceness needs no privilege.
        os.setpriority(os.PRIO_PROCESS, 0, nice)


def _worker_processes(count: int, *, beat: bool, hostname: str | None, queues: str) -> None:
    """Run `count` single-process workers as children, restarting one that dies; beat runs in the first."""
    import signal
    import time

    from forest.cli.supervise import Supervisor

    name, _, host = (hostname or "forest@%h").partition("@")
    children = Supervisor(lambda message: console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}"))

    def on_signal(_signum: int, _frame: object) -> None:
        children.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for i in range(1, count + 1):
            argv = [sys.executable, "-m", "forest.cli.main", "worker", "--concurrency", "1", "--queues", queues,
                    "--hostname", f"{name}-{i}@{host or '%h'}", *(["--beat"] if beat and i == 1 else [])]
            children.start(f"worker {i}", argv)
        while True:
            children.poll()
            time.sleep(0.5)
    finally:
        children.stop()


@app.command()
def beat() -> None:
    """Run the periodic scheduler (source schedules, the webhook sweep; workers reap stale jobs themselves)."""
    from forest.config import get_settings
    from forest.filemodes import private_dir
    from forest.worker.celery_app import celery

    schedule = private_dir(get_settings().var_dir) / "celerybeat-schedule"
    celery.start(["beat", "--loglevel=INFO", f"--schedule={schedule}"])


def main() -> None:
    """Entry point for `python -m forest.cli.main`."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    install_log_redaction()
    app()


if __name__ == "__main__":
    main()
