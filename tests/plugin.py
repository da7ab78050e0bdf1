"""Forest's test fixtures, in one plugin shared by the tests and the benchmarks.

`tests/conftest.py` loads it (`pytest_plugins`); benchmarks import its helpers (`Stack`, `recreate_database`).
Databases: one schema path, the migrations. They run once per session into a template database, and every
PostgreSQL database a test needs is a copy of it (`CREATE DATABASE … TEMPLATE`, a file copy on disk instead of
running some 20 migrations again); SQLite tests copy a migrated file. Every database name starts with
`FOREST_TEST_PG_DB`, so two checkouts can run the suite at once on one server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import psycopg
import pytest
import redis
import uvicorn
from fastapi import FastAPI

from forest.app import create_app
from forest.cli import migrate
from forest.config import Settings
from forest.database import Database, utcnow
from forest.demo_site.testing import DemoSite, ThreadedServer, running_demo_site
from forest.security import create_access_token, hash_password, new_ticket
from forest.sources.models import Source
from forest.users.models import User, WsTicket
from forest.users.service import normalise_email
from forest.worker.broker import declare_queue

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_DSN = os.environ.get("FOREST_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_TEST_DB = os.environ.get("FOREST_TEST_PG_DB", "forest_test")
REDIS_URL = os.environ.get("FOREST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Rate limits off unless a test sets them: tests sign in and submit far faster than any person, and the
# counters in a shared Redis outlive a test (tests/test_ratelimit.py checks the limits themselves).
NO_RATE_LIMITS = {"rate_limit_auth_per_ip": "", "rate_limit_auth_per_account": "", "rate_limit_crawls_per_user": "",
                  "rate_limit_refusal_delay_seconds": "0"}
NO_RATE_LIMITS_ENV = {f"FOREST_{name.upper()}": value for name, value in NO_RATE_LIMITS.items()}
DEFAULT_PASSWORD = "correct-horse-1"
T = TypeVar("T")


def database_name(purpose: str) -> str:
    """The name of a test database for `purpose`: `FOREST_TEST_PG_DB` is the prefix of every one."""
    return f"{PG_TEST_DB}_{purpose}"


TEMPLATE_DB = database_name("template")


def pg_url(db: str = PG_TEST_DB, *, admin_dsn: str = PG_ADMIN_DSN) -> str:
    """The SQLAlchemy (asyncpg) URL of database `db` on the server of `admin_dsn`."""
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{db}"


def blocking(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous code, in a thread of its own if this one runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


async def recreate_database(db: str, *, drop_only: bool = False, template: str | None = None,
                            admin_dsn: str = PG_ADMIN_DSN) -> None:
    """Drop database `db` and (unless `drop_only`) create it anew, empty or as a copy of `template`.

    Sessions on `db` (and on `template`, which a copy needs to itself) are ended first."""
    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()", [db, template or db])
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{db}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()


def make_settings(database_url: str, var_dir: Path, **extra: object) -> Settings:
    """Settings for a test process."""
    values: dict[str, object] = {
        "database_url": database_url,
        "var_dir": var_dir,
        "secret_key": SECRET,
        "broker_url": REDIS_URL if database_url.startswith("postgresql") else f"sqla+sqlite:///{var_dir}/broker.db",
        "redis_url": REDIS_URL if database_url.startswith("postgresql") else None,
        "crawl_allow_hosts": [],
        "environment": "local",
        # argon2 at normal priority: the shared test machine is rarely idle, and at niceness 19 every
        # make_user would wait for spare CPU.
        "password_hash_nice": 0,
        **NO_RATE_LIMITS,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


_templates: dict[str, str | Path] = {}


@contextmanager
def _template_lock() -> Iterator[None]:
    # Two test processes of one checkout (the live tests beside the others) share the template: one must not
    # rebuild it while the other copies it.
    with psycopg.connect(PG_ADMIN_DSN.replace("postgresql+asyncpg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (TEMPLATE_DB,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (TEMPLATE_DB,))


def pg_template() -> str:
    """The name of a PostgreSQL database migrated to head (once per process): the template of the others."""
    if "pg" not in _templates:
        with _template_lock(), tempfile.TemporaryDirectory() as var:
            blocking(recreate_database(TEMPLATE_DB))
            migrate.upgrade("head", make_settings(pg_url(TEMPLATE_DB), Path(var)))
        _templates["pg"] = TEMPLATE_DB
    return str(_templates["pg"])


def fresh_pg_database(db: str) -> str:
    """Database `db` recreated as a copy of the migrated template: its URL."""
    template = pg_template()
    with _template_lock():
        blocking(recreate_database(db, template=template))
    return pg_url(db)


def sqlite_template_file() -> Path:
    """A SQLite file migrated to head (once per process), for tests to copy."""
    if "sqlite" not in _templates:
        var = Path(tempfile.mkdtemp(prefix="forest-sqlite-template-"))
        migrate.upgrade("head", make_settings(f"sqlite+aiosqlite:///{var / 'forest.db'}", var))
        _templates["sqlite"] = var / "forest.db"
    return Path(_templates["sqlite"])


def fresh_sqlite_database(target: Path) -> str:
    """A copy of the migrated SQLite file at `target`: its URL."""
    shutil.copyfile(sqlite_template_file(), target)
    return f"sqlite+aiosqlite:///{target}"


# Every table of the test's schema (whatever the migrations made), emptied with its sequences: a new table
# cannot be forgotten. One round trip; `alembic_version` stays.
_EMPTY_EVERY_TABLE = """
DO $$
DECLARE tables text;
BEGIN
  SELECT string_agg(format('%I', tablename), ', ') INTO tables
  FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version';
  EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
