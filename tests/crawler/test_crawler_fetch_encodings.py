"""Compressed bodies: gzip, zlib-wrapped deflate and the raw deflate some servers send as `deflate`."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from forest.crawler.egress import EgressPolicy
from forest.crawler.fetch import Fetcher, FetchError, FetchOptions

PAGE = ('<html><head><meta charset="utf-8"><title>입찰공고</title></head><body>'
        + "<p>2026년 숲가꾸기 사업 입찰 공고</p>" * 200 + "</body></html>").encode()


def raw_deflate(data: bytes) -> bytes:
    """Deflate without the zlib header and checksum (wbits -15)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


BODIES = {
    "gzip": ("gzip", gzip.compress(PAGE)),
    "zlib": ("deflate", zlib.compress(PAGE)),
    "raw-deflate": ("deflate", raw_deflate(PAGE)),
}


class _Handler(BaseHTTPRequestHandler):
    """Serves PAGE at /<kind> compressed as BODIES[kind] says, and /corrupt as garbage labelled deflate."""

    def do_GET(self) -> None:
        coding, body = BODIES.get(self.path.strip("/"), ("deflate", b"\xff" * 64))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Encoding", coding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def board() -> Iterator[str]:
    """A tiny server on a free loopback port: its host:port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def fetcher(board: str) -> AsyncIterator[Fetcher]:
    """A fetcher allowed to reach the tiny server, without delays or retries."""
    async with Fetcher(EgressPolicy([board]), FetchOptions(delay_seconds=0.0, max_retries=0)) as f:
        yield f


@pytest.mark.parametrize("kind", sorted(BODIES))
async def test_compressed_page_decodes_exactly(board: str, fetcher: Fetcher, kind: str) -> None:
    page = await fetcher.get(f"http://{board}/{kind}")
    assert page.status == 200
    assert page.headers["content-encoding"] == BODIES[kind][0]
    assert page.content == PAGE
    assert "숲가꾸기 사업 입찰 공고" in page.text


async def test_corrupt_deflate_body_fails_clearly(board: str, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="corrupt deflate body"):
        await fetcher.get(f"http://{board}/corrupt")


class _Dribble(httpx.AsyncByteStream):
    """A body that arrives one byte at a time, so the zlib header is split across reads."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(len(self._data)):
            yield self._data[i:i + 1]


@pytest.mark.parametrize("kind", ["zlib", "raw-deflate"])
async def test_deflate_split_into_single_bytes_decodes(kind: str) -> None:
    body = BODIES[kind][1]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "deflate", "content-type": "text/html; charset=utf-8"},
                              stream=_Dribble(body))

    options = FetchOptions(delay_seconds=0.0, max_retries=0)
    async with Fetcher(EgressPolicy([]), options, transport=httpx.MockTransport(answer)) as f:
        page = await f.get("http://board.example/list")
    assert page.content == PAGE
