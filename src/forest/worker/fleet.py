"""What each worker process reports about itself, for the API's `/metrics`.

Every worker process writes, each heartbeat interval, how many crawls it runs and how many it may run:
to a Redis hash when `FOREST_REDIS_URL` is set (workers on many machines), otherwise to a file under
`var/workers/` (the embedded default runs on one machine), with its per-host politeness counters: without
Redis each process keeps its own schedule, which the API process cannot read otherwise. A report missing three
heartbeats in a row belongs to a process that died and is dropped by the next reader; on the embedded default,
so is the report of a pid that no longer runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forest.config import Settings
from forest.crawler.hosts import HostStats
from forest.crawls.watch import heartbeat_interval
from forest.filemodes import private_dir

WORKERS_KEY = "forest:workers"


def stale_after(settings: Settings) -> float:
    """Seconds after which a worker's report is taken for a dead process's: three missed heartbeats."""
    return 3 * heartbeat_interval(settings)


@dataclass(frozen=True, slots=True)
class WorkerState:
    """One worker process's last report."""

    worker: str  # host:pid
    running: int
    capacity: int
    at: float
    hosts: dict[str, HostStats] | None = None  # its own schedule's counters (embedded default only)


def _dir(settings: Settings) -> Path:
    return settings.var_dir / "workers"


class WorkerReport:
    """The report of this process."""

    def __init__(self, settings: Settings, *, capacity: int) -> None:
        self.settings = settings
        self.capacity = capacity
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._redis: Any = None

    def _client(self) -> Any:
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(self.settings.redis_url or "", socket_connect_timeout=2,
                                                  socket_timeout=2)
        return self._redis

    async def write(self, *, running: int, hosts: dict[str, HostStats] | None = None) -> None:
        """Record how many crawls this process runs now (and, in its file, its schedule's per-host counters)."""
        report: dict[str, Any] = {"running": running, "capacity": self.capacity, "at": time.time()}
        if self.settings.redis_url:
            await self._client().hset(WORKERS_KEY, self.name, json.dumps(report))
            return
        if hosts:
            report["hosts"] = {h: [s.requests, s.wait_seconds, s.throttled] for h, s in hosts.items()}
        body = json.dumps(report)
        await asyncio.to_thread(_write_file, private_dir(_dir(self.settings)) / f"{os.getpid()}.json", body)

    async def remove(self) -> None:
        """Withdraw the report (the process stops)."""
        if self.settings.redis_url:
            client, self._redis = self._client(), None
            try:
                await client.hdel(WORKERS_KEY, self.name)
            finally:
                await client.aclose()
            return
        (_dir(self.settings) / f"{os.getpid()}.json").unlink(missing_ok=True)


def _write_file(path: Path, body: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(body)
    tmp.replace(path)  # readers see the old report or the new one, never half of one


async def read(settings: Settings) -> list[WorkerState]:
    """The live workers' reports; stale ones are deleted."""
    now = time.time()
    raw: dict[str, str] = {}
    if settings.redis_url:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            raw = {k.decode(): v.decode() for k, v in (await client.hgetall(WORKERS_KEY)).items()}
            stale = [name for name, body in raw.items() if now - json.loads(body)["at"] > stale_after(settings)]
            if stale:
                await client.hdel(WORKERS_KEY, *stale)
        finally:
            await client.aclose()
    else:
        raw = await asyncio.to_thread(_read_files, _dir(settings), now - stale_after(settings))
    states = []
    for name, body in sorted(raw.items()):
        data = json.loads(body)
        if now - data["at"] <= stale_after(settings):
            hosts = {h: HostStats(int(v[0]), float(v[1]), int(v[2])) for h, v in data.get("hosts", {}).items()}
            states.append(WorkerState(worker=name, running=int(data["running"]), capacity=int(data["capacity"]),
                                      at=float(data["at"]), hosts=hosts or None))
    return states


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _read_files(folder: Path, written_after: float) -> dict[str, str]:
    out: dict[str, str] = {}
    host = socket.gethostname()
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            if path.stat().st_mtime < written_after or not _alive(int(path.stem)):
                path.unlink(missing_ok=True)
                continue
            out[f"{host}:{path.stem}"] = path.read_text()
        except (OSError, ValueError):  # removed meanwhile by its process
            continue
    return out
