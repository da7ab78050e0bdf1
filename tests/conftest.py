"""Shared fixtures: real PostgreSQL and SQLite databases, the app, clients and factories."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from forest.app import create_app
from forest.cli import migrate
from forest.config import Settings
from forest.database import Database
from forest.demo_site.testing import ThreadedServer
from forest.security import create_access_token
from forest.users import service as users

PG_ADMIN_DSN = os.environ.get("FOREST_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_TEST_DB = os.environ.get("FOREST_TEST_PG_DB", "forest_test")
REDIS_URL = os.environ.get("FOREST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Rate limits off unless a test sets them: tests sign in and submit far faster than any person, and the
# counters in a shared Redis outlive a test (tests/test_ratelimit.py checks the limits themselves).
NO_RATE_LIMITS = {"rate_limit_auth_per_ip": "", "rate_limit_auth_per_account": "", "rate_limit_crawls_per_user": "",
                  "rate_limit_refusal_delay_seconds": "0"}
NO_RATE_LIMITS_ENV = {f"FOREST_{name.upper()}": value for name, value in NO_RATE_LIMITS.items()}
TABLES = ["job_event", "idempotency_key", "crawl_job", "alert", "bid", "source", "ws_ticket", '"user"']


def pg_url(db: str = PG_TEST_DB) -> str:
    """The SQLAlchemy URL of a test database on the local PostgreSQL."""
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{db}"


async def _recreate_pg(db: str, *, drop_only: bool = False) -> None:
    """Drop (and unless `drop_only`, create) a scratch database, ending its sessions first."""
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{db}"')
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


@pytest.fixture(scope="session")
def pg_migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The PostgreSQL test database, created fresh and migrated once per run."""
    asyncio.run(_recreate_pg(PG_TEST_DB))
    migrate.upgrade("head", make_settings(pg_url(), tmp_path_factory.mktemp("pgvar")))
    return pg_url()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies."""
    var = tmp_path_factory.mktemp("sqlite-template")
    path = var / "forest.db"
    migrate.upgrade("head", make_settings(f"sqlite+aiosqlite:///{path}", var))
    return path


@pytest.fixture(params=["postgres", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on PostgreSQL and once on embedded SQLite."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean database for this test on the chosen backend."""
    if backend == "postgres":
        url: str = request.getfixturevalue("pg_migrated")

        async def truncate() -> None:
            db = Database.from_settings(make_settings(url, tmp_path))
            async with db.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            await db.dispose()

        asyncio.run(truncate())
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "forest.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


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


@dataclass
class Account:
    """A user created by a factory, with ready-made auth headers."""

    id: int
    email: str
    password: str
    headers: dict[str, str]


@pytest.fixture
def make_user(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    """Factory: create a user and return it with a bearer token."""

    async def factory(*, admin: bool = False, email: str | None = None, password: str = "correct-horse-1") -> Account:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        async with db.sessionmaker() as session:
            user = await users.create(session=session, email=email, password=password, is_admin=admin)
        token, _ = create_access_token(settings, user.id)
        return Account(user.id, email, password, {"Authorization": f"Bearer {token}"})

    return factory


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
    server = ThreadedServer(uvicorn.Config(create_app(settings), log_level="warning", access_log=False, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(20), "the server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
