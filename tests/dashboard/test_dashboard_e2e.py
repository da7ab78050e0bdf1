"""The dashboard in headless Chromium against a running Forest: sign-in, live crawls, notices, alerts, phone width.

One test walks through a session the way a person would, because each step builds on the previous one
(the crawl fills the notices list, the alert is created before the crawl that triggers it). Elements are
found through the hooks listed in docs/dashboard.md; a screenshot of each step lands in test-artifacts/.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page, WebSocket, expect

from tests.dashboard.conftest import Forest

PAGE_SIZE = 30  # the dashboard's page size (app.js)
# Five of the demo board's departments and a word most titles contain: about 60 notices, three pages.
DEPARTMENTS = ["국유림관리과", "산림경영과", "목재산업과", "산사태방지과", "산불방지과"]
QUERY = "공고"
ALERT_DEPARTMENT = "목재산업과"
CRAWL_TIMEOUT_MS = 40_000

# Nothing is tolerated on the console. Every request is same-origin to a server that stays up for the whole
# session, the reload of step 4 happens with the WebSocket open (Chromium closes an open socket on unload
# without a word), and no step takes the server away, so not even the "net::ERR_CONNECTION_REFUSED" / "WebSocket connection … failed" noise of a
# restarting server can occur; any console error or uncaught exception is a defect.


def api_count(base: str, token: str, params: list[tuple[str, str]]) -> tuple[int, set[int]]:
    """How many bids the API lists for these filters, walking `next_cursor` to the end."""
    ids: list[int] = []
    cursor: str | None = None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        for _ in range(100):
            query = [*params, ("limit", "100"), *([("cursor", cursor)] if cursor else [])]
            r = client.get("/api/v1/bids", params=query)
            assert r.status_code == 200, r.text
            page = r.json()
            ids.extend(item["id"] for item in page["items"])
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
    assert len(ids) == len(set(ids)), "the API itself repeated a bid across pages"
    return len(ids), set(ids)


def start_crawl(page: Page, source_id: int) -> str:
    """Start a crawl of `source_id` from the Crawls tab; the job id comes from the API's answer."""
    page.locator("#tabs a[data-tab=crawls]").click()
    page.wait_for_selector(f'#crawl-source option[value="{source_id}"]', state="attached")
    page.select_option("#crawl-source", str(source_id))
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/crawls")) as answer:
        page.locator("#crawl-start").click()
    assert answer.value.status == 202, answer.value.text()
    job_id = str(answer.value.json()["id"])
    expect(page.locator(f'#job-list > li.job[data-job-id="{job_id}"]')).to_be_visible()
    return job_id


def rendered_bid_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all("#bid-rows tr[data-bid-id]", "rows => rows.map(r => r.dataset.bidId)")
    return ids


def load_to_the_end(page: Page) -> None:
    """Page 2 through "Load more" (the keyboard path), the rest by scrolling the sentinel into view."""
    more_or_end = ("n => document.querySelectorAll('#bid-rows tr[data-bid-id]').length > n"
                   " || !document.getElementById('bid-end').hidden")
    expect(page.locator("#bid-load-more")).to_be_visible()
    # A dispatched click does not scroll, so the sentinel's observer cannot load the same page meanwhile.
    page.locator("#bid-load-more").dispatch_event("click")
    page.wait_for_function(more_or_end, arg=PAGE_SIZE)
    end = page.locator("#bid-end")
    deadline = time.monotonic() + 30
    while not end.is_visible():
        assert time.monotonic() < deadline, "the notices list never reached its end"
        shown = len(rendered_bid_ids(page))
        page.locator("#bid-sentinel").scroll_into_view_if_needed()
        page.wait_for_function(more_or_end, arg=shown, timeout=10_000)


