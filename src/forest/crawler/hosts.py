"""One politeness schedule per host, shared by every crawl that uses the same schedule object or Redis.

The rule, for a host (`host:port`): a request may start only when the previous request to that host has
both started and ended at least `gap` seconds ago, `gap` being the largest of this request's delay, the
delay of the request before it (so a crawl with a 2 s delay is followed by at least 2 s of silence whichever
crawl comes next) and the host's robots.txt `Crawl-delay` as soon as any crawl has read it (`crawl_delay()`;
also binding crawls that have not read robots.txt yet), and when no `Retry-After` hold is in force.
Because the gap counts from the end of the previous response, two requests arrive at the host at least `gap`
apart however long either one queued on the way: the board's own clock can never see them closer. As a
consequence at most one request per host is in flight across the fleet.

Waiting is a reservation, not polling: `turn()` atomically takes the next free slot of the host (a cursor
that moves forward by one delay per reservation) and sleeps until it, so waiters are served in the order they
arrived. On waking it confirms the start atomically; only if something moved the host's next free time
meanwhile (a `Retry-After` hold from another crawl, a slow previous response) does it sleep again, for the
known remaining time. When the slot it takes is now and the host is free, the reservation confirms the start
in the same atomic step (one round trip to Redis instead of two).

Two implementations of `HostSchedule`:

- `MemorySchedule`: in process memory (the embedded default, or a single `forest crawl`): shared by all
  crawls of the process, whatever their event loop (Celery's prefork children run one loop per task).
- `RedisSchedule`: in Redis (`FOREST_REDIS_URL`), shared by every worker process and machine. Each operation
  is one Lua script using Redis's own clock (`TIME`), so workers' clocks do not need to agree.

Why not the `limits` library (already used for the API's rate limits) or pyrate-limiter: both answer
"would this hit be allowed now?" (`hit()` / `try_acquire()` return a boolean) and a blocked caller retries
later, i.e. polls, with no order among waiters; `limits` windows are whole seconds (`RateLimitItem.multiples`
is an int, its Redis moving-window script takes `expiry` in seconds and the caller's own `time.time()`), so a
0.2 s or 1.5 s delay cannot be expressed, and neither can push a host's next slot back for a `Retry-After` nor
measure the gap from the end of the previous response. A reservation needs one atomic read-modify-write of a
few numbers per host, which is what the Lua script below does.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from forest.crawler import resp

KEY_PREFIX = "forest:host:"
# What `_reserve` answers when the request could begin at once (its slot was now and the host free).
BEGAN = -1.0
STATS_KEYS = ("forest:hosts:requests", "forest:hosts:wait_seconds", "forest:hosts:throttled")
# Per-host metrics keep at most this many hosts by name; requests to further hosts count under "other".
MAX_HOST_LABELS = 500
OTHER_HOSTS = "other"
# A host's state outlives its last request by this long (then Redis forgets it; the next request starts fresh).
IDLE_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class HostStats:
    """Counters of one host: requests started, seconds spent waiting for a turn, 429/503 answers."""

    requests: int = 0
    wait_seconds: float = 0.0
    throttled: int = 0


class HostSchedule(Protocol):
    """Whose turn it is to send a request to a host; see the module docstring for the rule."""

    def turn(self, host: str, delay: float, *, timeout: float) -> contextlib.AbstractAsyncContextManager[float]:
        """Wait for the host's turn (yields the seconds waited); the request runs inside the block.

        `timeout` bounds how long the request may keep the host (a process killed mid-request frees it then).
        """
        ...

    async def hold(self, host: str, seconds: float) -> None:
        """The host asked for a pause (`Retry-After`): no request of any crawl starts before it has passed."""
        ...

    async def crawl_delay(self, host: str, seconds: float) -> None:
        """The host's robots.txt asks for this delay: every crawl's requests keep at least it from now on."""
        ...

    async def throttled(self, host: str) -> None:
        """Count a 429/503 answer of the host (for the metrics)."""
        ...

    async def stats(self) -> dict[str, HostStats]:
        """Per-host counters since the schedule (or its Redis database) began."""
        ...


def host_key(origin: str) -> str:
    """`host:port` of an origin (`scheme://host:port`)."""
    return origin.split("://", 1)[-1]


class _Waiter(ABC):
    """The reserve / begin / end steps shared by both implementations (each supplies the three)."""

    @abstractmethod
    async def _reserve(self, host: str, delay: float, timeout: float) -> float:
        """Take the host's next slot: the seconds until it, or BEGAN when the slot is now and the host is free,
        in which case the request has begun too (the steps of `_begin`, in the same atomic step)."""

    @abstractmethod
    async def _begin(self, host: str, delay: float, timeout: float, waited: float) -> float: ...

    @abstractmethod
    async def _end(self, host: str) -> None: ...

    @contextlib.asynccontextmanager
    async def turn(self, host: str, delay: float, *, timeout: float) -> AsyncIterator[float]:
        """See HostSchedule.turn."""
        delay = max(0.0, delay)
        started = time.monotonic()
        wait = await self._reserve(host, delay, timeout)
        if wait != BEGAN:
            if wait > 0:
                await asyncio.sleep(wait)
            while True:
                wait = await self._begin(host, delay, timeout, time.monotonic() - started)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
        try:
            yield time.monotonic() - started
        finally:
            await self._end(host)


@dataclass(slots=True)
class _HostState:
    cursor: float = 0.0
    last_start: float = -math.inf
    last_end: float = -math.inf
    last_delay: float = 0.0
    crawl_delay: float = 0.0
    hold_until: float = 0.0
    busy_until: float = 0.0
    requests: int = 0
    wait_seconds: float = 0.0
    throttled: int = 0
    touched: float = field(default_factory=time.monotonic)


class MemorySchedule(_Waiter):
    """The schedule in this process's memory (thread-safe; no asyncio object, so any event loop may use it)."""

    def __init__(self) -> None:
        self._hosts: dict[str, _HostState] = {}
        self._lock = threading.Lock()

    def _state(self, host: str, now: float) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) >= 10_000:  # forget hosts idle for a while, as Redis expires their keys
                for name in [h for h, s in self._hosts.items() if now - s.touched > IDLE_SECONDS]:
                    del self._hosts[name]
            state = self._hosts[host] = _HostState()
        state.touched = now
        return state

    async def _reserve(self, host: str, delay: float, timeout: float) -> float:
        with self._lock:
            now = time.monotonic()
            state = self._state(host, now)
            slot = max(now, state.cursor, state.hold_until)
            state.cursor = slot + max(delay, state.crawl_delay)
            if slot == now and self._start(state, now, delay, timeout, 0.0) == 0.0:
                return BEGAN
            return slot - now

    async def _begin(self, host: str, delay: float, timeout: float, waited: float) -> float:
        with self._lock:
            now = time.monotonic()
            return self._start(self._state(host, now), now, delay, timeout, waited)

    @staticmethod
    def _start(state: _HostState, now: float, delay: float, timeout: float, waited: float) -> float:
        """Begin the request if the host is ready (0.0), else the seconds to wait (the caller holds the lock)."""
        gap = max(delay, state.last_delay, state.crawl_delay)
        if state.busy_until > now:  # the previous request is still out: it ends at the earliest now
            return max(gap, state.hold_until - now, 0.01)
        ready = max(state.last_start + gap, state.last_end + gap, state.hold_until)
        if ready > now:
            return ready - now
        state.last_start, state.busy_until = now, now + timeout
        state.last_delay = max(delay, state.crawl_delay)
        state.cursor = max(state.cursor, now + gap)
        state.requests += 1
        state.wait_seconds += waited
        return 0.0

    async def _end(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            state = self._state(host, now)
            state.last_end, state.busy_until = now, 0.0
            state.cursor = max(state.cursor, now + state.last_delay)

    async def hold(self, host: str, seconds: float) -> None:
        """See HostSchedule.hold."""
        with self._lock:
            now = time.monotonic()
            state = self._state(host, now)
            state.hold_until = max(state.hold_until, now + seconds)
            state.cursor = max(state.cursor, state.hold_until)

    async def crawl_delay(self, host: str, seconds: float) -> None:
        """See HostSchedule.crawl_delay."""
        with self._lock:
            self._state(host, time.monotonic()).crawl_delay = seconds

    async def throttled(self, host: str) -> None:
        """See HostSchedule.throttled."""
        with self._lock:
            self._state(host, time.monotonic()).throttled += 1

    async def stats(self) -> dict[str, HostStats]:
        """See HostSchedule.stats (at most MAX_HOST_LABELS hosts by name, the rest summed as "other")."""
        with self._lock:
            items = sorted(self._hosts.items(), key=lambda kv: -kv[1].requests)
        out = {h: HostStats(s.requests, s.wait_seconds, s.throttled) for h, s in items[:MAX_HOST_LABELS]}
        rest = items[MAX_HOST_LABELS:]
        if rest:
            out[OTHER_HOSTS] = HostStats(sum(s.requests for _, s in rest), sum(s.wait_seconds for _, s in rest),
                                         sum(s.throttled for _, s in rest))
        return out


# One script for every step, so each step is one atomic round trip on Redis's clock. Times are stored with
# six decimals (Lua's default number formatting keeps only 14 significant digits, ~0.1 ms of an epoch time).
# Hash fields: c cursor, s last start, e last end, d last request's delay, h hold until, b busy until, m Crawl-delay.
_SCRIPT = """
local key = KEYS[1]
local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', key, 'c', 's', 'e', 'd', 'h', 'b', 'm')
local cursor = tonumber(v[1]) or 0
local last_start = tonumber(v[2]) or 0
local last_end = tonumber(v[3]) or 0
local last_delay = tonumber(v[4]) or 0
local hold = tonumber(v[5]) or 0
local busy = tonumber(v[6]) or 0
local robots_delay = tonumber(v[7]) or 0
local function f(x) return string.format('%.6f', x) end
local function label()
  local host = ARGV[2]
  if redis.call('HEXISTS', KEYS[2], host) == 1 or redis.call('HLEN', KEYS[2]) < tonumber(ARGV[3]) then
    return host
  end
  return 'other'
end
-- The request begins now if the host is ready (returns 0), else the seconds to wait; `cursor` as it stands.
local function start(delay, timeout, waited, cursor_now)
  local gap = math.max(delay, last_delay, robots_delay)
  if busy > now then
    return math.max(gap, hold - now, 0.01)
  end
  local ready = math.max(last_start + gap, last_end + gap, hold)
  if ready > now then
    return ready - now
  end
  redis.call('HSET', key, 's', f(now), 'd', f(math.max(delay, robots_delay)), 'b', f(now + timeout),
             'c', f(math.max(cursor_now, now + gap)))
  local name = label()
  redis.call('HINCRBY', KEYS[2], name, 1)
  redis.call('HINCRBYFLOAT', KEYS[3], name, waited)
  return 0
end
local result = 0
if op == 'reserve' then
  local delay = math.max(tonumber(ARGV[4]), robots_delay)
  local slot = math.max(now, cursor, hold)
  redis.call('HSET', key, 'c', f(slot + delay))
  result = slot - now
  -- The slot is now: begin at once if the host is free (what 'begin' would do next, without its round trip).
  if result == 0 and start(tonumber(ARGV[4]), tonumber(ARGV[5]), '0', slot + delay) == 0 then
    result = -1
  end
elseif op == 'begin' then
  local wait = start(tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], cursor)
  if wait > 0 then
    return f(wait)
  end
elseif op == 'end' then
  redis.call('HSET', key, 'e', f(now), 'b', '0', 'c', f(math.max(cursor, now + last_delay)))
elseif op == 'hold' then
  local until_ = math.max(hold, now + tonumber(ARGV[4]))
  redis.call('HSET', key, 'h', f(until_), 'c', f(math.max(cursor, until_)))
elseif op == 'crawl_delay' then
  redis.call('HSET', key, 'm', f(tonumber(ARGV[4])))
elseif op == 'throttled' then
  redis.call('HINCRBY', KEYS[4], label(), 1)
  return '0'
end
redis.call('EXPIRE', key, tonumber(ARGV[7]))
return f(result)
"""
_SCRIPT_SHA = resp.sha1(_SCRIPT)


class RedisSchedule(_Waiter):
    """The schedule in Redis: one hash per host (`forest:host:<host:port>`), shared by every process using the URL."""

    def __init__(self, url: str, *, prefix: str = KEY_PREFIX, stats_keys: tuple[str, ...] = STATS_KEYS,
                 max_host_labels: int = MAX_HOST_LABELS) -> None:
        self.url = url
        self._prefix = prefix
        self._stats_keys = stats_keys
        self._max_labels = max_host_labels
        # A client per event loop: its connections belong to the loop that opened them (a Celery prefork child
        # runs a new loop per task); a loop that is gone takes its client with it.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        # The script calls go over a lean pipelined connection per loop (forest.crawler.resp) where it serves the
        # URL; redis-py's client stays for the rare rest (stats) and for URLs it does not serve (TLS, options).
        self._links: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, resp.Link] = weakref.WeakKeyDictionary()
        self._lean = resp.supported(url)

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=5)
            client.forest_script = client.register_script(_SCRIPT)
            self._clients[loop] = client
        return client

    def _link(self) -> resp.Link:
        loop = asyncio.get_running_loop()
        link = self._links.get(loop)
        if link is None:
            link = self._links[loop] = resp.Link(self.url)
        return link

    async def _run(self, op: str, host: str, *args: float | str) -> float:
        values = [str(a) for a in args] + ["0"] * (3 - len(args))
        keys = [self._prefix + host, *self._stats_keys]
        argv: list[str | int] = [op, host, self._max_labels, *values, int(IDLE_SECONDS)]
        if self._lean:
            raw = await self._link().script(_SCRIPT, _SCRIPT_SHA, keys, argv)
        else:
            raw = await self._client().forest_script(keys=keys, args=argv)
        return float(raw)

    async def _reserve(self, host: str, delay: float, timeout: float) -> float:
        return await self._run("reserve", host, delay, timeout)

    async def _begin(self, host: str, delay: float, timeout: float, waited: float) -> float:
        return await self._run("begin", host, delay, timeout, f"{waited:.6f}")

    async def _end(self, host: str) -> None:
        await self._run("end", host)

    async def hold(self, host: str, seconds: float) -> None:
        """See HostSchedule.hold."""
        await self._run("hold", host, seconds)

    async def crawl_delay(self, host: str, seconds: float) -> None:
        """See HostSchedule.crawl_delay."""
        await self._run("crawl_delay", host, seconds)

    async def throttled(self, host: str) -> None:
        """See HostSchedule.throttled."""
        await self._run("throttled", host)

    async def stats(self) -> dict[str, HostStats]:
        """See HostSchedule.stats."""
        client = self._client()
        requests, waits, throttled = [await client.hgetall(k) for k in self._stats_keys]
        out: dict[str, HostStats] = {}
        for raw in {*requests, *waits, *throttled}:
            out[raw.decode()] = HostStats(int(requests.get(raw, 0)), float(waits.get(raw, 0.0)),
                                          int(throttled.get(raw, 0)))
        return out

    async def aclose(self) -> None:
        """Close the connections of the running loop (if it has any)."""
        link = self._links.pop(asyncio.get_running_loop(), None)
        if link is not None:
            link.close()
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


_PROCESS: dict[str | None, HostSchedule] = {}
_PROCESS_LOCK = threading.Lock()


def process_schedule(redis_url: str | None) -> HostSchedule:
    """This process's schedule for a deployment: in Redis when it has one, else in memory. Built once per URL."""
    with _PROCESS_LOCK:
        schedule = _PROCESS.get(redis_url)
        if schedule is None:
            schedule = _PROCESS[redis_url] = RedisSchedule(redis_url) if redis_url else MemorySchedule()
        return schedule
