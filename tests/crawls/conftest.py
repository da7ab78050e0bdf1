"""A running Forest stack for job tests: API processes, a Celery worker with beat, the demo board."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from forest.cli import migrate
from forest.config import Settings
from forest.database import Database, utcnow
from forest.demo_site.testing import DemoSite, running_demo_site
from forest.security import new_ticket
from forest.sources.models import Source
from forest.users.models import WsTicket
from forest.worker.broker import declare_queue
from tests.conftest import NO_RATE_LIMITS_ENV, REDIS_URL, SECRET, _recreate_pg, make_settings, pg_url

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """Processes of one Forest deployment under test."""

    env: dict[str, str]
    database_url: str
    demo: DemoSite | None  # the in-process board of tests; benchmarks run theirs as a process instead
    var_dir: Path
    apis: list[str] = field(default_factory=list)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, *args: str, extra_env: dict[str, str] | None = None,
              nice: int = 0) -> subprocess.Popen[bytes]:
        """Start a `forest` subcommand in its own process group, logging to var/<name>.log (`nice`: lower priority)."""
        log = (self.var_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen([*(["nice", "-n", str(nice)] if nice else []), sys.executable, "-m",
                                 "forest.cli.main", *args], cwd=ROOT, env={**self.env, **(extra_env or {})},
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_api(self, name: str, extra_env: dict[str, str] | None = None) -> str:
        """Start an API process and wait until it answers."""
        port = free_port()
        self.spawn(name, "api", "--port", str(port), extra_env=extra_env)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    self.apis.append(base)
                    return base
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"API {name} did not start: {(self.var_dir / f'{name}.log').read_text()[-3000:]}")

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """Start a Celery worker (with the periodic reaper) for this stack."""
        return self.spawn(name, "worker", "--concurrency", "1", "--beat", "--hostname", f"{name}@%h")

    def start_demo_site(self, name: str, *, notices: int, seed: int, nice: int = 0) -> str:
        """Start the demo board as its own process (no GIL shared with a load generator); its base URL."""
        port = free_port()
        self.spawn(name, "demo-site", "--port", str(port), "--notices", str(notices), "--seed", str(seed),
                   "--log-level", "warning", nice=nice)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/robots.txt", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"demo board {name} did not start: {(self.var_dir / f'{name}.log').read_text()[-3000:]}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process group (SIGKILL: the worker dies mid-task, without any clean-up)."""
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Stop every process cleanly (kill what does not stop)."""
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    def add_source(self, name: str | None = None, *, delay: float = 0.0, max_pages: int = 50) -> int:
        """A demo-board source, written directly (no admin API needed for fixtures)."""
        assert self.demo is not None
        demo = self.demo

        async def run() -> int:
            db = Database.from_settings(make_settings(self.database_url, self.var_dir))
            try:
                async with db.sessionmaker() as session:
                    source = Source(name=name or f"demo-{uuid.uuid4().hex[:8]}", start_url=demo.url("/kfs/bid/list.do"),
                                    preset="demo_board", max_pages=max_pages, timezone="Asia/Seoul", polite=delay > 0,
                                    delay_seconds=delay, enabled=True, created_at=utcnow())
                    session.add(source)
                    await session.commit()
                    return source.id
            finally:
                await db.dispose()

        return asyncio.run(run())

    def expired_ticket(self, user_id: int) -> str:
        """A WebSocket ticket of this user that expired a minute ago (written directly)."""
        async def run() -> str:
            db = Database.from_settings(make_settings(self.database_url, self.var_dir))
            ticket, digest = new_ticket()
            try:
                async with db.sessionmaker() as session:
                    session.add(WsTicket(ticket_hash=digest, user_id=user_id,
                                         expires_at=utcnow() - dt.timedelta(minutes=1)))
                    await session.commit()
                return ticket
            finally:
                await db.dispose()

        return asyncio.run(run())


def register(base: str, email: str | None = None, password: str = "stack-password-1") -> dict[str, str]:
    """Register a user through the API and return its auth headers."""
    email = email or f"u{uuid.uuid4().hex[:10]}@example.com"
    r = httpx.post(f"{base}/api/v1/auth/register", json={"email": email, "password": password}, timeout=10)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": email, "password": password}, timeout=10)
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def user_id_of(base: str, headers: dict[str, str]) -> int:
    """The id of the user these headers authenticate."""
    return int(httpx.get(f"{base}/api/v1/users/me", headers=headers, timeout=10).json()["id"])


def ws_close_code(url: str, headers: dict[str, str] | None = None) -> int | None:
    """The close code (or HTTP status of a refused handshake) a WebSocket gets; None if it delivers a message."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, additional_headers=headers or {}, open_timeout=20) as ws:
            ws.recv(timeout=10)
            return None
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except InvalidStatus as exc:
        return int(exc.response.status_code)


