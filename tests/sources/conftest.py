"""Fixtures for the source tests: a small demo board the app's egress policy allow-lists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from forest.config import Settings
from forest.demo_site.testing import DemoSite
from tests.plugin import make_settings

DEMO_NOTICES = 30


@pytest.fixture(scope="session")
def demo_site(demo_boards: Callable[..., DemoSite]) -> DemoSite:
    """A demo board with 30 notices (three list pages)."""
    return demo_boards(notices=DEMO_NOTICES, seed=11)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, demo_site: DemoSite) -> Settings:
    """The shared test settings, with the demo board's host:port allow-listed for the crawler."""
    return make_settings(database_url, tmp_path, crawl_allow_hosts=[urlsplit(demo_site.base_url).netloc])
