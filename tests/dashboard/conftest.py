"""A running Forest for the dashboard's browser tests, and a headless Chromium page on it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, sync_playwright

from forest.demo_site.testing import DemoSite, running_demo_site
from tests.conftest import REDIS_URL, SECRET
from tests.plugin import Stack, database_name, fresh_storage

CHROMIUM = os.environ.get("FOREST_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Redis database 13 belongs to these tests alone (others use 15), so flushing it disturbs nobody.
BROWSER_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/13"
DEMO_NOTICES = 150


@dataclass
class Forest:
    """The deployment the browser talks to, and the sources it can crawl."""

    stack: Stack
    base_url: str
    demo_source: int
    slow_source: int
    fresh_source: int
    # Crawled by the test of the notices tab's refresh, which needs a source nobody crawled before.
    refresh_source: int
    demo_host: str


@contextmanager
def browser_stack(tmp_path_factory: pytest.TempPathFactory, db_name: str, var_name: str, *, notices: int,
                  seed: int = 1, **env: str) -> Iterator[tuple[Stack, DemoSite, str]]:
    """A fresh PostgreSQL `db_name`, Redis DB 13 and demo board; one API and one worker (`env`: more of their
    settings). Yields the stack, the board and the API's base URL."""
    url, var_dir = fresh_storage(tmp_path_factory, db_name, var_name, BROWSER_REDIS_URL)
    with running_demo_site(notices=notices, seed=seed) as demo:
        host_port = demo.base_url.removeprefix("http://")
        stack_env = {**os.environ, "FOREST_DATABASE_URL": url, "FOREST_BROKER_URL": BROWSER_REDIS_URL,
                     "FOREST_REDIS_URL": BROWSER_REDIS_URL, "FOREST_SECRET_KEY": SECRET,
                     "FOREST_VAR_DIR": str(var_dir), "FOREST_CRAWL_ALLOW_HOSTS": host_port, **env,
                     "PYTHONUNBUFFERED": "1"}
        stack = Stack(env=stack_env, database_url=url, demo=demo, var_dir=var_dir)
        try:
            stack.start_worker("worker")
            base = stack.start_api("api")
            yield stack, demo, base
        finally:
            stack.stop_all()


@pytest.fixture(scope="module")
def forest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forest]:
    """PostgreSQL (`<FOREST_TEST_PG_DB>_browser`, fresh), Redis DB 13, one API, one worker with beat, the demo board."""
    with browser_stack(tmp_path_factory, database_name("browser"), "browser-stack", notices=DEMO_NOTICES, seed=1,
                       FOREST_EVENT_POLL_INTERVAL_SECONDS="0.2", FOREST_WS_HEARTBEAT_SECONDS="5") as (stack, demo, base):
        yield Forest(
            stack=stack,
            base_url=base,
            demo_source=stack.add_source("demo-board"),
            # 15 list pages half a second apart: long enough to be cancelled while it runs.
            slow_source=stack.add_source("demo-board-slow", delay=0.5),
            fresh_source=stack.add_source("demo-board-fresh"),
            refresh_source=stack.add_source("demo-board-refresh"),
            demo_host=demo.base_url.removeprefix("http://"),
        )


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """The system Chromium (`make browser` installs it); never downloaded by the tests."""
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not path:
        pytest.fail("Chromium is not installed (run `make browser`)")
    return str(path)



@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Chromium driven by the sync Playwright API."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