def sign_up(page: Page, base_url: str) -> str:
    """Register a new user through the form; the token the dashboard holds."""
    page.goto(base_url + "/")
    expect(page.locator("body")).to_have_attribute("data-auth", "out")
    page.fill("#auth-email", f"browser-{uuid.uuid4().hex[:8]}@example.com")
    page.fill("#auth-password", "browser-password-1")
    page.locator("#register-btn").click()
    expect(page.locator("body")).to_have_attribute("data-auth", "in")
    token: str = page.evaluate("sessionStorage.getItem('forest.token')")
    assert token
    return token


def crawl_to_success(page: Page, source_id: int) -> None:
    job_id = start_crawl(page, source_id)
    expect(page.locator(f'#job-list > li.job[data-job-id="{job_id}"]')).to_have_attribute(
        "data-state", "succeeded", timeout=CRAWL_TIMEOUT_MS)


def test_notices_tab_refreshes_when_shown_again(forest: Forest, browser: Browser, artifacts_dir: Path) -> None:
    """Found as a new user: the list said "No notices match these filters" after a crawl had stored notices,
    until the page was reloaded. Runs first, while no crawl has stored anything yet."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        token = sign_up(page, forest.base_url)
        expect(page.locator("#tab-notices")).to_be_visible()
        expect(page.locator("#bid-end")).to_have_text("No notices match these filters")
        crawl_to_success(page, forest.refresh_source)
        stored, _ = api_count(forest.base_url, token, [])
        assert stored > 0
        # Back to Notices by its tab, no reload: the notices the crawl stored are listed.
        page.locator("#tabs a[data-tab=notices]").click()
        expect(page.locator("#bid-rows tr[data-bid-id]")).to_have_count(min(PAGE_SIZE, stored))
        expect(page.locator("#bid-end")).not_to_have_text("No notices match these filters")
        expect(page.locator("#bid-count")).to_contain_text(str(min(PAGE_SIZE, stored)))
        page.screenshot(path=str(artifacts_dir / "dashboard-refresh.png"), full_page=False)
    finally:
        context.close()


def test_notice_facts_columns_closing_soon_open_only_and_notice_view(
    forest: Forest, browser: Browser, artifacts_dir: Path,
) -> None:
    """Deadline and amount columns, the "Closing soon" sort with "Open only", and a notice with its body and
    facts, each fact's evidence highlighted in the body: all as the API says."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    try:
        token = sign_up(page, forest.base_url)
        if not api_count(forest.base_url, token, [])[0]:
            crawl_to_success(page, forest.refresh_source)
            page.locator("#tabs a[data-tab=notices]").click()
        headers = page.eval_on_selector_all("#bid-table thead th", "ths => ths.map(t => t.textContent)")
        assert headers[3:5] == ["마감", "금액"], headers
        with httpx.Client(base_url=forest.base_url, headers={"Authorization": f"Bearer {token}"}) as api:
            first = api.get("/api/v1/bids", params={"limit": PAGE_SIZE}).json()["items"]
            expect(page.locator("#bid-rows tr[data-bid-id]")).to_have_count(len(first))
            for bid in first:
                row = page.locator(f'#bid-rows tr[data-bid-id="{bid["id"]}"]')
                deadline = row.locator("td.deadline")
                if bid["closes_at"] is None:
                    expect(deadline).to_have_text("–")
                else:
                    expect(deadline.locator("time")).to_have_attribute("datetime", bid["closes_at"])
                    expect(deadline).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
                want = "–" if bid["amount"] is None else f"{int(bid['amount']):,}원"
                expect(row.locator("td.amount")).to_have_text(want)
            assert any(b["amount"] for b in first) and any(b["closes_at"] for b in first)

            # "Closing soon" ticks "Open only": the deadlines still ahead, soonest first, as the API lists them.
            page.select_option("#f-sort", "closes_at")
            expect(page).to_have_url(re.compile(r"sort=closes_at"))
            expect(page).to_have_url(re.compile(r"open=true"))
            expect(page.locator("#f-open")).to_be_checked()
            soon = api.get("/api/v1/bids", params={"limit": PAGE_SIZE, "sort": "closes_at", "open": "true"}).json()
            assert soon["items"], "the demo board should have notices still open (deadlines after today)"
            expect(page.locator("#bid-rows tr[data-bid-id]").first).to_have_attribute(
                "data-bid-id", str(soon["items"][0]["id"]))
            expect(page.locator("#bid-rows tr[data-bid-id]")).to_have_count(len(soon["items"]))
            assert rendered_bid_ids(page) == [str(b["id"]) for b in soon["items"]]
            shot_closes = page.eval_on_selector_all("#bid-rows tr", "rows => rows.map(r => r.dataset.closesAt)")
            assert all(c and c > "2000" for c in shot_closes[: len(soon["items"])])
            page.screenshot(path=str(artifacts_dir / "dashboard-closing-soon.png"), full_page=False)

            # Unticking "Open only" keeps the sort and lists closed notices too (past deadlines first).
            page.locator("#f-open").uncheck()
            expect(page).not_to_have_url(re.compile(r"open=true"))
            every = api.get("/api/v1/bids", params={"limit": PAGE_SIZE, "sort": "closes_at"}).json()["items"]
            expect(page.locator("#bid-rows tr[data-bid-id]").first).to_have_attribute("data-bid-id", str(every[0]["id"]))
            page.locator("#f-open").check()
            expect(page).to_have_url(re.compile(r"open=true"))

            # The notice view: facts as the detail says, each evidence span highlighted in the body.
            target = next(b for b in soon["items"] if b["amount"] is not None)
            detail = api.get(f"/api/v1/bids/{target['id']}").json()
        page.locator(f'#bid-rows tr[data-bid-id="{target["id"]}"] a.bid-open').click()
        view = page.locator("#bid-view")
        expect(view).to_be_visible()
        expect(view).to_have_attribute("data-state", "ready")
        expect(page.locator("#bid-view-title")).to_have_text(detail["title"])
        expect(page.locator("#bid-view-body")).to_have_text(detail["body"])
        stated = {name for name, fact in detail["facts"].items() if fact["value"] is not None and name != "currency"}
        shown = set(page.eval_on_selector_all("#bid-view-facts .fact", "fs => fs.map(f => f.dataset.fact)"))
        assert shown == stated
        expect(view.locator('.fact[data-fact="amount"] dd')).to_have_text(f"{int(detail['amount']):,}원")
        marks = page.eval_on_selector_all(
            "#bid-view-body mark", "ms => ms.map(m => [m.dataset.fact.split(' '), m.textContent])")
        for name in ("closes_at", "amount", "contract_method"):
            evidence = detail["facts"][name]["evidence"]
            if evidence is None:
                continue
            assert "".join(text for names, text in marks if name in names) == evidence["text"], name
        page.screenshot(path=str(artifacts_dir / "dashboard-notice-view.png"), full_page=False)
        page.locator("#bid-view-close").click()
        expect(view).to_be_hidden()
    finally:
        context.close()
    assert not errors, errors


