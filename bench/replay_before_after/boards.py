"""The demo board on many loopback hosts at once, for `bench/replay_before_after/run.py`.

    python bench/replay_before_after/boards.py --port P --hosts N [--notices 2000] [--seed 7]

One process, one board (`forest.demo_site.app.create_demo_app`), listening on 127.0.0.1 and on the fleet's
addresses 127.0.0.2 … (`forest.demo_site.fleet.host_address`), all on one port. Forest keeps one politeness
schedule per host across every crawl (`forest.crawler.hosts`), so crawls of sources on one host take turns;
giving each crawl source its own host keeps every crawl's work the same whatever else is crawling.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn

from forest.demo_site.app import create_demo_app
from forest.demo_site.fleet import host_address


def main() -> None:
    """Serve the board on 127.0.0.1 and `--hosts` further loopback addresses until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hosts", type=int, required=True, help="loopback hosts beside 127.0.0.1")
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sockets = []
    for address in ["127.0.0.1", *(host_address(k) for k in range(args.hosts))]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, args.port))
        sock.listen(1024)
        sockets.append(sock)
    app = create_demo_app(notices=args.notices, seed=args.seed)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=1024)
    print(f"demo board on 127.0.0.1 and {args.hosts} more loopback hosts, port {args.port}", flush=True)
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
