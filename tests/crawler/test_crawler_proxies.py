"""Proxy environment variables are ignored, loudly: requests go straight to the checked address."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from crawler_support import demo_host

from forest.crawler import egress
from forest.crawler.egress import EgressPolicy, UrlNotAllowed, proxy_variables_set
from forest.crawler.fetch import Fetcher, FetchOptions
from forest.demo_site.testing import DemoSite

LIST = "/kfs/bid/list.do"


class _Proxy(BaseHTTPRequestHandler):
    """A proxy that records every request it is asked to forward and forwards none."""

    seen: list[str]

    def _refuse(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_CONNECT = _refuse

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A recording proxy named by every proxy variable, in both cases; yields what it was asked to forward."""
    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Proxy", (_Proxy,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("HTTP_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    egress._warn_proxies_ignored.cache_clear()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        egress._warn_proxies_ignored.cache_clear()


def _fetcher(policy: EgressPolicy) -> Fetcher:
    return Fetcher(policy, FetchOptions(delay_seconds=0.0, max_retries=0))


async def test_proxy_variables_are_ignored_with_one_warning(
    demo: DemoSite, proxy: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="forest.crawler.egress")
    for _ in range(2):
        async with _fetcher(EgressPolicy([demo_host(demo)])) as fetcher:
            page = await fetcher.get(demo.url(LIST))
        assert page.status == 200 and 'class="board_list"' in page.text

    assert proxy == []
    assert demo.board.request_count(LIST) == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "forest.crawler.egress"]
    assert warnings == ["ALL_PROXY, HTTP_PROXY, https_proxy set but ignored: crawls and webhooks connect directly to "
                        "the address the egress policy checked, never through a proxy (docs/security.md, Proxies)"]


@pytest.mark.parametrize("url", ["http://10.1.2.3/kfs/bid/list.do", "http://127.0.0.1/", "https://[::1]/"])
async def test_proxy_is_no_way_around_the_private_address_block(proxy: list[str], url: str) -> None:
    async with _fetcher(EgressPolicy([])) as fetcher:
        with pytest.raises(UrlNotAllowed, match=r"address .* is (private or reserved|loopback)"):
            await fetcher.get(url)
    assert proxy == []


def test_proxy_variables_set_reads_any_case_and_skips_empty() -> None:
    env = {"http_proxy": "http://p:3128", "HTTPS_PROXY": " ", "All_Proxy": "socks5://p", "NO_PROXY": "x", "PATH": "/"}
    assert proxy_variables_set(env) == ("All_Proxy", "http_proxy")
    assert proxy_variables_set({}) == ()
