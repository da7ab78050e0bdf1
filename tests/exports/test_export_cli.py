"""`forest export`: a search to a file as a real process, read back with the csv module."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forest.database import Database
from tests.bids.factories import BidRow, make_bids
from tests.conftest import SECRET, make_settings

ROOT = Path(__file__).resolve().parents[2]


def _seed(database_url: str, tmp_path: Path) -> list[BidRow]:
    async def run() -> list[BidRow]:
        db = Database.from_settings(make_settings(database_url, tmp_path))
        try:
            return await make_bids(db, 30)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _forest(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOREST_DATABASE_URL": database_url, "FOREST_SECRET_KEY": SECRET,
           "FOREST_VAR_DIR": str(tmp_path), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "forest.cli.main", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"], indirect=True)
def test_forest_export_writes_the_filtered_search(database_url: str, tmp_path: Path) -> None:
    bids = _seed(database_url, tmp_path)
    out = tmp_path / "bids.csv"

    done = _forest(database_url, tmp_path, "export", "--format", "csv", "--department", "산림경영과",
                   "--sort", "id", "-o", str(out))

    assert done.returncode == 0, done.stderr
    expected = sorted(b.id for b in bids if b.department == "산림경영과")
    assert f"wrote {len(expected):,} notices" in done.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data[3:].decode(), newline="")))
    assert [int(r["id"]) for r in rows] == expected

    jsonl = tmp_path / "bids.jsonl"
    part = _forest(database_url, tmp_path, "export", "-f", "jsonl", "--sort", "id", "--max-rows", "10", "-o",
                   str(jsonl))
    assert part.returncode == 0 and "resume with --cursor" in part.stderr
    assert [json.loads(line)["id"] for line in jsonl.read_text().splitlines()] == sorted(b.id for b in bids)[:10]

    records = tmp_path / "records.json"
    done = _forest(database_url, tmp_path, "export", "--format", "ocds-records", "--sort", "id", "-o", str(records))
    assert done.returncode == 0, done.stderr
    package = json.loads(records.read_text())
    assert [r["compiledRelease"]["tender"]["title"] for r in package["records"]] == [
        b.title for b in sorted(bids, key=lambda b: b.id)]
    assert all(len(r["releases"]) == 1 and r["releases"][0]["ocid"] == r["ocid"] for r in package["records"])

    refused = _forest(database_url, tmp_path, "export", "-f", "xlsx", "-o", str(tmp_path / "x"))
    assert refused.returncode == 2 and "format" in refused.stderr
