"""Open-loop replay of recorded (or synthetic) traffic against a Forest API."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit

import httpx
from hdrh.histogram import HdrHistogram

from forest.replay.recording import format_ts

# Latencies are recorded in microseconds from 1 µs to one hour with 3 significant digits (0.1 % error).
HISTOGRAM_LOWEST_US = 1
HISTOGRAM_HIGHEST_US = 3_600_000_000
HISTOGRAM_DIGITS = 3

#: Percentiles reported for every route, as (label, percentile).
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))

# The first request is sent this long after the start so that setting up does not delay it.
_START_LEAD_S = 0.01

ProgressCallback = Callable[[int, int], None]


class TargetNotAllowed(ValueError):
    """The replay target is not a loopback address and non-loopback targets were not allowed."""


@dataclass(frozen=True, slots=True)
class ReplayEntry:
    """One request to replay, ``offset`` seconds after the first request of the log."""

    offset: float
    method: str
    path: str
    query: str = ""
    route: str = ""
    body: Any = None
    follow_pages: int = 0
    label: str = ""

    @property
    def key(self) -> str:
        """Name of the row this request is reported under, e.g. ``GET /api/v1/bids/{bid_id}``."""
        return self.label or f"{self.method} {self.route or self.path}"

    @property
    def url(self) -> str:
        """Path and query, relative to the target."""
        return f"{self.path}?{self.query}" if self.query else self.path


def entries_from_records(records: Iterable[Mapping[str, Any]]) -> list[ReplayEntry]:
    """Turn access-log records into entries ordered by time, offsets relative to the first one."""
    timed = sorted(
        ((_parse_ts(str(record["ts"])), record) for record in records),
        key=lambda pair: pair[0],
    )
    if not timed:
        return []
    first = timed[0][0]
    return [
        ReplayEntry(
            offset=(ts - first).total_seconds(),
            method=str(record.get("method", "GET")).upper(),
            path=str(record["path"]),
            query=str(record.get("query") or ""),
            route=str(record.get("route") or record["path"]),
            body=record.get("body"),
        )
        for ts, record in timed
    ]


def read_log(path: Path) -> list[ReplayEntry]:
    """Read an access log written by ``AccessLogMiddleware``; blank lines are skipped."""
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as log:
        for number, line in enumerate(log, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line: {exc.msg}") from exc
            if not isinstance(record, dict) or "ts" not in record or "path" not in record:
                raise ValueError(f"{path}:{number}: a record needs at least 'ts' and 'path'")
            records.append(record)
    return entries_from_records(records)


def _parse_ts(value: str) -> datetime:
    ts = datetime.fromisoformat(value)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def new_histogram() -> HdrHistogram:
    """Return an empty latency histogram (microseconds)."""
    return HdrHistogram(HISTOGRAM_LOWEST_US, HISTOGRAM_HIGHEST_US, HISTOGRAM_DIGITS)


@dataclass
class RouteStats:
    """Latency histogram and outcome counts of one route (or of the whole run)."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    responses: int = 0
    client_errors: int = 0
    server_errors: int = 0
    network_errors: int = 0

    @property
    def requests(self) -> int:
        """Requests that finished, with a response or a network error."""
        return self.responses + self.network_errors

    @property
    def errors(self) -> int:
        """Server errors (status ≥ 500) plus network errors."""
        return self.server_errors + self.network_errors

    def record_response(self, status: int, latency_s: float) -> None:
        """Count one HTTP response and its latency."""
        self.responses += 1
        if status >= 500:
            self.server_errors += 1
        elif status >= 400:
            self.client_errors += 1
        micros = min(max(round(latency_s * 1_000_000), HISTOGRAM_LOWEST_US), HISTOGRAM_HIGHEST_US)
        self.histogram.record_value(micros)

    def record_network_error(self) -> None:
        """Count one request that got no response (refused, reset, timed out)."""
        self.network_errors += 1

    def merge(self, other: RouteStats) -> None:
        """Add another route's counts and latencies to this one."""
        self.histogram.add(other.histogram)
        self.responses += other.responses
        self.client_errors += other.client_errors
        self.server_errors += other.server_errors
        self.network_errors += other.network_errors

    def percentile_ms(self, percentile: float) -> float:
        """Latency at ``percentile`` (0..100) in milliseconds; 0 without responses."""
        if self.histogram.get_total_count() == 0:
            return 0.0
        return float(self.histogram.get_value_at_percentile(percentile)) / 1000

    def max_ms(self) -> float:
        """Highest recorded latency in milliseconds."""
        if self.histogram.get_total_count() == 0:
            return 0.0
        return float(self.histogram.get_max_value()) / 1000

    def to_dict(self, elapsed_s: float) -> dict[str, Any]:
        """Summarise as JSON: counts, throughput, percentiles and the encoded histogram."""
        latency = {label: self.percentile_ms(p) for label, p in PERCENTILES}
        latency["max"] = self.max_ms()
        latency["mean"] = float(self.histogram.get_mean_value()) / 1000 if self.histogram.get_total_count() else 0.0
        return {
            "requests": self.requests,
            "responses": self.responses,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "network_errors": self.network_errors,
            "errors": self.errors,
            "throughput_rps": self.responses / elapsed_s if elapsed_s > 0 else 0.0,
            "latency_ms": latency,
            "histogram": self.histogram.encode().decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouteStats:
        """Rebuild from ``to_dict`` output (the histogram is decoded, not re-estimated)."""
        return cls(
            histogram=HdrHistogram.decode(str(data["histogram"]).encode("ascii")),
            responses=int(data["responses"]),
            client_errors=int(data["client_errors"]),
            server_errors=int(data["server_errors"]),
            network_errors=int(data["network_errors"]),
        )


@dataclass
class RunResult:
    """Everything measured by one replay run."""

    target: str
    speed: float
    concurrency: int
    started_at: str
    elapsed_s: float
    scheduled: int
    routes: dict[str, RouteStats]

    @property
    def overall(self) -> RouteStats:
        """All routes merged."""
        total = RouteStats()
        for stats in self.routes.values():
            total.merge(stats)
        return total

    def throughput(self, stats: RouteStats) -> float:
        """Responses per second of ``stats`` over this run's wall time."""
        return stats.responses / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Serialise for ``--out``; ``compare`` reads it back with ``from_dict``."""
        return {
            "version": 1,
            "target": self.target,
            "speed": self.speed,
            "concurrency": self.concurrency,
            "started_at": self.started_at,
            "elapsed_s": self.elapsed_s,
            "scheduled": self.scheduled,
            "overall": self.overall.to_dict(self.elapsed_s),
            "routes": {key: stats.to_dict(self.elapsed_s) for key, stats in sorted(self.routes.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Rebuild a run saved with ``to_dict``."""
        return cls(
            target=str(data["target"]),
            speed=float(data["speed"]),
            concurrency=int(data["concurrency"]),
            started_at=str(data["started_at"]),
            elapsed_s=float(data["elapsed_s"]),
            scheduled=int(data["scheduled"]),
            routes={str(key): RouteStats.from_dict(value) for key, value in data["routes"].items()},
        )

    def save(self, path: Path) -> None:
        """Write the run as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> RunResult:
        """Read a run written by ``save``."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "routes" not in data:
            raise ValueError(f"{path}: not a replay run file")
        return cls.from_dict(data)


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
