"""The `forest` command line: runs the service's processes and calls services directly."""

from __future__ import annotations

import asyncio
import getpass
import os
from typing import Annotated, Any

import typer
from rich.console import Console

from forest.cli import data, migrate
from forest.cli.crawl import crawl_command
from forest.cli.up import up
from forest.config import Settings
from forest.demo_site import cli as demo_site_cli
from forest.replay import cli as replay_cli

app = typer.Typer(help="Forest: public bid notice boards, crawled and served.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(data.seed_app, name="seed")
app.command("explain")(data.explain)
app.command("crawl")(crawl_command)
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


@users_app.command("create-admin")
def create_admin(
    email: str,
    password: Annotated[str | None, typer.Option(envvar="FOREST_ADMIN_PASSWORD", help="Read from the environment.")]
    = None,
) -> None:
    """Create an admin (or promote an existing user), asking for the password unless FOREST_ADMIN_PASSWORD is set."""
    from forest.config import get_settings
    from forest.database import Database
    from forest.users import service

    if password is None:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            raise typer.BadParameter("passwords differ")
    if not 8 <= len(password) <= 128:
        raise typer.BadParameter("the password must be 8 to 128 characters")

    async def run() -> None:
        db = Database.from_settings(get_settings())
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
            "ws_per_message_deflate": settings.ws_compression, "ws_max_size": settings.ws_max_message_bytes}


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Worker processes.")] = 2,
    beat: Annotated[bool, typer.Option(help="Also run the periodic scheduler in this process.")] = False,
    hostname: Annotated[str | None, typer.Option(help="Celery node name.")] = None,
    queues: Annotated[str, typer.Option(
        "--queues", "-Q", help="Comma-separated queues to consume: `forest` (crawls and periodic tasks), "
        "`forest.webhooks` (alert webhook deliveries). Default: both.")] = "forest,forest.webhooks",
) -> None:
    """Run a Celery worker for crawl jobs and webhook deliveries."""
    from forest.worker.broker import QUEUES
    from forest.worker.celery_app import celery

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if not names or unknown:
        raise typer.BadParameter(f"unknown queue(s) {', '.join(unknown) or '(none)'}; known: {', '.join(QUEUES)}",
                                 param_hint="--queues")
    argv = ["worker", "--loglevel=INFO", f"--concurrency={concurrency}", "-E", "-Q", ",".join(names),
            "--without-gossip", "--without-mingle"]
    if beat:
        argv.append("--beat")
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery.worker_main(argv)


@app.command()
def beat() -> None:
    """Run the periodic scheduler (stale-job reaper and source schedules)."""
    from forest.config import get_settings
    from forest.worker.celery_app import celery

    schedule = get_settings().var_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    celery.start(["beat", "--loglevel=INFO", f"--schedule={schedule}"])


def main() -> None:
    """Entry point for `python -m forest.cli.main`."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


if __name__ == "__main__":
    main()
