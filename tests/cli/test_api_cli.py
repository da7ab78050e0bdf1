"""`forest api`'s uvicorn options follow the settings."""

from __future__ import annotations

from pathlib import Path

from forest.cli.main import server_options
from tests.plugin import make_settings


def test_forest_api_logs_each_request_only_when_asked(tmp_path: Path) -> None:
    quiet = make_settings("sqlite+aiosqlite:///unused.db", tmp_path)
    assert server_options(quiet)["access_log"] is False
    assert server_options(quiet.model_copy(update={"request_log": True}))["access_log"] is True
