"""Access recording: an ASGI middleware that appends one JSON line per HTTP request."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import time
from collections.abc import Iterable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forest.logs import CREDENTIAL_PARAMS

#: Query parameters whose values are credentials; they are dropped from the recorded query.
SECRET_PARAMS: frozenset[str] = CREDENTIAL_PARAMS

# Lines wait at most this long in memory before they are written; short enough that a crash
# loses little, long enough that a busy process writes one batch instead of one line per request.
_FLUSH_INTERVAL_S = 0.05


def redact_query(query: str, secrets: Iterable[str] = SECRET_PARAMS) -> str:
    """Return the query string without the parameters named in ``secrets``, otherwise unchanged."""
    if not query:
        return ""
    hidden = {name.lower() for name in secrets}
    kept = [
        part for part in query.split("&") if part and unquote_plus(part.split("=", 1)[0]).strip().lower() not in hidden
    ]
    return "&".join(kept)


def format_ts(epoch_s: float) -> str:
    """Format a Unix time as RFC 3339 UTC with microseconds, e.g. ``2026-11-20T09:30:00.123456Z``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AppendLog:
    """A JSONL file appended to with ``O_APPEND``: every ``write()`` holds whole lines only.

    Lines are buffered briefly and written from a worker thread, so a slow disk never stalls
    the event loop. With ``O_APPEND`` the kernel places each write at the current end of file,
    so several processes can share one file without interleaving or overwriting lines.
    """

    def __init__(self, path: Path, *, flush_interval: float = _FLUSH_INTERVAL_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._flush_interval = flush_interval
        self._buffer: list[bytes] = []
        self._buffer_lock = threading.Lock()
        # Serialises take-and-write so batches reach the file in the order they were buffered.
        self._write_lock = threading.Lock()
        self._drain_pending = False
        self._tasks: set[asyncio.Task[None]] = set()
        atexit.register(self.close)

    def append(self, record: dict[str, Any]) -> None:
        """Queue one record; it reaches the file within the flush interval."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        with self._buffer_lock:
            self._buffer.append(line)
            if self._drain_pending:
                return
            self._drain_pending = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        task = loop.create_task(self._drain())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        await asyncio.sleep(self._flush_interval)
        await asyncio.to_thread(self.flush)

    def flush(self) -> None:
        """Write every buffered line now (blocking; safe from any thread)."""
        with self._write_lock:
            with self._buffer_lock:
                data = b"".join(self._buffer)
                self._buffer.clear()
                self._drain_pending = False
            if self._fd is None or not data:
                return
            view = memoryview(data)
            while view:
                # A regular file only writes short on a full disk or a signal; finish the batch.
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        """Flush and close the file; later records are dropped."""
        self.flush()
        with self._write_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        atexit.unregister(self.close)


class AccessLogMiddleware:
    """Pure ASGI middleware that records each HTTP request as one JSON line in ``path``.

    A line holds ``ts``, ``method``, ``path``, ``query`` (secrets removed), ``status``,
    ``latency_ms`` and ``route`` (the route template). Headers, bodies and cookies are never
    recorded. The file is flushed on lifespan shutdown and at interpreter exit.
    """

    def __init__(self, app: ASGIApp, path: Path, *, flush_interval: float = _FLUSH_INTERVAL_S) -> None:
        self.app = app
        self.log = AppendLog(Path(path), flush_interval=flush_interval)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the wrapped app and record the request once it has been answered."""
        if scope["type"] == "lifespan":
            await self.app(scope, self._flush_on_shutdown(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started_wall = time.time()
        started = time.perf_counter()
        status = 500

        async def send_and_capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_capture)
        finally:
            self.log.append(
                {
                    "ts": format_ts(started_wall),
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": redact_query(scope.get("query_string", b"").decode("latin-1")),
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    "route": _route_template(scope),
                }
            )

    def _flush_on_shutdown(self, receive: Receive) -> Receive:
        async def receive_and_flush() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.log.flush()
            return message

        return receive_and_flush


def _route_template(scope: MutableMapping[str, Any]) -> str:
    """Return the matched route's template (set by FastAPI's router), else the raw path."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    return str(scope["path"])
