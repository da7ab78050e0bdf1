"""The crawler's keep-alive connections: reuse, servers that drop idle connections, per-crawl DNS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from crawler_support import fake_dns

from forest.crawler.egress import EgressPolicy, PinnedTransport, UrlNotAllowed
from forest.crawler.fetch import Fetcher, FetchError, FetchOptions

BODY = b"<html><body>ok</body></html>"


class TinyServer:
    """HTTP/1.1 keep-alive server counting connections; `close_after_response` drops each connection."""

    def __init__(self, *, close_after_response: bool = False, ssl_context: ssl.SSLContext | None = None) -> None:
        self.close_after_response = close_after_response
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests = 0
        self.closed = 0
        self._closed_changed = asyncio.Condition()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.requests += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
                )
                await writer.drain()
                if self.close_after_response:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()  # the response was drained: the FIN follows it
            async with self._closed_changed:
                self.closed += 1
                self._closed_changed.notify_all()

    async def wait_closed(self, count: int) -> None:
        """Until the server has closed `count` connections."""
        async with self._closed_changed:
            await self._closed_changed.wait_for(lambda: self.closed >= count)

    async def __aenter__(self) -> TinyServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def keepalive_server() -> AsyncIterator[TinyServer]:
    async with TinyServer() as server:
        yield server


def fetcher_for(port: int, **options: object) -> Fetcher:
    values: dict[str, object] = {"delay_seconds": 0.0, "backoff_base": 0.01, "request_timeout": 5.0}
    values.update(options)
    return Fetcher(EgressPolicy([f"127.0.0.1:{port}"], remember=True), FetchOptions(**values))  # type: ignore[arg-type]


async def test_connections_are_reused_across_requests(keepalive_server: TinyServer) -> None:
    async with fetcher_for(keepalive_server.port, polite=False, concurrency=4) as fetcher:
        pages = await asyncio.gather(*(fetcher.get(f"http://127.0.0.1:{keepalive_server.port}/p{i}") for i in range(40)))

    assert all(page.text == BODY.decode() for page in pages)
    assert keepalive_server.requests == 40
    assert keepalive_server.connections <= 4


async def test_reused_connections_take_their_locks_without_yielding(keepalive_server: TinyServer) -> None:
    transport = PinnedTransport(EgressPolicy([f"127.0.0.1:{keepalive_server.port}"], remember=True))
    async with fetcher_for(keepalive_server.port, polite=False, concurrency=1) as fetcher:
        fetcher._client._transport = transport  # one transport to look into
        for i in range(3):
            await fetcher.get(f"http://127.0.0.1:{keepalive_server.port}/p{i}")
        cache = transport._connections
        (connection,) = cache._open
        assert isinstance(connection._request_lock, asyncio.Lock)
        assert isinstance(connection._connection._state_lock, asyncio.Lock)  # type: ignore[attr-defined]
    await transport.aclose()
    assert keepalive_server.connections == 1


async def test_server_closing_idle_connections_is_not_an_error() -> None:
    async with TinyServer(close_after_response=True) as server, fetcher_for(server.port, max_retries=0) as fetcher:
        for i in range(5):
            page = await fetcher.get(f"http://127.0.0.1:{server.port}/p{i}")
            assert page.status == 200
            await asyncio.wait_for(server.wait_closed(i + 1), 5)  # closed while the client's connection is idle

    assert (server.requests, server.connections) == (5, 5)


async def test_remembering_policy_resolves_each_host_once() -> None:
    lookups: list[str] = []
    dns = fake_dns({"www.forest.go.kr": ["93.184.216.34"]})

    async def counting(host: str, port: int) -> list[str]:
        lookups.append(host)
        return await dns(host, port)

    policy = EgressPolicy(resolver=counting, remember=True)
    first = await policy.check_url("https://www.forest.go.kr/kfs/bid/list.do?pageIndex=1")
    second = await policy.check_url("https://www.forest.go.kr/kfs/bid/view.do?nttId=7")

    assert (first.address, second.address) == ("93.184.216.34", "93.184.216.34")
    assert lookups == ["www.forest.go.kr"]
    # The per-URL checks still run on every URL.
    with pytest.raises(UrlNotAllowed, match="port 8443 is not allowed"):
        await policy.check_url("https://www.forest.go.kr:8443/kfs/bid/list.do")
    with pytest.raises(UrlNotAllowed, match="user name or password"):
        await policy.check_url("https://admin@www.forest.go.kr/kfs/bid/list.do")


async def test_plain_policy_resolves_every_time() -> None:
    lookups: list[str] = []
    dns = fake_dns({"www.forest.go.kr": ["93.184.216.34"]})

    async def counting(host: str, port: int) -> list[str]:
        lookups.append(host)
        return await dns(host, port)

    policy = EgressPolicy(resolver=counting)
    await policy.check_url("https://www.forest.go.kr/a")
    await policy.check_url("https://www.forest.go.kr/b")
    assert lookups == ["www.forest.go.kr", "www.forest.go.kr"]


def _certificates(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `name` signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Forest test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.mark.parametrize("certificate_name", ["board.example", "other.example"])
async def test_tls_verifies_the_url_host_name_on_the_pinned_address(tmp_path: Path, certificate_name: str) -> None:
    ca, cert, key = _certificates(tmp_path, certificate_name)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(ca))
    async with TinyServer(ssl_context=server_context) as server:
        policy = EgressPolicy(
            [f"board.example:{server.port}"], resolver=fake_dns({"board.example": ["127.0.0.1"]}), remember=True
        )
        transport = PinnedTransport(policy, ssl_context=client_context)
        async with Fetcher(policy, FetchOptions(delay_seconds=0, max_retries=0), transport=transport) as fetcher:
            if certificate_name == "board.example":
                pages = [await fetcher.get(f"https://board.example:{server.port}/p{i}") for i in range(3)]
                assert [page.text for page in pages] == [BODY.decode()] * 3
                assert (server.requests, server.connections) == (3, 1)
            else:
                with pytest.raises(FetchError, match=r"not valid for 'board\.example'"):
                    await fetcher.get(f"https://board.example:{server.port}/")


async def test_a_crawl_keeps_the_cookies_a_board_sets_and_sends_them_back() -> None:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                seen.append(head)
                cookie = b"Set-Cookie: JSESSIONID=abc123; Path=/\r\n" if len(seen) == 2 else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n%sContent-Length: %d\r\n\r\n%s"
                             % (cookie, len(BODY), BODY))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with fetcher_for(port, polite=False) as fetcher:
            for i in range(3):
                await fetcher.get(f"http://127.0.0.1:{port}/p{i}")
            fetcher.clear_cookies()
            await fetcher.get(f"http://127.0.0.1:{port}/p3")
    finally:
        server.close()
    sent = [b"jsessionid=abc123" in head.lower() for head in seen]
    assert sent == [False, False, True, False]  # none before it was set, then kept, then forgotten
