"""A lean Redis connection for the politeness schedule's script calls: one connection per event loop, requests
pipelined on it, replies matched to callers in order.

The schedule runs its Lua script about three times per page a crawl fetches. Through redis-py's asyncio client
each call took a connection from the pool, packed the command, awaited a write and a read under per-call
timeouts, parsed and handed the connection back: about 0.4 ms of CPU per call on the benchmark machine, 13 %
of a worker's CPU in a fleet run. Here a call is one write on an `asyncio.Protocol` and one future resolved by
`data_received`; a watchdog fails the connection when a reply is overdue, in place of a timer per call.

Only what the script calls need: `EVALSHA` (falling back to `EVAL` when Redis does not know the script yet,
which also caches it), replies that are simple strings, errors, integers or bulk strings, and `redis://` or
`unix://` URLs (the schedule uses redis-py for anything else). Errors are redis-py's, so callers (and the
job runner's "is this the infrastructure's fault" test) see the same exceptions as before.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from typing import Any

from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_CRLF = b"\r\n"


def supported(url: str) -> bool:
    """Whether `Link` can serve this URL (plain TCP or a Unix socket; no TLS, no options beyond the database)."""
    return (url.startswith("redis://") or url.startswith("unix://")) and "?" not in url.split("@")[-1]


def pack(*args: str | bytes | int | float) -> bytes:
    """One command in RESP."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    """Parses replies as they arrive and resolves the waiting futures in order."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._buffer = bytearray()
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pending = self._link.pending
        while buffer:
            try:
                reply, used = _parse(buffer)
            except (RedisConnectionError, ValueError) as exc:
                self._link.fail(RedisConnectionError(f"unreadable reply from Redis: {exc}"))
                return
            if used == 0:
                return
            del buffer[:used]
            if not pending:
                self._link.fail(RedisConnectionError("a reply from Redis that nobody asked for"))
                return
            future, _ = pending.popleft()
            if not future.done():  # a caller that gave up (cancelled) leaves its reply unread
                if isinstance(reply, ResponseError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not self._link.transport:
            return  # a connection the link already dropped (and failed its requests)
        self._link.fail(RedisConnectionError(f"connection to Redis lost: {exc}" if exc else "Redis closed the "
                                             "connection"))


def _parse(buffer: bytearray, start: int = 0) -> tuple[Any, int]:
    """One reply from `buffer[start:]` and the offset after it; (None, 0) while incomplete."""
    end = buffer.find(_CRLF, start)
    if end < 0:
        return None, 0
    kind, line = buffer[start], bytes(buffer[start + 1:end])
    if kind == 36:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, end + 2
        stop = end + 2 + size
        if len(buffer) < stop + 2:
            return None, 0
        return bytes(buffer[end + 2:stop]), stop + 2
    if kind == 43:  # + simple string
        return line, end + 2
    if kind == 58:  # : integer
        return int(line), end + 2
    if kind == 45:  # - error
        message = line.decode(errors="replace")
        error = NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)
        return error, end + 2
    if kind == 42:  # * array
        count = int(line)
        if count < 0:
            return None, end + 2
        items: list[Any] = []
        offset = end + 2
        for _ in range(count):
            item, offset = _parse(buffer, offset)
            if offset == 0:
                return None, 0
            items.append(item)
        return items, offset
    raise RedisConnectionError(f"unexpected reply from Redis: {bytes(buffer[start:start + 40])!r}")


class Link:
    """One pipelined connection to Redis, on the loop that first uses it."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0, reply_timeout: float = 5.0) -> None:
        self._options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        self._connect_timeout = connect_timeout
        self._reply_timeout = reply_timeout
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        # Futures awaiting their reply, in the order their commands were sent, with the time each was sent.
        self.pending: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        opts = self._options
        async with asyncio.timeout(self._connect_timeout):
            try:
                if "path" in opts:
                    transport, _ = await loop.create_unix_connection(lambda: _Protocol(self), opts["path"])
                else:
                    transport, _ = await loop.create_connection(lambda: _Protocol(self), opts.get("host", "localhost"),
                                                                int(opts.get("port", 6379)))
            except OSError as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
        self._transport = transport
        setup: list[bytes] = []
        if opts.get("password") is not None:
            user = opts.get("username")
            setup.append(pack("AUTH", *([user] if user else []), opts["password"]))
        if int(opts.get("db", 0) or 0):
            setup.append(pack("SELECT", int(opts["db"])))
        # Written before any other caller's command (no await in between), so those run on the right database.
        for reply in [self._send(command) for command in setup]:
            await reply

    async def _ensure(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            return
        if self._connecting is not None:  # another caller is connecting: wait for it
            await asyncio.shield(self._connecting)
            return
        connecting = self._connecting = asyncio.get_running_loop().create_future()
        try:
            await self._connect()
        except BaseException as exc:
            error = exc if isinstance(exc, RedisConnectionError | RedisTimeoutError | ResponseError) else \
                RedisTimeoutError("Redis did not accept the connection in time") if isinstance(exc, TimeoutError) \
                else RedisConnectionError(f"cannot connect to Redis: {exc!r}")
            self.fail(error)  # a half-made connection goes, with anything already sent on it
            connecting.set_exception(error)
            connecting.exception()  # retrieved: the other waiters re-raise it
            if isinstance(exc, Exception) and error is not exc:
                raise error from exc
            raise
        else:
            connecting.set_result(None)
        finally:
            self._connecting = None

    @property
    def transport(self) -> asyncio.Transport | None:
        """The current connection's transport (None while not connected)."""
        return self._transport

    def _send(self, command: bytes) -> asyncio.Future[Any]:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise RedisConnectionError("not connected to Redis")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((future, time.monotonic()))
        transport.write(command)
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._reply_timeout, self._check)
        return future

    def _check(self) -> None:
        """Fail the connection if the oldest request waited longer than the reply timeout; else check again."""
        self._watchdog = None
        if not self.pending:
            return
        overdue = time.monotonic() - self.pending[0][1] - self._reply_timeout
        if overdue >= 0:
            self.fail(RedisTimeoutError(f"Redis did not answer within {self._reply_timeout} s"))
            return
        self._watchdog = asyncio.get_running_loop().call_later(-overdue + 0.01, self._check)

    def fail(self, exc: Exception) -> None:
        """Drop the connection and fail every request waiting on it (the next call connects again)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort()
        pending, self.pending = self.pending, collections.deque()
        for future, _ in pending:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # a caller that gave up must not leave an unretrieved exception behind
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def call(self, *args: str | bytes | int | float) -> Any:
        """Send one command and return its reply (a ResponseError reply is raised)."""
        await self._ensure()
        return await self._send(pack(*args))

    async def script(self, source: str, sha: str, keys: list[str], args: list[str | int]) -> Any:
        """EVALSHA of a script, EVAL (which caches it) the first time this Redis sees it."""
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.call("EVAL", source, len(keys), *keys, *args)

    def close(self) -> None:
        """Close the connection."""
        self.fail(RedisConnectionError("connection closed"))


def sha1(source: str) -> str:
    """The SHA1 Redis names a script by."""
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
