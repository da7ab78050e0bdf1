"""Owner-only modes for what Forest keeps on disk: `var/`, the SQLite databases and the secret key.

The embedded database holds password hashes and webhook signing secrets, the broker database holds task
messages: other local users must not read them. Every process that may be the first to create one (API,
worker, beat, `forest up`, migrations) calls these before opening it, so the mode does not depend on which
process came first or on its umask. SQLite gives a database's `-wal`, `-shm` and journal files the mode of
the database file itself, so creating that one 0600 is enough for them; existing ones are tightened too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if stat.S_IMODE(st.st_mode) & ~mode == 0:
        return
    try:
        path.chmod(mode)
    except OSError as exc:  # not ours (another user's file): say so, the operator decides
        log.warning("cannot make %s owner-only (mode %o): %s", path, stat.S_IMODE(st.st_mode), exc)


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700, or tighten it to 0700 if it is group- or world-accessible."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty as 0600 if it is missing (its directory must exist), or tighten it to 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)
    return path


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (`sqlite+aiosqlite:///…`, the broker's `sqla+sqlite:///…`); None otherwise."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if "sqlite" not in parsed.drivername or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):  # a URI filename: SQLite opens it itself, leave it be
        return None
    return Path(parsed.database)


def protect_sqlite(url: str, var_dir: Path) -> None:
    """Make `var_dir` owner-only and the SQLite file of `url` (with its companions) 0600 before it is opened."""
    path = sqlite_path(url)
    if path is None:
        return
    private_dir(var_dir)
    if not path.parent.is_dir():
        return  # SQLite will report the missing directory itself
    private_file(path)
    for suffix in _SQLITE_COMPANIONS:
        _tighten(path.with_name(path.name + suffix), FILE_MODE)
