"""Fixtures for webhook tests: a recording HTTP receiver on 127.0.0.1 and the demo board."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from forest.demo_site.testing import DemoSite


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint that records every request and answers from a script (then 200)."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def host_port(self) -> str:
        """`127.0.0.1:<port>`, as written in crawl_allow_hosts."""
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str = "/hook") -> str:
        """An absolute URL on this receiver."""
        return f"http://{self.host_port}{path}"

    def answer(self, *statuses: int | tuple[int, dict[str, str]]) -> None:
        """Answer the next requests with these statuses (optionally with headers), then 200."""
        self.script = [s if isinstance(s, tuple) else (s, {}) for s in statuses]

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """Block until at least `count` requests arrived."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.requests)} of {count} requests")
                self.changed.wait(left)
            return list(self.requests)

    def wait_until(self, done: Callable[[list[Received]], bool], timeout: float = 60) -> list[Received]:
        """Block until `done(requests so far)` holds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not done(list(self.requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver gave up waiting after {len(self.requests)} requests")
                self.changed.wait(left)
            return list(self.requests)


def _handler(receiver_ref: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = receiver_ref[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.changed:
                status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                receiver.changed.notify_all()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """Serve a fresh receiver on a free loopback port until the block exits."""
    ref: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    ref.append(Receiver(server=server))
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield ref[0]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A fresh receiver on a free loopback port."""
    with running_receiver() as r:
        yield r


@pytest.fixture(scope="session")
def demo_board(demo_boards: Callable[..., DemoSite]) -> DemoSite:
    """A small demo board (reset by the tests that need it fresh)."""
    return demo_boards(notices=40, seed=11)


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: float = 300) -> bool:
    """What a receiver does (docs/jobs.md "Webhooks"): recompute HMAC-SHA256 over `<t>.<body>`, compare."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = parts["t"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])
