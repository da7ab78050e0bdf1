"""`forest db backup` / `forest db restore`: a consistent copy of the database while it serves, and back.

PostgreSQL: `pg_dump --format=custom` (one snapshot, so every table is from the same moment however many
writes run meanwhile) and `pg_restore --clean --single-transaction` (all or nothing). SQLite: the online
backup API, which copies the file page by page under a read lock while other connections keep going.
The PostgreSQL client tools are used rather than a Python reimplementation: they are the format's
reference and restore across server versions. docs/operations.md describes both.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from forest.config import Settings

PG_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why in words."""


@dataclass(frozen=True)
class BackupResult:
    """What was written or read."""

    path: Path
    bytes: int
    backend: str


def _url(settings: Settings) -> URL:
    return make_url(settings.database_url)


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian/Ubuntu: apt-get install postgresql-client)")
    return found


def _pg_args(url: URL) -> tuple[list[str], dict[str, str]]:
    """Connection flags for the client tools; the password travels in the environment, not argv."""
    args = ["--no-password"]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def backup(settings: Settings, path: Path) -> BackupResult:
    """Write a consistent copy of the configured database to `path` (replaced if it exists)."""
    url = _url(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    if url.get_backend_name() == "postgresql":
        args, env = _pg_args(url)
        _run([_pg_tool("pg_dump"), *args, "--format=custom", "--no-owner", "--file", str(partial),
              "--dbname", str(url.database)], env, "pg_dump")
        backend = "postgresql"
    elif url.get_backend_name() == "sqlite":
        source_path = _sqlite_path(url)
        if not source_path.exists():
            raise BackupError(f"no SQLite database at {source_path}")
        source = sqlite3.connect(source_path, timeout=30)
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # all pages in one step: one consistent read of the file
        finally:
            target.close()
            source.close()
        backend = "sqlite"
    else:
        raise BackupError(f"cannot back up a {url.get_backend_name()} database")
    partial.replace(path)  # a finished backup appears whole or not at all
    return BackupResult(path=path, bytes=path.stat().st_size, backend=backend)


def restore(settings: Settings, path: Path) -> BackupResult:
    """Replace the configured database's contents with the backup at `path`, all or nothing."""
    url = _url(settings)
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if url.get_backend_name() == "postgresql":
        if not head.startswith(PG_MAGIC):
            raise BackupError(f"{path} is not a pg_dump custom-format file (made by `forest db backup` on PostgreSQL)")
        args, env = _pg_args(url)
        _run([_pg_tool("pg_restore"), *args, "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--exit-on-error", "--dbname", str(url.database), str(path)], env, "pg_restore")
        backend = "postgresql"
    elif url.get_backend_name() == "sqlite":
        if head != SQLITE_MAGIC:
            raise BackupError(f"{path} is not a SQLite database (made by `forest db backup` on SQLite)")
        target_path = _sqlite_path(url)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(path)
        target = sqlite3.connect(target_path, timeout=30)
        try:
            source.backup(target)  # one step under the target's write lock: readers see old or new, never half
        finally:
            target.close()
            source.close()
        backend = "sqlite"
    else:
        raise BackupError(f"cannot restore into a {url.get_backend_name()} database")
    return BackupResult(path=path, bytes=path.stat().st_size, backend=backend)
