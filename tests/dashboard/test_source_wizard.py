"""The source wizard in headless Chromium: paste a board URL, see its rows, fix a field, save, crawl, see the notices."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect
from sqlalchemy import update

from forest.database import Database
from forest.demo_site.testing import DemoSite
from forest.users.models import User
from tests.conftest import make_settings
from tests.dashboard.conftest import browser_stack
from tests.plugin import database_name, register

DEMO_NOTICES = 30
CRAWL_TIMEOUT_MS = 40_000


@dataclass
class Wizardry:
    """A running Forest (API, worker), its database and the demo board."""

    base_url: str
    database_url: str
    var_dir: Path
    demo: DemoSite


@pytest.fixture(scope="module")
def wizard_forest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wizardry]:
    """PostgreSQL (`<FOREST_TEST_PG_DB>_browser_wizard`), Redis DB 13, one API and one worker crawling without delay."""
    with browser_stack(tmp_path_factory, database_name("browser_wizard"), "wizard-stack", notices=DEMO_NOTICES, seed=5,
                       FOREST_CRAWL_POLITE_DELAY_SECONDS="0", FOREST_EVENT_POLL_INTERVAL_SECONDS="0.2") as (stack, demo, base):
        yield Wizardry(base_url=base, database_url=stack.database_url, var_dir=stack.var_dir, demo=demo)


def make_admin(forest: Wizardry, email: str) -> None:
    async def run() -> None:
        db = Database.from_settings(make_settings(forest.database_url, forest.var_dir))
        try:
            async with db.sessionmaker() as session:
                await session.execute(update(User).where(User.email == email).values(is_admin=True))
                await session.commit()
        finally:
            await db.dispose()

    # Its own thread and loop: Playwright's sync API keeps a loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def test_wizard_previews_a_board_takes_a_fixed_field_saves_and_crawls(
        wizard_forest: Wizardry, browser: Browser, artifacts_dir: Path) -> None:
    forest = wizard_forest
    board = forest.demo.board
    email = f"wizard-{uuid.uuid4().hex[:8]}@example.com"
    headers = register(forest.base_url, email, "wizard-password-1")
    make_admin(forest, email)
    console_errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    context.set_default_timeout(15_000)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console_errors.append(f"pageerror: {exc}"))
    try:
        page.goto(forest.base_url + "/")
        page.fill("#auth-email", email)
        page.fill("#auth-password", "wizard-password-1")
        page.locator("#login-btn").click()
        expect(page.locator("body")).to_have_attribute("data-auth", "in")

        # 1. Paste the URL of a table whose date cells span rows: detected, most rows read, some not.
        page.locator("#tab-link-sources").click()
        page.fill("#w-url", forest.demo.url("/grid/list.do"))
        page.locator("#wizard-preview").click()
        expect(page.locator("#wizard-result")).to_be_visible()
        expect(page.locator("#wizard-summary")).to_contain_text("(layout detected)")
        expect(page.locator("#wizard-summary")).to_contain_text(f"page 2: GET {forest.demo.url('/grid/list.do')}")
        assert page.locator("#wizard-row-errors li").count() > 0
        page.screenshot(path=str(artifacts_dir / "wizard-detected.png"), full_page=True)

        # 2. Fix a field: the definition reads the table on its grid; mark pinned rows by their class.
        definition = json.loads(page.input_value("#w-definition"))
        definition["list"]["pinned"] = "tr.is-top"
        page.fill("#w-definition", json.dumps(definition))
        page.locator("#wizard-repreview").click()
        expect(page.locator("#wizard-row-errors li")).to_have_count(0)
        expect(page.locator("#wizard-row-list tr")).to_have_count(len(board.pinned) + 10)
        expect(page.locator('#wizard-row-list tr[data-pinned="true"]')).to_have_count(len(board.pinned))
        first = board.notices[0]
        expect(page.locator(f'#wizard-row-list tr[data-external-id="{first.ntt_id}"]')).to_contain_text(first.title)
        page.screenshot(path=str(artifacts_dir / "wizard-fixed.png"), full_page=True)

        # 3. Save with a schedule, crawl, and watch the job finish.
        page.fill("#w-name", "격자 게시판")
        page.fill("#w-schedule", "0 9 * * 1-5")
        page.locator("#wizard-save").click()
        expect(page.locator("#wizard-saved")).to_be_visible()
        source_id = page.get_attribute("#wizard-saved", "data-source-id")
        assert source_id
        source = httpx.get(f"{forest.base_url}/api/v1/sources/{source_id}", headers=headers, timeout=10).json()
        assert source["definition"]["list"]["pinned"] == "tr.is-top" and source["schedule"] == "0 9 * * 1-5"
        page.locator("#wizard-crawl").click()
        job = page.locator("#job-list > li.job").first
        expect(job).to_have_attribute("data-state", "succeeded", timeout=CRAWL_TIMEOUT_MS)

        # 4. The notices: every one of the board, field-exact, pinned ones once; the Notices tab lists them.
        r = httpx.get(f"{forest.base_url}/api/v1/bids", params={"source_id": source_id, "limit": 100},
                      headers=headers, timeout=10)
        stored = {item["external_id"]: item for item in r.json()["items"]}
        expected = [*board.pinned, *board.notices]
        assert sorted(stored) == sorted(str(n.ntt_id) for n in expected)
        for notice in expected:
            item = stored[str(notice.ntt_id)]
            assert (item["title"], item["department"], item["post_date"]) == (
                notice.title, notice.department, notice.post_date.isoformat())
        page.goto(forest.base_url + "/?tab=notices")  # a fresh load: the list was read before the crawl
        expect(page.locator("#bid-rows tr[data-bid-id]").first).to_be_visible()
        expect(page.locator("#bid-rows")).to_contain_text(board.notices[0].title)
        page.screenshot(path=str(artifacts_dir / "wizard-notices.png"), full_page=True)
        assert console_errors == []
    finally:
        context.close()