def wait_for_job(base: str, headers: dict[str, str], job_id: str, states: set[str], timeout: float = 60) -> dict:  # type: ignore[type-arg]
    """Poll a job until it reaches one of `states`."""
    deadline = time.monotonic() + timeout
    job: dict = {}  # type: ignore[type-arg]
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/api/v1/crawls/{job_id}", headers=headers, timeout=10).json()
        if job.get("state") in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} stayed {job.get('state')}: {job}")


@pytest.fixture(scope="package")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL + Redis, two API processes, one worker, the demo board with 120 notices."""
    url, var_dir = fresh_storage(tmp_path_factory, "forest_test_jobs", "stack", REDIS_URL)
    with running_demo_site(notices=120, seed=7) as demo:
        host_port = demo.base_url.removeprefix("http://")
        settings = make_settings(url, var_dir, crawl_allow_hosts=[host_port])
        migrate.upgrade("head", settings)
        env = stack_env(settings, FOREST_JOB_HEARTBEAT_TIMEOUT_SECONDS="6", FOREST_JOB_QUEUED_TIMEOUT_SECONDS="5",
                        FOREST_EVENT_POLL_INTERVAL_SECONDS="0.2", FOREST_WS_HEARTBEAT_SECONDS="2")
        stack = Stack(env=env, database_url=url, demo=demo, var_dir=var_dir)
        try:
            stack.start_worker("worker-1")
            stack.start_api("api-a")
            stack.start_api("api-b")
            yield stack
        finally:
            stack.stop_all()


def fresh_storage(tmp_path_factory: pytest.TempPathFactory, db_name: str, var_name: str,
                  redis_url: str) -> tuple[str, Path]:
    """A stack's storage, emptied: PostgreSQL `db_name` recreated (its URL), a new var dir, the Redis DB flushed."""
    asyncio.run(_recreate_pg(db_name))
    var_dir = tmp_path_factory.mktemp(var_name)
    url = pg_url(db_name)
    redis.Redis.from_url(redis_url).flushdb()
    return url, var_dir


def stack_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of the stack's processes: these settings, nothing inherited that could override them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREST_")}
    env.update({"FOREST_DATABASE_URL": settings.database_url, "FOREST_BROKER_URL": settings.broker_url,
                "FOREST_SECRET_KEY": SECRET, "FOREST_VAR_DIR": str(settings.var_dir),
                "FOREST_CRAWL_ALLOW_HOSTS": ",".join(settings.crawl_allow_hosts), "PYTHONUNBUFFERED": "1",
                **NO_RATE_LIMITS_ENV, **extra})
    if settings.redis_url:
        env["FOREST_REDIS_URL"] = settings.redis_url
    return env


@pytest.fixture(scope="package")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded default: SQLite, the SQLite Celery broker, no Redis; one API, one worker, a small board."""
    var_dir = tmp_path_factory.mktemp("embedded")
    url = f"sqlite+aiosqlite:///{var_dir / 'forest.db'}"
    with running_demo_site(notices=45, seed=11) as demo:
        host_port = demo.base_url.removeprefix("http://")
        settings = make_settings(url, var_dir, crawl_allow_hosts=[host_port])
        assert settings.broker_url.startswith("sqla+sqlite://") and settings.redis_url is None
        migrate.upgrade("head", settings)
        declare_queue(settings.broker_url)
        env = stack_env(settings, FOREST_EVENT_POLL_INTERVAL_SECONDS="0.2", FOREST_WS_HEARTBEAT_SECONDS="2")
        stack = Stack(env=env, database_url=url, demo=demo, var_dir=var_dir)
        try:
            stack.start_worker("worker")
            stack.start_api("api")
            yield stack
        finally:
            stack.stop_all()


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The test's database (the `backend` fixture's), without an app."""
    db = Database.from_settings(settings)
    try:
        yield db
    finally:
        await db.dispose()
