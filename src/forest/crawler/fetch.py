"""HTTP fetching for one crawl: egress-checked, polite, retried, size-capped."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlencode

import httpx

from forest.crawler.decode import NotTextEncoding, decode_html
from forest.crawler.egress import EgressPolicy, PinnedTransport, UrlNotAllowed, bracketed
from forest.crawler.hosts import HostSchedule, MemorySchedule, host_key

USER_AGENT = "Forest/0.1 (+https://github.com/forest-bids/forest)"
MiB = 1024 * 1024
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Answers by which a host says it is overloaded: counted per host, and their Retry-After holds the whole host.
THROTTLE_STATUSES = frozenset({429, 503})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

BeforeHop = Callable[[str], Awaitable[None]]


class FetchError(Exception):
    """A page could not be fetched; `reason` is meant for the crawl's error list."""

    def __init__(self, reason: str, *, url: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.url = url


class PageTooLarge(FetchError):
    """The decompressed body exceeded the size cap."""


class TooManyRedirects(FetchError):
    """The redirect chain was longer than allowed."""


class HttpStatusError(FetchError):
    """The final response was not a success."""

    def __init__(self, reason: str, *, url: str | None = None, status: int = 0) -> None:
        super().__init__(reason, url=url)
        self.status = status


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """One fetched and decoded response."""

    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    text: str
    encoding: str

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def raise_for_status(self) -> None:
        """Raise HttpStatusError unless the status is 2xx."""
        if not self.ok:
            raise HttpStatusError(f"HTTP {self.status} for {self.url}", url=self.url, status=self.status)


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Tunables of a Fetcher; the defaults are the polite production values."""

    user_agent: str = USER_AGENT
    connect_timeout: float = 10.0
    request_timeout: float = 30.0
    max_bytes: int = 10 * MiB
    max_redirects: int = 5
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0
    polite: bool = True
    # The least time between two requests to a host (from the end of one to the start of the next).
    delay_seconds: float = 1.0
    per_host_concurrency: int = 1
    concurrency: int = 4


@dataclass
class _Host:
    """This crawl's side of one origin: its requests in flight there, and its delay (robots.txt may raise it)."""

    semaphore: asyncio.Semaphore
    delay: float


class _Cookies(httpx.Cookies):
    """A crawl's cookie jar, which reads a response's cookies only when it has some.

    httpx hands every response to the jar, which wraps request and response in urllib's types and scans the
    headers: ~3 % of a crawling worker's CPU for boards that set no cookie at all. Without a Set-Cookie (or the
    obsolete Set-Cookie2) header there is nothing to read, so the jar is left alone.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def origin_of(url: httpx.URL) -> str:
    """`scheme://host:port`, the key for politeness and robots.txt (an IPv6 host in brackets)."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{bracketed(url.host)}:{port}"


class Fetcher:
    """One crawl's HTTP client: every hop egress-checked, per-host polite, retried and size-capped.

    Politeness is a `HostSchedule` (forest.crawler.hosts): pass the process's or the fleet's to share each
    host's pace with every other crawl using it; without one, a polite Fetcher keeps a schedule of its own.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        options: FetchOptions | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        schedule: HostSchedule | None = None,
    ) -> None:
        self.options = options or FetchOptions()
        self._policy = policy
        opts = self.options
        self._schedule: HostSchedule | None = (schedule or MemorySchedule()) if opts.polite else None
        self._client = httpx.AsyncClient(
            transport=transport or PinnedTransport(policy),
            follow_redirects=False,
            timeout=httpx.Timeout(opts.request_timeout, connect=opts.connect_timeout),
            headers={
                "User-Agent": opts.user_agent,
                # Only encodings we decompress ourselves, under the size cap.
                "Accept-Encoding": "gzip, deflate",
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
                "Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5",
            },
        )
        self._client._cookies = _Cookies()  # httpx's `cookies` setter would copy it into a plain Cookies
        self._global = asyncio.Semaphore(max(1, opts.concurrency))
        self._hosts: dict[str, _Host] = {}
        self.requests_made = 0

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and its connections."""
        await self._client.aclose()

    def _host(self, origin: str) -> _Host:
        host = self._hosts.get(origin)
        if host is None:
            opts = self.options
            limit = opts.per_host_concurrency if opts.polite else max(opts.per_host_concurrency, opts.concurrency)
            delay = opts.delay_seconds if opts.polite else 0.0
            host = self._hosts[origin] = _Host(semaphore=asyncio.Semaphore(max(1, limit)), delay=delay)
        return host

    async def raise_delay(self, origin: str, seconds: float) -> None:
        """Make requests to `origin` at least `seconds` apart (robots.txt Crawl-delay), this crawl's and, through
        the shared schedule, every other crawl's (including those that have not read robots.txt yet)."""
        host = self._host(origin)
        host.delay = max(host.delay, seconds)
        if self._schedule is not None:
            await self._schedule.crawl_delay(host_key(origin), seconds)


    async def get(self, url: str, *, encoding: str | None = None, before_hop: BeforeHop | None = None) -> FetchedPage:
        """GET a page following up to `max_redirects` redirects; non-2xx final statuses are returned, not raised.

        `before_hop` runs before each hop (the crawl's robots.txt check). Raises UrlNotAllowed,
        PageTooLarge, TooManyRedirects or FetchError (a malformed URL or an undecodable page included).
        """
        return await self.request("GET", url, encoding=encoding, before_hop=before_hop)

    def clear_cookies(self) -> None:
        """Forget this crawl's cookies (a board session that must be opened again)."""
        self._client.cookies.clear()

    async def request(
        self,
        method: str,
        url: str,
        *,
        form: Sequence[tuple[str, str]] | None = None,
        encoding: str | None = None,
        before_hop: BeforeHop | None = None,
    ) -> FetchedPage:
        """Like `get`, for a GET or a form POST (`form` is sent url-encoded); a 301/302/303 turns a POST into a GET,
        as browsers do. The crawl's cookies go with every request: one client per crawl, so one session per crawl."""
        try:
            current = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL {url!r}: {exc}", url=url) from exc
        body = urlencode(list(form)).encode() if form is not None and method == "POST" else None
        for _ in range(self.options.max_redirects + 1):
            if before_hop is not None:
                await before_hop(str(current))
            response_url, status, headers, content = await self._get_with_retries(current, method, body)
            if status in REDIRECT_STATUSES and headers.get("location"):
                if status in (301, 302, 303):
                    method, body = "GET", None
                try:
                    current = response_url.join(headers["location"])
                except httpx.InvalidURL as exc:
                    raise FetchError(f"bad redirect location from {response_url}: {exc}", url=url) from exc
                if current.scheme not in ("http", "https"):
                    raise UrlNotAllowed(f"redirect to scheme {current.scheme!r} is not allowed")
                continue
            try:
                text, used = decode_html(content, content_type=headers.get("content-type"), override=encoding)
            except NotTextEncoding as exc:
                raise FetchError(f"cannot decode the page: {exc}", url=str(response_url)) from exc
            return FetchedPage(
                url=str(response_url), status=status, headers=headers, content=content, text=text, encoding=used
            )
        raise TooManyRedirects(f"more than {self.options.max_redirects} redirects starting at {url}", url=url)

    async def _get_with_retries(
        self, url: httpx.URL, method: str = "GET", body: bytes | None = None
    ) -> tuple[httpx.URL, int, httpx.Headers, bytes]:
        opts = self.options
        origin = origin_of(url)
        attempt = 0
        while True:
            try:
                result = await self._get_once(url, origin, method, body)
            except (httpx.TransportError, TimeoutError) as exc:
                if attempt >= opts.max_retries:
                    reason = str(exc) or type(exc).__name__
                    raise FetchError(f"{url} failed after {attempt + 1} attempts: {reason}", url=str(url)) from exc
                wait = self._backoff(attempt)
            else:
                status, headers = result[1], result[2]
                retry_after = parse_retry_after(headers.get("retry-after"))
                if status in THROTTLE_STATUSES and self._schedule is not None:
                    await self._schedule.throttled(host_key(origin))
                    if retry_after is not None:
                        # Every request to this host waits, not only this one, and not only this crawl's: the
                        # server asked the crawler to slow down. The retry's own turn comes after the hold.
                        await self._schedule.hold(host_key(origin), min(retry_after, opts.retry_after_cap))
                if status not in RETRY_STATUSES or attempt >= opts.max_retries:
                    return result
                if retry_after is not None:
                    wait = 0.0 if status in THROTTLE_STATUSES and self._schedule is not None \
                        else min(retry_after, opts.retry_after_cap)
                else:
                    wait = self._backoff(attempt)
            attempt += 1
            await asyncio.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        # Full jitter keeps parallel crawls from retrying in lockstep.
        opts = self.options
        return random.uniform(0, min(opts.backoff_max, opts.backoff_base * 2**attempt))

    async def _get_once(
        self, url: httpx.URL, origin: str, method: str = "GET", body: bytes | None = None
    ) -> tuple[httpx.URL, int, httpx.Headers, bytes]:
        host = self._host(origin)
        async with self._global, host.semaphore:
            if self._schedule is None:
                return await self._send(url, method, body)
            # The turn ends when the response is read: the host's delay counts from there.
            async with self._schedule.turn(host_key(origin), host.delay, timeout=self.options.request_timeout + 5):
                return await self._send(url, method, body)

    async def _send(self, url: httpx.URL, method: str, body: bytes | None
                    ) -> tuple[httpx.URL, int, httpx.Headers, bytes]:
        self.requests_made += 1
        async with asyncio.timeout(self.options.request_timeout):
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else None
            request = self._client.build_request(method, url, content=body, headers=headers)
            response = await self._client.send(request, stream=True)
            try:
                content = await self._read_capped(response)
            finally:
                await response.aclose()
        return url, response.status_code, response.headers, content

    async def _read_capped(self, response: httpx.Response) -> bytes:
        limit = self.options.max_bytes
        url = str(response.request.url)
        coding = response.headers.get("content-encoding", "identity").strip().lower()
        if coding in ("", "identity"):
            decoder = None
        elif coding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            decoder = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise FetchError(f"unsupported content-encoding {coding!r} from {url}", url=url)
        declared = response.headers.get("content-length", "")
        if decoder is None and declared.isdigit() and int(declared) > limit:
            raise PageTooLarge(f"page is {int(declared)} bytes, over the {limit} byte limit", url=url)
        chunks: list[bytes] = []
        total = 0
        # `deflate` means a zlib stream (RFC 9110), but some servers send raw deflate without the zlib header, which
        # browsers and httpx accept too: if the header check fails, the bytes read so far are inflated raw instead.
        head = b"" if coding == "deflate" else None
        async for raw in response.aiter_raw():
            pending = raw
            while pending:
                if decoder is None:
                    out, pending = pending, b""
                else:
                    # max_length bounds memory even for a gzip bomb: never inflate more than the cap.
                    try:
                        out = decoder.decompress(pending, limit - total + 1)
                    except zlib.error as exc:
                        if head is None:
                            raise FetchError(f"corrupt {coding} body from {url}: {exc}", url=url) from exc
                        decoder, pending, head = zlib.decompressobj(-zlib.MAX_WBITS), head + pending, None
                        continue
                    if head is not None:
                        # The header is two bytes: once they passed, the body is a zlib stream.
                        head = head + pending if len(head) + len(pending) < 2 else None
                    pending = decoder.unconsumed_tail
                total += len(out)
                if total > limit:
                    raise PageTooLarge(f"page body exceeds the {limit} byte limit after decompression", url=url)
                chunks.append(out)
        if decoder is not None:
            tail = decoder.flush()
            total += len(tail)
            if total > limit:
                raise PageTooLarge(f"page body exceeds the {limit} byte limit after decompression", url=url)
            chunks.append(tail)
        return b"".join(chunks)
