"""A fleet of demo boards for load tests: many hosts (127.0.0.x addresses, one port) served by one process.

Each host serves `boards` eGovFrame boards at `/b<k>/kfs/bid/list.do` (board k has the same notices on every
host) and its own robots.txt; every `crawl_delay_every`-th host asks for `Crawl-delay: 1`. The process logs the
arrival time (`time.time()`) of every request per host, which `GET /_fleet/arrivals` returns (and
`POST /_fleet/reset` clears), so a benchmark can check each host's pace where a real site would see it.

    python -m forest.demo_site.fleet --hosts 250 --port 18080
"""

from __future__ import annotations

import argparse
import socket
import time
from collections import defaultdict

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from forest.demo_site import templates
from forest.demo_site.board import Board

CONTROL_PREFIX = "/_fleet/"
FIRST_ADDRESS = 2  # 127.0.0.2 is the first host; 127.0.0.1 stays free for the product itself


def host_address(index: int) -> str:
    """The loopback address of host `index` (0-based): 127.0.0.2 … 127.0.0.251, then 127.0.1.2 …"""
    third, fourth = divmod(index, 250)
    if third > 255:
        raise ValueError("too many hosts for 127.0.0.0/16")
    return f"127.0.{third}.{fourth + FIRST_ADDRESS}"


def crawl_delay_of(index: int, every: int) -> float | None:
    """The robots.txt Crawl-delay host `index` asks for (every `every`-th host asks for 1 s; 0 = none)."""
    return 1.0 if every > 0 and index % every == every - 1 else None


class _Arrivals:
    """Request arrival times per host (the listening address and port a request came in on)."""

    def __init__(self, app: ASGIApp, log: dict[str, list[float]]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL_PREFIX):
            host, port = scope.get("server") or ("?", 0)
            self.log[f"{host}:{port}"].append(time.time())
        await self.app(scope, receive, send)


def create_fleet_app(*, boards: int = 4, notices: int = 110, seed: int = 1, crawl_delay_every: int = 5,
                     addresses: dict[str, int] | None = None) -> Starlette:
    """The fleet's app; `addresses` maps each host's address to its index (for its robots.txt)."""
    shared = [Board(notices=notices, seed=seed + k) for k in range(boards)]
    index_of = addresses or {}
    log: dict[str, list[float]] = defaultdict(list)

    def board_of(request: Request) -> tuple[Board, str] | None:
        k = int(request.path_params["board"])
        return (shared[k], f"/b{k}/kfs/bid") if 0 <= k < len(shared) else None

    async def list_page(request: Request) -> Response:
        found = board_of(request)
        if found is None:
            return HTMLResponse(templates.not_found(), status_code=404)
        board, prefix = found
        try:
            page_index = max(1, int(request.query_params.get("pageIndex", "1")))
        except ValueError:
            page_index = 1
        return HTMLResponse(templates.egov_list(board.list_page(page_index), prefix=prefix))

    async def view_page(request: Request) -> Response:
        found = board_of(request)
        raw = request.query_params.get("nttId", "")
        notice = found[0].view(int(raw)) if found is not None and raw.isdigit() else None
        if found is None or notice is None:
            return HTMLResponse(templates.not_found(), status_code=404)
        return HTMLResponse(templates.egov_view(notice, prefix=found[1]))

    async def robots(request: Request) -> Response:
        host, _port = request.scope.get("server") or ("?", 0)
        delay = crawl_delay_of(index_of.get(host, 0), crawl_delay_every)
        return PlainTextResponse("User-agent: *\nDisallow: /private/\n" +
                                 (f"Crawl-delay: {delay:g}\n" if delay is not None else ""))

    async def arrivals(request: Request) -> Response:
        return JSONResponse({host: times for host, times in log.items()})

    async def reset(request: Request) -> Response:
        log.clear()
        return JSONResponse({"ok": True})

    app = Starlette(routes=[
        Route("/robots.txt", robots),
        Route("/b{board:int}/kfs/bid/list.do", list_page),
        Route("/b{board:int}/kfs/bid/view.do", view_page),
        Route(CONTROL_PREFIX + "arrivals", arrivals),
        Route(CONTROL_PREFIX + "reset", reset, methods=["POST"]),
    ])
    app.add_middleware(_Arrivals, log=log)
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the fleet until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=250)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--boards", type=int, default=4, help="boards per host")
    parser.add_argument("--notices", type=int, default=110, help="notices per board")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crawl-delay-every", type=int, default=5, help="every N-th host asks for Crawl-delay: 1")
    args = parser.parse_args(argv)
    addresses = {host_address(i): i for i in range(args.hosts)}
    sockets = []
    for address in addresses:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, args.port))
        sock.listen(1024)
        sockets.append(sock)
    app = create_fleet_app(boards=args.boards, notices=args.notices, seed=args.seed,
                           crawl_delay_every=args.crawl_delay_every, addresses=addresses)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=1024)
    print(f"fleet: {args.hosts} hosts x {args.boards} boards on port {args.port}", flush=True)
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
