"""Egress policy: only public http(s) addresses on default ports, unless a host:port is allow-listed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from crawler_support import demo_config, demo_host, fake_dns

from forest.crawler.egress import EgressPolicy, UrlNotAllowed, blocked_reason
from forest.crawler.engine import LAST_PAGE, crawl
from forest.crawler.fetch import Fetcher, FetchOptions
from forest.crawler.memory import MemoryStore
from forest.demo_site.testing import DemoSite, running_demo_site


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is loopback"),
        ("http://localhost/", "localhost resolves to address 127.0.0.1 is loopback"),
        ("http://localhost./", "loopback"),
        ("http://[::1]/", "::1 is loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://10.0.0.1/", "10.0.0.1 is private or reserved"),
        ("http://100.64.0.1/", "100.64.0.0/10"),
        ("http://[::ffff:127.0.0.1]/", "embeds 127.0.0.1"),
        ("http://[64:ff9b::a00:1]/", "embeds 10.0.0.1"),
        ("http://[fd00::1]/", "fc00::/7"),
        # IPv6 spellings of loopback and private IPv4, judged by the IPv4 address they carry.
        ("http://[::127.0.0.1]/", "::127.0.0.1 embeds 127.0.0.1, which is loopback"),
        ("http://[::a9fe:a9fe]/", "embeds 169.254.169.254, which is link-local"),
        ("http://[2002:7f00:1::]/", "2002:7f00:1:: embeds 127.0.0.1, which is loopback"),
        ("http://[2002:a00:1::1]/", "embeds 10.0.0.1"),
        # Teredo: 2001:0:<server>:<flags>:<port>:<client IPv4, bits inverted>; 80ff:fffe is 127.0.0.1.
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "embeds 127.0.0.1, which is loopback"),
        ("http://[64:ff9b:1::7f00:1]/", "local-use NAT64 (64:ff9b:1::/48)"),
        ("http://[64:ff9b:1:aa::5db8:d822]/", "local-use NAT64"),
        ("http://[fec0::1]/", "site-local (fec0::/10)"),
        ("http://[::]/", "::/128"),
        ("http://[3fff::1]/", "3fff::/20"),
        ("http://[5f00::1]/", "not globally routable"),
        ("http://0x7f000001/", "127.0.0.1 is loopback"),
        ("http://0x7f.1/", "127.0.0.1 is loopback"),
        ("http://2130706433/", "127.0.0.1 is loopback"),
        ("http://127.1/", "127.0.0.1 is loopback"),
        ("http://0.0.0.0/", "0.0.0.0/8"),
        ("ftp://example.com/file", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http://example.com:8080/", "port 8080 is not allowed"),
        ("https://example.com:22/", "port 22 is not allowed"),
    ],
)
async def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(UrlNotAllowed) as caught:
        await EgressPolicy().check_url(url)
    assert reason in caught.value.reason


async def test_loopback_port_refused_unless_allow_listed(demo: DemoSite) -> None:
    with pytest.raises(UrlNotAllowed, match="is not allowed"):
        await EgressPolicy().check_url(demo.url("/kfs/bid/list.do"))

    target = await EgressPolicy([demo_host(demo)]).check_url(demo.url("/kfs/bid/list.do"))
    assert (target.address, target.allow_listed) == ("127.0.0.1", True)


async def test_outside_name_resolving_to_private_address_is_refused() -> None:
    policy = EgressPolicy(resolver=fake_dns({"intranet.example": ["93.184.216.34", "10.1.2.3"]}))
    with pytest.raises(UrlNotAllowed, match=r"intranet.example resolves to address 10.1.2.3"):
        await policy.check_url("https://intranet.example/")


async def test_system_getaddrinfo_answers_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulates an outside DNS record that points a public-looking name at loopback.
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    with pytest.raises(UrlNotAllowed, match=r"rebind\.example resolves to address 127\.0\.0\.1 is loopback"):
        await EgressPolicy().check_url("http://rebind.example/")


async def test_public_address_passes() -> None:
    policy = EgressPolicy(resolver=fake_dns({"www.forest.go.kr": ["93.184.216.34"]}))
    target = await policy.check_url("https://www.forest.go.kr/kfs/bid/list.do")
    assert (target.host, target.port, target.address, target.allow_listed) == (
        "www.forest.go.kr",
        443,
        "93.184.216.34",
        False,
    )


async def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(UrlNotAllowed, match="does not resolve"):
        await EgressPolicy(resolver=fake_dns({})).check_url("http://nowhere.example/")


def test_blocked_reason_public_addresses() -> None:
    assert blocked_reason("93.184.216.34") is None
    assert blocked_reason("2606:4700::1111") is None
    assert blocked_reason("::ffff:93.184.216.34") is None


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::5db8:d822",  # well-known NAT64 of 93.184.216.34
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
        "2001:0:4136:e378:8000:63bf:a247:27dd",  # Teredo, client 93.184.216.34
        "::93.184.216.34",  # IPv4-compatible
    ],
)
def test_forms_embedding_a_public_ipv4_address_are_judged_by_it(address: str) -> None:
    assert blocked_reason(address) is None


async def test_allow_listed_ipv6_host_port_passes() -> None:
    target = await EgressPolicy(["[::1]:8001"]).check_url("http://[::1]:8001/kfs/bid/list.do")
    assert (target.host, target.port, target.address, target.allow_listed) == ("::1", 8001, "::1", True)
    with pytest.raises(UrlNotAllowed, match=r"unless \[::1\]:8002 is allow-listed for crawls"):
        await EgressPolicy(["[::1]:8001"]).check_url("http://[::1]:8002/")


def test_allow_list_entries_need_a_port() -> None:
    with pytest.raises(ValueError, match="host:port"):
        EgressPolicy(["127.0.0.1"])


async def test_transport_connects_to_the_checked_address_keeping_the_host_header(demo: DemoSite) -> None:
    # "board.example" exists only in this resolver: reaching the demo board proves the connection
    # went to the checked address rather than a second lookup, while Host still names the board.
    port = demo_host(demo).rsplit(":", 1)[1]
    policy = EgressPolicy([f"board.example:{port}"], resolver=fake_dns({"board.example": ["127.0.0.1"]}))
    async with Fetcher(policy, FetchOptions(delay_seconds=0)) as fetcher:
        page = await fetcher.get(f"http://board.example:{port}/kfs/bid/list.do")
    assert page.status == 200
    assert 'class="board_list"' in page.text
    assert page.url == f"http://board.example:{port}/kfs/bid/list.do"


@pytest.fixture(scope="module")
def demo_v6() -> Iterator[DemoSite]:
    """The demo board on IPv6 loopback (this machine has ::1)."""
    with running_demo_site(notices=30, seed=5, host="::1") as site:
        yield site


async def test_crawl_of_an_allow_listed_ipv6_literal_connects(demo_v6: DemoSite) -> None:
    demo_v6.board.reset()
    assert demo_v6.base_url.startswith("http://[::1]:")
    store = MemoryStore()

    result = await crawl(demo_config(demo_v6), store)

    assert (result.stopped_reason, result.error, result.progress.errors) == (LAST_PAGE, None, 0)
    assert len(store.notices) == len(demo_v6.board.notices) + len(demo_v6.board.pinned)
    assert demo_v6.board.request_count("/robots.txt") == 1  # robots.txt of http://[::1]:port was fetched


async def test_crawl_of_an_ipv6_literal_not_allow_listed_ends_in_a_clear_error(demo_v6: DemoSite) -> None:
    result = await crawl(demo_config(demo_v6, allow_hosts=[]), MemoryStore())

    assert result.failed
    assert result.error is not None and "port" in result.error and "is not allowed" in result.error
    assert f"[::1]:{demo_v6.base_url.rsplit(':', 1)[1]}" in result.error


async def test_redirect_to_metadata_address_is_refused(demo: DemoSite) -> None:
    demo.board.set_fault("redirect_chain", hops=2, location="http://169.254.169.254/latest/meta-data/")
    async with Fetcher(EgressPolicy([demo_host(demo)]), FetchOptions(delay_seconds=0)) as fetcher:
        with pytest.raises(UrlNotAllowed, match=r"169\.254\.169\.254 is link-local"):
            await fetcher.get(demo.url("/kfs/bid/list.do"))
