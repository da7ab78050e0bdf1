"""The crawler's HTTP/1.1 connections: an asyncio network backend for httpcore and a lean keep-alive cache.

httpcore's pool re-examines every connection on every request and response (through AnyIO, each
"is this idle socket readable?" builds a dict of socket attributes with a getpeername call); with
16 requests in flight that bookkeeping cost more CPU than parsing the pages. Here the Fetcher's
semaphores bound the requests in flight, so a stack of idle connections per key is enough, and
reads and writes go straight to asyncio streams.
"""

from __future__ import annotations

import asyncio
import select
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import httpx

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


def _is_readable(sock: Any) -> bool:
    # A closed or missing socket reads as readable: its next read returns b"", so the pool drops it.
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (or TLS) connection as asyncio reader/writer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._socket = writer.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to `max_bytes`; b"" at end of stream."""
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send all of `buffer`."""
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        """Close without waiting for the peer."""
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Upgrade to TLS, verifying `server_hostname`."""
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._writer.close()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (OSError, ssl.SSLError) as exc:
            self._writer.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return AsyncioStream(self._reader, self._writer)

    def get_extra_info(self, info: str) -> Any:
        """What httpcore asks for: ssl_object, client_addr, server_addr, socket, is_readable."""
        if info == "is_readable":
            # asyncio reads eagerly, so a peer's close may already sit in the reader rather than the socket.
            return self._reader.at_eof() or _is_readable(self._socket)
        if info == "socket":
            return self._socket
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens AsyncioStreams."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to `host:port` (an address: the egress policy resolved it already)."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None, limit=2**20
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        # asyncio already sets TCP_NODELAY on TCP sockets.
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the running loop."""
        await asyncio.sleep(seconds)


# httpcore's errors as the httpx errors the Fetcher retries on; the most specific class first.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _as_httpx(exc: Exception, request: httpx.Request) -> Exception:
    for core, mapped in _ERRORS:
        if isinstance(exc, core):
            return mapped(str(exc) or type(exc).__name__, request=request)
    return exc


ConnectionKey = tuple[str, str, int, str]


class _Body(httpx.AsyncByteStream):
    """A response body; closing it hands the connection back for reuse (or drops it if unusable)."""

    def __init__(
        self,
        cache: ConnectionCache,
        key: ConnectionKey,
        connection: httpcore.AsyncHTTPConnection,
        stream: Any,
        request: httpx.Request,
    ) -> None:
        self._cache = cache
        self._key = key
        self._connection = connection
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            raise _as_httpx(exc, self._request) from exc

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._cache.release(self._key, self._connection)


class ConnectionCache:
    """Keep-alive HTTP/1.1 connections, kept apart per (scheme, host name, port, address).

    A lean stand-in for httpcore's pool, whose bookkeeping on every request and response grows
    with the number of connections: the Fetcher's semaphores already bound how many requests run,
    so there is no queue here, only a stack of idle connections per key.
    """

    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, keepalive_expiry: float = 5.0, max_idle_per_key: int = 32
    ) -> None:
        self._backend = AsyncioBackend()
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._keepalive_expiry = keepalive_expiry
        self._max_idle = max_idle_per_key
        self._idle: dict[ConnectionKey, list[httpcore.AsyncHTTPConnection]] = {}
        self._open: set[httpcore.AsyncHTTPConnection] = set()

    def _acquire(self, key: ConnectionKey, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            # has_expired: keep-alive ran out, or the server closed its end while the connection sat idle.
            if connection.is_idle() and not connection.has_expired():
                return connection
            self._open.discard(connection)
            self._close_later(connection)
        connection = httpcore.AsyncHTTPConnection(
            origin, ssl_context=self._ssl_context, keepalive_expiry=self._keepalive_expiry,
            network_backend=self._backend,
        )
        _plain_lock(connection, "_request_lock")
        self._open.add(connection)
        return connection

    def release(self, key: ConnectionKey, connection: httpcore.AsyncHTTPConnection) -> None:
        """Take a connection back after its response was closed."""
        idle = self._idle.setdefault(key, [])
        if connection.is_idle() and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            self._open.discard(connection)
            self._close_later(connection)

    def _close_later(self, connection: httpcore.AsyncHTTPConnection) -> None:
        if not connection.is_closed():
            task = asyncio.get_running_loop().create_task(connection.aclose())
            task.add_done_callback(_consume_error)

    async def send(self, request: httpx.Request, *, key: ConnectionKey, address: str) -> httpx.Response:
        """Send `request` to `address` (the URL keeps its host name for Host and SNI)."""
        url = request.url
        scheme = url.raw_scheme
        port = url.port or (443 if scheme == b"https" else 80)
        host = address.encode("ascii")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=scheme, host=host, port=port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        connection = self._acquire(key, httpcore.Origin(scheme, host, port))
        try:
            response = await connection.handle_async_request(core_request)
            if not getattr(connection, "_forest_plain", False):  # the HTTP/1.1 connection made by the first request
                _plain_lock(getattr(connection, "_connection", None), "_state_lock")
                connection._forest_plain = True  # type: ignore[attr-defined]
        except BaseException as exc:  # cancelled (the request timeout) included: the connection is not reused
            self._open.discard(connection)
            self._close_later(connection)
            if isinstance(exc, Exception):
                raise _as_httpx(exc, request) from exc
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(self, key, connection, response.stream, request),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        """Close every connection."""
        connections, self._open, self._idle = list(self._open), set(), {}
        for connection in connections:
            await connection.aclose()


def _plain_lock(owner: object, name: str) -> None:
    """Give an httpcore connection an asyncio.Lock in place of its AnyIO lock.

    httpcore's AsyncLock acquires an AnyIO lock, which yields to the event loop on every acquire even when
    the lock is free (a checkpoint): three extra loop turns per request here, ~3 % of a crawling worker's CPU.
    A connection of this cache serves one request at a time (it leaves the idle stack while in use), so the
    locks are never contended; asyncio.Lock takes a free lock without yielding. Left alone if httpcore's
    internals are not what this expects.
    """
    if owner is not None and hasattr(owner, name) and type(getattr(owner, name)).__name__ == "AsyncLock":
        setattr(owner, name, asyncio.Lock())


def _consume_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