END $$
"""


async def empty_every_table(url: str) -> None:
    """Empty every table of the PostgreSQL database at `url` (but alembic_version), restarting its sequences."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=5)
    try:
        await conn.execute(_EMPTY_EVERY_TABLE)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    """The PostgreSQL test database (`FOREST_TEST_PG_DB`), a fresh copy of the migrated template."""
    return fresh_pg_database(PG_TEST_DB)


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    """A migrated SQLite file that each test copies."""
    return sqlite_template_file()


@pytest.fixture(params=["postgres", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on PostgreSQL and once on embedded SQLite."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean database for this test on the chosen backend: every table emptied, or a fresh file."""
    if backend == "postgres":
        url: str = request.getfixturevalue("pg_migrated")
        blocking(empty_every_table(url))
        return url
    return fresh_sqlite_database(tmp_path / "forest.db")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at this test's database."""
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application with its lifespan running."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def db(app: FastAPI) -> Database:
    """The app's database, for factories."""
    database: Database = app.state.db
    return database


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The test's database (the `backend` fixture's), without an app."""
    db = Database.from_settings(settings)
    try:
        yield db
    finally:
        await db.dispose()


@dataclass
class Account:
    """A user created by a factory, with ready-made auth headers."""

    id: int
    email: str
    password: str
    headers: dict[str, str]


@pytest.fixture(scope="session")
def password_hashes() -> Callable[[str], str]:
    """The argon2 hash of a password, computed once per password and session (hashing is slow on purpose)."""
    known: dict[str, str] = {}

    def hashed(password: str) -> str:
        if password not in known:
            known[password] = hash_password(password)
        return known[password]

    return hashed


@pytest.fixture(scope="session")
def password_hash(password_hashes: Callable[[str], str]) -> str:
    """The hash of the factories' default password."""
    return password_hashes(DEFAULT_PASSWORD)


@pytest.fixture
def make_user(db: Database, settings: Settings, password_hashes: Callable[[str], str]):  # type: ignore[no-untyped-def]
    """Factory: create a user (as `users.create` stores one) and return it with a bearer token."""

    async def factory(*, admin: bool = False, email: str | None = None, password: str = DEFAULT_PASSWORD) -> Account:
        email = normalise_email(email or f"user-{uuid.uuid4().hex[:10]}@example.com")
        password_hash = await asyncio.to_thread(password_hashes, password)
        async with db.sessionmaker() as session:
            user = User(email=email, password_hash=password_hash, is_admin=admin, created_at=utcnow())
            session.add(user)
            await session.commit()
        token, _ = create_access_token(settings, user.id)
        return Account(user.id, email, password, {"Authorization": f"Bearer {token}"})

    return factory


@pytest.fixture(scope="session")
def demo_boards() -> Iterator[Callable[..., DemoSite]]:
    """Demo boards on 127.0.0.1 by (notices, seed), each started on first use and kept for the session."""
    with ExitStack() as running:
        boards: dict[tuple[int, int], DemoSite] = {}

        def board(*, notices: int, seed: int) -> DemoSite:
            if (notices, seed) not in boards:
                boards[notices, seed] = running.enter_context(running_demo_site(notices=notices, seed=seed))
            return boards[notices, seed]

        yield board


@pytest.fixture(scope="session")
def demo_site(demo_boards: Callable[..., DemoSite]) -> DemoSite:
    """The demo board of a package's tests: 120 notices unless its conftest asks for another (`demo_boards`)."""
    return demo_boards(notices=120, seed=7)


@pytest.fixture
def demo(demo_site: DemoSite) -> DemoSite:
    """The demo board, freshly reset (notices, faults, counters, robots.txt)."""
    demo_site.board.reset()
    return demo_site


@pytest.fixture
def artifacts_dir() -> Iterator[Path]:
    """Where tests leave files for people to look at (screenshots)."""
    path = Path(os.environ.get("FOREST_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    yield path


@contextmanager
def serving(settings: Settings, options: dict[str, Any]) -> Iterator[str]:
    """Forest's app on a real uvicorn server (these options) on a free port: its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = ThreadedServer(uvicorn.Config(create_app(settings), **{"log_level": "warning", "access_log": False, **options}))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(20), "the server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


# ---- A running deployment: API and worker processes (the live tests and the benchmarks) ----


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


def fresh_storage(tmp_path_factory: pytest.TempPathFactory, db_name: str, var_name: str,
                  redis_url: str) -> tuple[str, Path]:
    """A stack's storage, emptied: PostgreSQL `db_name` a fresh copy of the migrated template (its URL), a new var
    dir, the Redis DB flushed."""
    url = fresh_pg_database(db_name)
    var_dir = tmp_path_factory.mktemp(var_name)
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
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL (`<FOREST_TEST_PG_DB>_jobs`) + Redis, two API processes, one worker, a 120-notice demo board."""
    url, var_dir = fresh_storage(tmp_path_factory, database_name("jobs"), "stack", REDIS_URL)
    with running_demo_site(notices=120, seed=7) as demo:
        host_port = demo.base_url.removeprefix("http://")
        settings = make_settings(url, var_dir, crawl_allow_hosts=[host_port])
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


@pytest.fixture(scope="package")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded default: SQLite, the SQLite Celery broker, no Redis; one API, one worker, a small board."""
    var_dir = tmp_path_factory.mktemp("embedded")
    url = fresh_sqlite_database(var_dir / "forest.db")
    with running_demo_site(notices=45, seed=11) as demo:
        host_port = demo.base_url.removeprefix("http://")
        settings = make_settings(url, var_dir, crawl_allow_hosts=[host_port])
        assert settings.broker_url.startswith("sqla+sqlite://") and settings.redis_url is None
        declare_queue(settings.broker_url)
        env = stack_env(settings, FOREST_EVENT_POLL_INTERVAL_SECONDS="0.2", FOREST_WS_HEARTBEAT_SECONDS="2")
        stack = Stack(env=env, database_url=url, demo=demo, var_dir=var_dir)
        try:
            stack.start_worker("worker")
            stack.start_api("api")
            yield stack
        finally:
            stack.stop_all()


class RecordingQueue:
    """A `JobQueue` that keeps the job ids sent to it (the test runs or inspects each delivery itself)."""

    def __init__(self) -> None:
        self.sent: list[uuid.UUID] = []

    async def send(self, job_id: uuid.UUID, task_id: str) -> None:
        self.sent.append(job_id)

    async def revoke(self, task_id: str) -> None:
        return None
