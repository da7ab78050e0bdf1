"""`forest db backup` / `forest db restore`: a round trip under write load keeps every row, on both backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from forest import backup
from forest.cli import migrate
from forest.cli.main import app
from forest.config import Settings, get_settings
from tests.datasets import Writer, checksums, columns, seed, sync_engine
from tests.plugin import database_name, fresh_pg_database, fresh_sqlite_database, make_settings, recreate_database


@pytest.fixture(params=["postgres", "sqlite"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Settings]]:
    """A source and a target database, both migrated to head."""
    if request.param == "postgres":
        names = (database_name("backup_source"), database_name("backup_target"))
        pair = tuple(make_settings(fresh_pg_database(n), tmp_path) for n in names)
    else:
        pair = tuple(make_settings(fresh_sqlite_database(tmp_path / f"{n}.db"), tmp_path) for n in ("source", "target"))
    yield pair  # type: ignore[misc]
    if request.param == "postgres":
        for name in names:
            asyncio.run(recreate_database(name, drop_only=True))


def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_backup_restore_round_trip_under_write_load(two_databases: tuple[Settings, Settings], tmp_path: Path) -> None:
    source, target = two_databases
    src_engine, dst_engine = sync_engine(source), sync_engine(target)
    with src_engine.begin() as conn:
        seed(conn)
    with dst_engine.begin() as conn:
        seed(conn, bids=10)  # something else there: the restore must replace it, not merge
    writer = Writer(src_engine, start_id=100_000)
    writer.start()
    try:
        _wait_for(lambda: writer.written >= 20)
        result = backup.backup(source, tmp_path / "forest.backup")
        after = writer.written
        _wait_for(lambda: writer.written >= after + 20)  # and writes go on afterwards
    finally:
        writer.stop()
    assert result.bytes > 0
    backup.restore(target, result.path)

    with dst_engine.connect() as conn:
        cols = columns(conn)
        restored = checksums(conn, cols)
        last_bid = conn.execute(sa.text("SELECT max(id) FROM bid")).scalar_one()
        last_event = conn.execute(sa.text("SELECT max(id) FROM job_event")).scalar_one()
        live_bids = conn.execute(sa.text("SELECT count(*) FROM bid WHERE id >= 100000")).scalar_one()
        live_events = conn.execute(sa.text("SELECT count(*) FROM job_event WHERE type = 'bid.new'")).scalar_one()
    with src_engine.connect() as conn:
        # The backup is one moment of the source: exactly the rows committed before it, nothing after.
        expected = checksums(conn, cols, where={"bid": f"id <= {last_bid}", "job_event": f"id <= {last_event}"})
        written_total = conn.execute(sa.text("SELECT count(*) FROM bid WHERE id >= 100000")).scalar_one()
    src_engine.dispose()
    dst_engine.dispose()
    assert restored == expected
    assert 20 <= live_bids < written_total  # taken while the writer ran, not before or after it
    assert live_events == live_bids  # each bid with its event: one transaction, one snapshot
    assert restored["bid"][0] == 2000 + live_bids and restored["webhook_delivery"][0] == 50
    migrate.check(target)  # the restored schema is the migrated one, alembic_version included


def test_backup_restore_refuses_the_wrong_kind_of_file(two_databases: tuple[Settings, Settings],
                                                       tmp_path: Path) -> None:
    source, _target = two_databases
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    with pytest.raises(backup.BackupError, match=r"is not a (pg_dump custom-format file|SQLite database)"):
        backup.restore(source, junk)


def test_backup_cli_writes_a_file_and_restore_asks_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'forest.db'}"
    migrate.upgrade("head", make_settings(url, tmp_path))
    for name, value in {"FOREST_DATABASE_URL": url, "FOREST_VAR_DIR": str(tmp_path),
                        "FOREST_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(app, ["db", "backup", str(tmp_path / "b.sqlite")])
        assert made.exit_code == 0 and "sqlite backup written to" in made.output, made.output
        refused = runner.invoke(app, ["db", "restore", str(tmp_path / "b.sqlite")], input="n\n")
        assert refused.exit_code != 0 and "Replace everything" in refused.output
        done = runner.invoke(app, ["db", "restore", "--yes", str(tmp_path / "b.sqlite")])
        assert done.exit_code == 0 and "restored from" in done.output, done.output
        wrong = runner.invoke(app, ["db", "restore", "--yes", __file__])
        assert wrong.exit_code == 1 and "is not a SQLite database" in wrong.output
    finally:
        get_settings.cache_clear()
