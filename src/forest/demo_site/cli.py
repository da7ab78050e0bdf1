"""`forest demo-site`: serve the local demo bid board."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from forest.demo_site.app import create_demo_app

app = typer.Typer(help="Serve the local demo bid board (the default crawl source).")


@app.callback(invoke_without_command=True)
def demo_site(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    notices: Annotated[int, typer.Option(min=0, help="Number of regular notices on the board.")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed that fixes the generated notices.")] = 1,
    robots_file: Annotated[
        typer.FileText | None, typer.Option(help="Serve this file as /robots.txt instead of the default.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the demo bid board until interrupted."""
    robots_txt = robots_file.read() if robots_file is not None else None
    demo_app = create_demo_app(notices=notices, seed=seed, robots_txt=robots_txt)
    typer.echo(f"Demo bid board: http://{host}:{port}/kfs/bid/list.do ({notices} notices, seed {seed})")
    uvicorn.run(demo_app, host=host, port=port, log_level=log_level, access_log=False)
