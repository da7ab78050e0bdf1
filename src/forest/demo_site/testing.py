"""Run the demo board on a free local port in a background thread, for tests and benchmarks."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from forest.demo_site.app import create_demo_app
from forest.demo_site.board import Board
from forest.demo_site.params import get_board

_STARTUP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class DemoSite:
    """A running demo board: its address and its live Board."""

    base_url: str
    board: Board
    app: Starlette

    def url(self, path: str) -> str:
        """An absolute URL on this site for `path` (which starts with '/')."""
        return self.base_url + path


class ThreadedServer(uvicorn.Server):
    """A uvicorn server that reports readiness through an event instead of being polled."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@contextmanager
def running_demo_site(
    *, notices: int = 500, seed: int = 1, robots_txt: str | None = None, host: str = "127.0.0.1"
) -> Iterator[DemoSite]:
    """Serve a fresh demo board on `host` (127.0.0.1, or IPv6 such as ::1) at a free port until the block exits."""
    app = create_demo_app(notices=notices, seed=seed, robots_txt=robots_txt)
    ipv6 = ":" in host
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Binding here, not in uvicorn, hands us the port before the server starts: no race for a free port.
    sock.bind((host, 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = ThreadedServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="demo-site", daemon=True)
    thread.start()
    try:
        if not server.ready.wait(_STARTUP_TIMEOUT):
            raise RuntimeError("demo site did not start")
        yield DemoSite(base_url=f"http://{f'[{host}]' if ipv6 else host}:{port}", board=get_board(app), app=app)
    finally:
        server.should_exit = True
        thread.join(_STARTUP_TIMEOUT)
        sock.close()
