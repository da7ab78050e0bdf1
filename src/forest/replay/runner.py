"""Open-loop replay of recorded (or synthetic) traffic against a Forest API."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote, unquote_plus, urlsplit

import httpx

from forest.replay.entries import ReplayEntry
from forest.replay.recording import format_ts
from forest.replay.stats import RouteStats, RunResult

# The first request is sent this long after the start so that setting up does not delay it.
_START_LEAD_S = 0.01

ProgressCallback = Callable[[int, int], None]


class TargetNotAllowed(ValueError):
    """The replay target is not a loopback address and non-loopback targets were not allowed."""

async def ensure_loopback(target: str) -> None:
    """Raise ``TargetNotAllowed`` unless every address ``target``'s host resolves to is loopback."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetNotAllowed(f"target must be an http(s) URL with a host, got {target!r}")
    host = parts.hostname
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, parts.port or 80)
        except OSError as exc:
            raise TargetNotAllowed(f"cannot resolve {host!r}: {exc}") from exc
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    outside = sorted(str(address) for address in addresses if not address.is_loopback)
    if outside or not addresses:
        raise TargetNotAllowed(
            f"{host!r} resolves to non-loopback addresses {outside}; pass allow_non_loopback "
            "(--allow-non-loopback) to replay against it"
        )


async def login(
    target: str, email: str, password: str, *, allow_non_loopback: bool = False, request_timeout: float = 30.0
) -> str:
    """Exchange credentials for an access token at ``POST /api/v1/auth/token``."""
    if not allow_non_loopback:
        await ensure_loopback(target)
    async with httpx.AsyncClient(base_url=target, timeout=request_timeout) as client:
        response = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    if response.status_code != 200:
        raise PermissionError(f"login as {email} failed with HTTP {response.status_code}")
    token = response.json().get("access_token")
    if not isinstance(token, str) or not token:
        raise PermissionError("login response carried no access_token")
    return token


async def replay(
    entries: Iterable[ReplayEntry],
    *,
    target: str,
    speed: float = 1.0,
    concurrency: int = 64,
    duration: float | None = None,
    headers: Mapping[str, str] | None = None,
    request_timeout: float = 30.0,
    allow_non_loopback: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Send ``entries`` open-loop at their offsets divided by ``speed`` and measure their latencies.

    Each request is due at ``start + offset / speed`` whether or not earlier requests have
    finished; its latency runs from that due time to the end of the response, so time spent
    waiting for one of the ``concurrency`` in-flight slots counts (no coordinated omission).
    Scheduling stops at ``duration`` seconds; requests already sent are awaited.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if not allow_non_loopback:
        await ensure_loopback(target)
    planned = sorted(entries, key=lambda entry: entry.offset)
    if duration is not None:
        planned = [entry for entry in planned if entry.offset / speed < duration]
    run = _Run(planned, concurrency=concurrency, on_progress=on_progress)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # The semaphore, not the pool, bounds in-flight requests, so the pool never times out waiting.
    client_timeout = httpx.Timeout(request_timeout, pool=None)
    started_at = format_ts(datetime.now(UTC).timestamp())
    async with httpx.AsyncClient(
        base_url=target, limits=limits, timeout=client_timeout, headers=dict(headers or {})
    ) as client:
        elapsed = await run.execute(client, speed=speed)
    return RunResult(
        target=target,
        speed=speed,
        concurrency=concurrency,
        started_at=started_at,
        elapsed_s=elapsed,
        scheduled=run.total,
        routes=run.routes,
    )


class _Run:
    """State of one replay: the schedule, in-flight tasks and the per-route statistics."""

    def __init__(self, planned: list[ReplayEntry], *, concurrency: int, on_progress: ProgressCallback | None) -> None:
        self.planned = planned
        self.total = len(planned)
        self.done = 0
        # Histograms are allocated up front: creating one takes milliseconds, which would
        # otherwise stall the event loop in the middle of the run.
        keys = {entry.key for entry in planned}
        keys.update(_follow_up_key(entry) for entry in planned if entry.follow_pages > 0)
        self.routes: dict[str, RouteStats] = {key: RouteStats() for key in sorted(keys)}
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_progress = on_progress
        self._last_finish = 0.0

    async def execute(self, client: httpx.AsyncClient, *, speed: float) -> float:
        """Schedule every entry, wait for all responses and return the run's wall time."""
        loop = asyncio.get_running_loop()
        start = loop.time() + _START_LEAD_S
        self._last_finish = start
        for entry in self.planned:
            due = start + entry.offset / speed
            # Always yield, so tasks already due start even when the schedule is behind.
            await asyncio.sleep(max(0.0, due - loop.time()))
            self._spawn(client, entry, due)
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        self.routes = {key: stats for key, stats in self.routes.items() if stats.requests}
        return max(self._last_finish - start, 0.0)

    def _spawn(self, client: httpx.AsyncClient, entry: ReplayEntry, due: float) -> None:
        task = asyncio.get_running_loop().create_task(self._send(client, entry, due))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, client: httpx.AsyncClient, entry: ReplayEntry, due: float) -> None:
        loop = asyncio.get_running_loop()
        stats = self.routes[entry.key]
        response: httpx.Response | None = None
        async with self._slots:
            try:
                response = await client.request(entry.method, entry.url, json=entry.body)
            except (httpx.HTTPError, OSError):
                stats.record_network_error()
            else:
                stats.record_response(response.status_code, loop.time() - due)
        self._last_finish = max(self._last_finish, loop.time())
        self.done += 1
        if response is not None and entry.follow_pages > 0 and response.status_code == 200:
            follow_up = _next_page(entry, response)
            if follow_up is not None:
                self.total += 1
                self._spawn(client, follow_up, loop.time())
        if self._on_progress is not None:
            self._on_progress(self.done, self.total)


def _next_page(entry: ReplayEntry, response: httpx.Response) -> ReplayEntry | None:
    """The request for the page after ``response`` when it names a ``next_cursor``."""
    try:
        cursor = response.json().get("next_cursor")
    except (ValueError, AttributeError):
        return None
    if not isinstance(cursor, str) or not cursor:
        return None
    kept = [part for part in entry.query.split("&") if part and unquote_plus(part.split("=", 1)[0]) != "cursor"]
    kept.append(f"cursor={quote(cursor, safe='')}")
    return replace(
        entry,
        query="&".join(kept),
        follow_pages=entry.follow_pages - 1,
        label=_follow_up_key(entry),
    )


def _follow_up_key(entry: ReplayEntry) -> str:
    """Row for pages after the first: the entry's own label, else ``<key> (next page)``."""
    return entry.label or f"{entry.key} (next page)"