def test_dashboard_end_to_end(forest: Forest, browser: Browser, artifacts_dir: Path) -> None:
    console_errors: list[str] = []
    ws_frames: list[dict] = []  # type: ignore[type-arg]

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    def on_websocket(socket: WebSocket) -> None:
        def record(payload: str | bytes) -> None:
            try:
                ws_frames.append(json.loads(payload))
            except ValueError:
                pass

        socket.on("framereceived", record)

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda exc: console_errors.append(f"pageerror: {exc}"))
    page.on("websocket", on_websocket)

    def shot(step: str, *, full_page: bool = True) -> None:
        page.screenshot(path=str(artifacts_dir / f"dashboard-{step}.png"), full_page=full_page)

    try:
        # 1. Register and log in through the form.
        page.goto(forest.base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-auth", "out")
        email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
        page.fill("#auth-email", email)
        page.fill("#auth-password", "browser-password-1")
        page.locator("#register-btn").click()
        expect(page.locator("body")).to_have_attribute("data-auth", "in")
        expect(page.locator("#user-email")).to_have_text(email)
        expect(page.locator("#ws-status")).to_have_attribute("data-status", "open")
        expect(page.locator("#auth-error")).to_be_hidden()
        token = page.evaluate("sessionStorage.getItem('forest.token')")
        assert token
        shot("login")

        # 2. Start a crawl of the demo board and watch it finish over the WebSocket.
        job_id = start_crawl(page, forest.demo_source)
        job = page.locator(f'#job-list > li.job[data-job-id="{job_id}"]')
        expect(job).to_have_attribute("data-state", "succeeded", timeout=CRAWL_TIMEOUT_MS)
        expect(job.locator("progress.job-progress")).to_have_attribute("data-progress", "100")
        expect(job.locator(".job-cancel")).to_be_disabled()
        assert int(job.locator("[data-counter=new]").inner_text().replace(",", "")) > 0
        expect(page.locator("#ws-status")).to_have_attribute("data-status", "open")
        # The page was never reloaded nor the list refreshed: the progress came as live events.
        job_events = {f["type"] for f in ws_frames if f.get("job_id") == job_id}
        assert {"job.progress", "job.succeeded"} <= job_events, job_events
        shot("crawl")

        # 3. Filter the notices, then scroll / "Load more" to the end.
        page.locator("#tabs a[data-tab=notices]").click()
        expect(page.locator("#tab-notices")).to_be_visible()
        page.fill("#f-q", QUERY)
        page.fill("#f-department", ", ".join(DEPARTMENTS))
        page.locator("#bid-apply").click()
        expect(page).to_have_url(re.compile(r"[?&]q="))
        page.wait_for_selector("#bid-rows tr[data-bid-id]")
        load_to_the_end(page)
        ids = rendered_bid_ids(page)
        assert len(ids) == len(set(ids)), "a notice was shown twice"
        filters = [("q", QUERY), *(("department", d) for d in DEPARTMENTS)]
        expected, expected_ids = api_count(forest.base_url, token, filters)
        assert expected > PAGE_SIZE, "the filters should span several pages to exercise the scrolling"
        assert len(ids) == expected
        assert {int(i) for i in ids} == expected_ids
        expect(page.locator("#bid-count")).to_contain_text(str(expected))
        departments = set(page.eval_on_selector_all("#bid-rows tr td:nth-child(2)", "tds => tds.map(t => t.textContent)"))
        assert departments <= set(DEPARTMENTS)
        shot("notices")

        # 4. A reload keeps the filters: in the URL, in the inputs, and in what is listed.
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-auth", "in")
        query = parse_qs(urlsplit(page.url).query)
        assert query["tab"] == ["notices"]
        assert query["q"] == [QUERY]
        assert query["department"] == DEPARTMENTS
        expect(page.locator("#f-q")).to_have_value(QUERY)
        expect(page.locator("#f-department")).to_have_value(", ".join(DEPARTMENTS))
        # At least the first page again (a restored scroll position may let the sentinel fetch more).
        expect(page.locator("#bid-rows tr[data-bid-id]").nth(min(PAGE_SIZE, expected) - 1)).to_be_attached()
        ids = rendered_bid_ids(page)
        assert len(ids) == len(set(ids))
        assert {int(i) for i in ids} <= expected_ids
        expect(page.locator("#ws-status")).to_have_attribute("data-status", "open")
        shot("reload")

        # 5. Cancel a slow crawl while it runs.
        slow_id = start_crawl(page, forest.slow_source)
        slow = page.locator(f'#job-list > li.job[data-job-id="{slow_id}"]')
        expect(slow).to_have_attribute("data-state", "running", timeout=CRAWL_TIMEOUT_MS)
        slow.locator(".job-cancel").click()
        expect(slow).to_have_attribute("data-state", "cancelled", timeout=CRAWL_TIMEOUT_MS)
        expect(slow.locator(".job-retry")).to_be_enabled()
        shot("cancel")

        # 6. An alert for one department, then a crawl of a fresh source: its new bids raise toasts.
        page.locator("#tabs a[data-tab=alerts]").click()
        page.fill("#a-name", f"{ALERT_DEPARTMENT} 공고")
        page.fill("#a-department", ALERT_DEPARTMENT)
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/alerts")) as made:
            page.locator("#alert-create").click()
        alert_id = str(made.value.json()["id"])
        expect(page.locator(f'#alert-list > li[data-alert-id="{alert_id}"]')).to_be_visible()
        fresh_id = start_crawl(page, forest.fresh_source)
        toast = page.locator(f'#toasts > .toast[role=status][data-alert-id="{alert_id}"]').first
        expect(toast).to_be_visible(timeout=CRAWL_TIMEOUT_MS)
        expect(toast).to_have_attribute("data-bid-id", re.compile(r"^\d+$"))
        expect(toast).to_contain_text(ALERT_DEPARTMENT)
        shot("alert-toast")
        fresh = page.locator(f'#job-list > li.job[data-job-id="{fresh_id}"]')
        expect(fresh).to_have_attribute("data-state", "succeeded", timeout=CRAWL_TIMEOUT_MS)
        toast_events = [f for f in ws_frames if f.get("type") == "bid.new"]
        assert toast_events and all(str(f.get("alert_id")) == alert_id for f in toast_events)

        # 6b. The alert's feed links: a working Atom URL, a webcal:// calendar link, regenerating kills the old
        # link; "Download CSV" saves the alert's search as an Excel-ready file.
        page.locator("#tabs a[data-tab=alerts]").click()
        item = page.locator(f'#alert-list > li[data-alert-id="{alert_id}"]')
        item.locator(".alert-feed").click()
        feed_url = item.locator(".alert-feed-url")
        expect(feed_url).to_have_value(re.compile(r"/feeds/[0-9a-f]{56}\.atom$"))
        old_url = feed_url.input_value()
        expect(item.locator(".alert-calendar")).to_have_attribute("href", re.compile(r"^webcal://.+\.ics$"))
        assert page.request.get(old_url).status == 200
        item.locator(".alert-regenerate").click()
        expect(feed_url).not_to_have_value(old_url)
        assert page.request.get(old_url).status == 404 and page.request.get(feed_url.input_value()).status == 200
        with page.expect_download() as download:
            item.locator(".alert-csv").click()
        assert re.fullmatch(r"forest-bids-\d{8}T\d{6}Z\.csv", download.value.suggested_filename)
        saved = Path(download.value.path()).read_bytes()
        assert saved.startswith(b"\xef\xbb\xbf") and ALERT_DEPARTMENT.encode() in saved
        shot("alert-feed")

        # 7. Phone width: the notices tab must not scroll sideways.
        page.set_viewport_size({"width": 375, "height": 812})
        page.locator("#tabs a[data-tab=notices]").click()
        expect(page.locator("#tab-notices")).to_be_visible()
        expect(page.locator("#bid-rows tr[data-bid-id]").first).to_be_visible()
        page.evaluate("window.scrollTo(0, 0)")
        overflow = page.evaluate(
            "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
            " viewport: document.documentElement.clientWidth,"
            " table: document.querySelector('#tab-notices .table-wrap').scrollWidth,"
            " wrap: document.querySelector('#tab-notices .table-wrap').clientWidth})")
        assert overflow["doc"] <= overflow["viewport"], overflow
        assert overflow["body"] <= overflow["viewport"], overflow
        assert overflow["table"] <= overflow["wrap"], overflow  # cards, not a table scrolled sideways
        shot("mobile", full_page=False)
    finally:
        context.close()

    # 8. No console errors or uncaught exceptions in the whole session (see the note at the top).
    assert not console_errors, console_errors
