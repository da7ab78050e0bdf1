"""Upgrade from the released schema (0003) to head with data, while an API process serves the bid list.

The API process runs the released code (the source tree at RELEASE, read from git): during an upgrade the
old code keeps serving until the new one is deployed, so every migration must leave a schema the old code
can use. Every row of every table must survive with the same values, and no request may fail.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command

from forest.cli import migrate
from forest.config import Settings
from forest.security import create_access_token
from tests.datasets import checksums, columns, seed, sync_engine
from tests.plugin import SECRET, database_name, make_settings, pg_url, recreate_database

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
# The last commit before revisions after 0003 were written: the released code that served schema 0003.
RELEASE = "6383b1f9dc63e574dd933781935f81d89bfb6ec9"
UPGRADE_DB = database_name("upgrade")


@pytest.fixture(scope="module")
def release_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The released `src/` tree, extracted from git."""
    out = tmp_path_factory.mktemp("release")
    proc = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", RELEASE, "src"], capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, f"the released code {RELEASE} is not in this clone's history: {proc.stderr!r}"
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(out, filter="data")
    return out / "src"


@pytest.fixture
def released_db(tmp_path: Path) -> Iterator[Settings]:
    """A PostgreSQL database at revision 0003, filled."""
    asyncio.run(recreate_database(UPGRADE_DB))
    settings = make_settings(pg_url(UPGRADE_DB), tmp_path)
    migrate.upgrade("0003", settings)
    engine = sync_engine(settings)
    with engine.begin() as conn:
        seed(conn)
    engine.dispose()
    yield settings
    asyncio.run(recreate_database(UPGRADE_DB, drop_only=True))


class Reader(threading.Thread):
    """GET /api/v1/bids (first and second page) in a loop, counting answers by status."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                first = self.client.get("/api/v1/bids", params={"limit": 20})
                self._count(first)
                cursor = first.json().get("next_cursor") if first.status_code == 200 else None
                if cursor:
                    self._count(self.client.get("/api/v1/bids", params={"limit": 20, "cursor": cursor}))
            except httpx.HTTPError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")

    def _count(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            self.failures.append(f"{response.status_code}: {response.text[:300]}")

    def answered(self) -> int:
        return sum(self.statuses.values())


def _serve_release(release_src: Path, settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(release_src), "FOREST_DATABASE_URL": settings.database_url,
           "FOREST_SECRET_KEY": SECRET, "FOREST_VAR_DIR": str(settings.var_dir), "FOREST_ENVIRONMENT": "local",
           "FOREST_BROKER_URL": settings.broker_url, "FOREST_CRAWL_ALLOW_HOSTS": ""}
    env.pop("FOREST_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(release_src), "--factory",
                             "forest.app:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level",
                             "warning", "--no-access-log"], cwd=release_src.parent, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the released API did not start:\n" + log.read_text()[-3000:])


def upgrade_under_load(settings: Settings, release_src: Path, log: Path, extra_versions: tuple[Path, ...] = ()) -> None:
    """Upgrade 0003 → heads while the released API serves; raise AssertionError naming what was lost or failed."""
    engine = sync_engine(settings)
    with engine.connect() as conn:
        before_cols = columns(conn)
        before = checksums(conn, before_cols)
    proc, base = _serve_release(release_src, settings, log)
    reader = Reader(base, create_access_token(settings, 1)[0])
    try:
        reader.start()
        deadline = time.monotonic() + 30
        while reader.answered() < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        served_before = reader.answered()
        command.upgrade(migrate.alembic_config(settings, extra_versions=extra_versions), "heads")
        served_after = reader.answered()
        while reader.answered() < served_after + 5 and time.monotonic() < deadline + 30:
            time.sleep(0.02)
    finally:
        reader.halt.set()
        reader.join(timeout=30)
        proc.terminate()
        proc.wait(timeout=10)
    with engine.connect() as conn:
        after = checksums(conn, before_cols)  # the released columns, read from the upgraded schema
    engine.dispose()
    assert not reader.failures, f"the API failed during the upgrade: {reader.failures[:5]}"
    assert served_before >= 5 and reader.answered() >= served_after + 5, f"too few requests: {reader.statuses}"
    lost = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert not lost, "rows changed by the upgrade ((rows, sha256) before, after): " + ", ".join(
        f"{t}: {b} -> {a}" for t, (b, a) in lost.items())


def test_upgrade_from_release_keeps_every_row_while_serving(released_db: Settings, release_src: Path,
                                                           tmp_path: Path) -> None:
    upgrade_under_load(released_db, release_src, tmp_path / "api.log")
    migrate.check(released_db)


def test_upgrade_check_fails_on_a_migration_that_loses_a_column(released_db: Settings, release_src: Path,
                                                                tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"rows changed by the upgrade .*bid: \(2000, '[0-9a-f]+'\) -> \(2000,"):
        upgrade_under_load(released_db, release_src, tmp_path / "api.log", (FIXTURES / "lossy",))
