"""The Fetcher and robots.txt against the demo board's fault modes."""

from __future__ import annotations

import time

import pytest
from crawler_support import demo_host

from forest.crawler.egress import EgressPolicy
from forest.crawler.fetch import Fetcher, FetchError, FetchOptions, PageTooLarge, TooManyRedirects, parse_retry_after
from forest.crawler.robots import RobotsCache, RobotsDisallowed
from forest.demo_site.testing import DemoSite

LIST = "/kfs/bid/list.do"


def fetcher_for(demo: DemoSite, **options: object) -> Fetcher:
    values: dict[str, object] = {"delay_seconds": 0.0, "backoff_base": 0.01, "request_timeout": 10.0}
    values.update(options)
    return Fetcher(EgressPolicy([demo_host(demo)]), FetchOptions(**values))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["unavailable", "rate_limited"])
async def test_503_and_429_are_retried_honouring_retry_after(demo: DemoSite, kind: str) -> None:
    demo.board.set_fault(kind, remaining=1, path_prefix=LIST)  # type: ignore[arg-type]
    async with fetcher_for(demo) as fetcher:
        started = time.monotonic()
        page = await fetcher.get(demo.url(LIST))
        elapsed = time.monotonic() - started

    assert page.status == 200
    assert demo.board.request_count(LIST) == 2
    assert elapsed >= 0.95  # the board asked for Retry-After: 1


async def test_retries_give_up_with_the_last_status(demo: DemoSite) -> None:
    demo.board.set_fault("unavailable", path_prefix=LIST)
    async with fetcher_for(demo, max_retries=1, retry_after_cap=0.05) as fetcher:
        page = await fetcher.get(demo.url(LIST))
    assert page.status == 503
    assert demo.board.request_count(LIST) == 2


async def test_connection_reset_is_retried(demo: DemoSite) -> None:
    demo.board.set_fault("reset", remaining=2, path_prefix=LIST)
    async with fetcher_for(demo) as fetcher:
        page = await fetcher.get(demo.url(LIST))
    assert page.status == 200
    assert demo.board.request_count(LIST) == 3


async def test_connection_reset_every_time_fails_clearly(demo: DemoSite) -> None:
    demo.board.set_fault("reset", path_prefix=LIST)
    async with fetcher_for(demo, max_retries=2) as fetcher:
        with pytest.raises(FetchError, match="failed after 3 attempts"):
            await fetcher.get(demo.url(LIST))


async def test_slow_page_times_out_then_retries(demo: DemoSite) -> None:
    demo.board.set_fault("slow", remaining=1, path_prefix=LIST, delay=2.0)
    async with fetcher_for(demo, request_timeout=0.5) as fetcher:
        page = await fetcher.get(demo.url(LIST))
    assert page.status == 200


@pytest.mark.parametrize("gzip", [False, True])
async def test_oversized_and_gzip_bomb_pages_are_refused(demo: DemoSite, gzip: bool) -> None:
    demo.board.set_fault("oversized", path_prefix=LIST, gzip=gzip)
    async with fetcher_for(demo) as fetcher:
        with pytest.raises(PageTooLarge, match="10485760 byte limit"):
            await fetcher.get(demo.url(LIST))


async def test_size_cap_is_enforced_while_streaming(demo: DemoSite) -> None:
    async with fetcher_for(demo, max_bytes=2_000) as fetcher:
        with pytest.raises(PageTooLarge, match="2000 byte limit"):
            await fetcher.get(demo.url(LIST))


async def test_redirect_chain_is_followed_up_to_five_hops(demo: DemoSite) -> None:
    demo.board.set_fault("redirect_chain", remaining=1, path_prefix=LIST, hops=3)
    async with fetcher_for(demo) as fetcher:
        page = await fetcher.get(demo.url(LIST))
    assert page.status == 200 and 'class="board_list"' in page.text

    demo.board.clear_faults()
    demo.board.set_fault("redirect_chain", remaining=1, path_prefix=LIST, hops=8)
    async with fetcher_for(demo) as fetcher:
        with pytest.raises(TooManyRedirects, match="more than 5 redirects"):
            await fetcher.get(demo.url(LIST))


async def test_euckr_page_decodes_exactly(demo: DemoSite) -> None:
    async with fetcher_for(demo) as fetcher:
        page = await fetcher.get(demo.url("/euckr/bid/list.do"))
    assert page.encoding == "cp949"
    assert demo.board.notices[0].title in page.text


async def test_robots_disallow_and_missing_robots(demo: DemoSite) -> None:
    async with fetcher_for(demo) as fetcher:
        robots = RobotsCache(fetcher, user_agent="Forest/0.1")
        await robots.check(demo.url(LIST))
        with pytest.raises(RobotsDisallowed, match=r"disallows /private/list\.do"):
            await robots.check(demo.url("/private/list.do"))
        await robots.check(demo.url(LIST))
    assert demo.board.request_count("/robots.txt") == 1

    async with fetcher_for(demo) as fetcher:
        await RobotsCache(fetcher, user_agent="Forest/0.1", obey=False).check(demo.url("/private/list.do"))


async def test_robots_5xx_disallows_everything(demo: DemoSite) -> None:
    demo.board.set_fault("unavailable", path_prefix="/robots.txt")
    async with fetcher_for(demo, max_retries=0) as fetcher:
        with pytest.raises(RobotsDisallowed, match="HTTP 503"):
            await RobotsCache(fetcher, user_agent="Forest/0.1").check(demo.url(LIST))


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
