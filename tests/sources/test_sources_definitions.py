"""Source definitions through the public API: field errors, the preview, presets, and crawls of every board shape."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest

from forest.config import Settings
from forest.crawler.presets.definitions import EGOV_BOARD, EGOV_FORM_POST, EGOV_JSON_LIST
from forest.crawls import runner
from forest.demo_site.notices import Notice
from forest.demo_site.shapes import english_id, file_key
from forest.demo_site.testing import DemoSite
from tests.crawler.crawler_support import CARDS, GRID

API = "/api/v1/sources"
# (start path, definition, notice id as stored, attachment path, whether pinned notices are listed)
SHAPES: dict[str, tuple[str, dict[str, Any] | None, Any, Any, bool]] = {
    "form_post_session": ("/egovpost/bid/list.do", EGOV_FORM_POST, lambda n: str(n.ntt_id),
                          lambda a: f"/cmm/fms/FileDown.do?atchFileId={file_key(a.file_id)}&fileSn=0", True),
    "json_list": ("/jsonbbs/list.do", EGOV_JSON_LIST, lambda n: str(n.ntt_id),
                  lambda a: f"/jsonbbs/file/{a.file_id}", True),
    "cards": ("/cards/list", CARDS, lambda n: str(n.ntt_id), lambda a: f"/shapes/file/{a.file_id}", True),
    "rowspan_grid": ("/grid/list.do", GRID, lambda n: str(n.ntt_id), lambda a: f"/shapes/file/{a.file_id}", True),
    "iframe": ("/framed/", {**EGOV_BOARD, "frame": "iframe#boardFrame"}, lambda n: str(n.ntt_id),
               lambda a: f"/framed/board/download.do?fileId={a.file_id}", True),
    "english_bare_url": ("/en/tenders", None, english_id, lambda a: f"/shapes/file/{a.file_id}", False),
    "json_bare_url": ("/jsonbbs/list.do", None, lambda n: str(n.ntt_id), lambda a: f"/jsonbbs/file/{a.file_id}",
                      True),
    "cards_bare_url": ("/cards/list", None, lambda n: str(n.ntt_id), lambda a: f"/shapes/file/{a.file_id}", True),
    "form_post_bare_url": ("/egovpost/bid/list.do", None, lambda n: str(n.ntt_id),
                           lambda a: f"/cmm/fms/FileDown.do?atchFileId={file_key(a.file_id)}&fileSn=0", True),
}


async def _crawl_source(client: httpx.AsyncClient, settings: Settings, headers: dict[str, str],
                        source_id: int) -> dict[str, Any]:
    r = await client.post("/api/v1/crawls", json={"source_id": source_id}, headers=headers)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    await runner.run_job(settings, uuid.UUID(job_id))
    job = (await client.get(f"/api/v1/crawls/{job_id}", headers=headers)).json()
    assert isinstance(job, dict)
    return job


async def _bids(client: httpx.AsyncClient, headers: dict[str, str], source_id: int) -> dict[str, dict[str, Any]]:
    r = await client.get(f"/api/v1/bids?source_id={source_id}&limit=100", headers=headers)
    assert r.status_code == 200, r.text
    return {item["external_id"]: item for item in r.json()["items"]}


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_source_made_through_the_api_crawls_each_shape_field_exact(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user, settings: Settings, demo: DemoSite, shape: str) -> None:
    path, definition, ident, file_url, pinned = SHAPES[shape]
    admin = await make_user(admin=True)
    body: dict[str, Any] = {"name": f"shape {shape}", "start_url": demo.url(path), "max_pages": 20,
                            "delay_seconds": 0}
    if definition is not None:
        body["definition"] = definition
    r = await client.post(API, json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    source = r.json()
    assert source["definition"] == (None if definition is None else r.json()["definition"])

    job = await _crawl_source(client, settings, admin.headers, source["id"])
    assert (job["state"], job["error"]) == ("succeeded", None)

    stored = await _bids(client, admin.headers, source["id"])
    expected: list[Notice] = [*(demo.board.pinned if pinned else []), *demo.board.notices]
    assert sorted(stored) == sorted(ident(n) for n in expected)
    for notice in expected:
        bid = stored[ident(notice)]
        assert (bid["title"], bid["department"], bid["post_date"]) == (
            notice.title, notice.department, notice.post_date.isoformat())
        assert bid["views"] <= demo.board.get(notice.ntt_id).views  # type: ignore[union-attr]
        assert bid["attachments"] == [{"name": a.name, "url": demo.url(file_url(a))} for a in notice.attachments]


async def test_job_whose_every_row_failed_ends_failed_with_the_row_errors(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user, settings: Settings, demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    broken = copy.deepcopy(CARDS)
    broken["list"]["fields"]["post_date"] = "span.no-such-date"
    r = await client.post(API, json={"name": "broken cards", "start_url": demo.url("/cards/list"),
                                     "definition": broken, "delay_seconds": 0}, headers=admin.headers)
    assert r.status_code == 201, r.text
    job = await _crawl_source(client, settings, admin.headers, r.json()["id"])
    assert job["state"] == "failed"
    assert job["error"].startswith("no notice could be read: ") and "has no post date" in job["error"]
    assert job["progress"]["errors"] >= 10


@pytest.mark.parametrize(("definition", "field", "words"), [
    ({"list": {"rows": "tr[", "fields": {"title": "a", "post_date": "td"}}}, "definition.list", "bad CSS selector"),
    ({"list": {"rows": "tr", "fields": {"title": "a::attr(", "post_date": "td", "detail_link": "a::attr(href)"}}},
     "definition.list", "fields.title: bad CSS selector"),
    ({"list": {"rows": "tr", "fields": {"title": "a", "detail_link": "a::attr(href)"}}},
     "definition.list", "fields.post_date is required"),
    ({"list": {"format": "json", "request": {"url": "x.json?page={page}"}, "rows": "resultList[",
               "fields": {"title": "t", "post_date": "d"}}}, "definition.list", "bad JMESPath"),
    ({"list": {"rows": "tr", "fields": {"title": "a", "post_date": "td", "detail_link": "a::attr(href) re:("}}},
     "definition.list", "fields.detail_link: bad regex"),
    ({"list": {"rows": "tr", "fields": {"title": "a", "post_date": "td", "external_id": "a js:0"}},
      "detail": {"request": {"method": "POST", "url": "view.do", "form": {"nttId": "{nttid}"}}}},
     "definition", "unknown placeholders ['nttid']"),
    ({"list": {"rows": "tr", "fields": {"title": "a", "post_date": "td", "detail_link": "a::attr(href)"}},
      "sesion": {}}, "definition.sesion", "Extra inputs are not permitted"),
    ({"list": {"rows": "tr", "fields": {"title": "a", "post_date": "td", "detail_link": "a::attr(href)"},
               "request": {"method": "PUT"}}}, "definition.list.request.method", "'GET' or 'POST'"),
])
async def test_bad_definitions_are_refused_with_the_field_named(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user, demo: DemoSite, definition: dict[str, Any], field: str,
        words: str) -> None:
    admin = await make_user(admin=True)
    for url, body in ((API, {"name": "bad", "start_url": demo.url("/cards/list"), "definition": definition}),
                      (f"{API}/preview", {"start_url": demo.url("/cards/list"), "definition": definition})):
        r = await client.post(url, json=body, headers=admin.headers)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["code"] == "validation_error"
        assert any(e["field"] == field and words in e["message"] for e in problem["errors"]), problem["errors"]
    assert demo.board.request_counts == {}


async def test_preview_of_a_bare_url_detects_the_table_and_its_rel_next_page(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    r = await client.post(f"{API}/preview", json={"start_url": demo.url("/en/tenders")}, headers=admin.headers)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert (preview["ok"], preview["detected"], preview["row_errors"], preview["errors"]) == (True, True, [], [])
    assert [row["external_id"] for row in preview["rows"]] == [english_id(n) for n in demo.board.notices[:10]]
    assert preview["next_page"] == {"method": "GET", "url": demo.url("/en/tenders/page/2"), "form": {}}
    assert preview["definition"]["list"]["rows"] == "table.tenders tbody tr"
    # The detected definition is accepted back as a source's definition.
    r = await client.post(API, json={"name": "tenders", "start_url": demo.url("/en/tenders"),
                                     "definition": preview["definition"]}, headers=admin.headers)
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/v1/bids?source_id={r.json()['id']}", headers=admin.headers)
    assert r.json()["items"] == []  # previews and saves store no notices
    assert not [path for path in demo.board.request_counts if "/view/" in path]


async def test_preview_of_a_form_post_board_shows_the_post_for_page_two(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    r = await client.post(f"{API}/preview", json={"start_url": demo.url("/egovpost/bid/list.do"),
                                                  "definition": EGOV_FORM_POST}, headers=admin.headers)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert (preview["ok"], preview["detected"], preview["row_errors"]) == (True, False, [])
    assert preview["next_page"] == {"method": "POST", "url": demo.url("/egovpost/bid/list.do"),
                                    "form": {"bbsId": "BBSMSTR_000000000123", "pageIndex": "2"}}
    rows = preview["rows"]
    assert [row["pinned"] for row in rows] == [True] * len(demo.board.pinned) + [False] * 10
    assert rows[-1]["url"] == demo.url(
        f"/egovpost/bid/view.do?nttId={demo.board.notices[9].ntt_id}&bbsId=BBSMSTR_000000000123")


async def test_preview_lists_each_unreadable_row_with_its_reason(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    broken = copy.deepcopy(CARDS)
    broken["list"]["fields"]["post_date"] = "span.no-such-date"
    r = await client.post(f"{API}/preview", json={"start_url": demo.url("/cards/list"), "definition": broken},
                          headers=admin.headers)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["ok"] is False and preview["rows"] == []
    assert len(preview["row_errors"]) == len(demo.board.pinned) + 10
    assert all("has no post date" in e["reason"] and 'class="card"' in e["snippet"] for e in preview["row_errors"])
    assert preview["errors"][0].startswith("no notice could be read")


async def test_preview_is_for_admins_and_egress_checked(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:
    user = await make_user()
    admin = await make_user(admin=True)
    r = await client.post(f"{API}/preview", json={"start_url": demo.url("/en/tenders")}, headers=user.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.post(f"{API}/preview", json={"start_url": "http://10.1.2.3/bbs/list.do"}, headers=admin.headers)
    assert r.status_code == 400 and r.json()["code"] == "url_not_allowed"


async def test_presets_are_served_as_definitions_a_source_accepts(  # type: ignore[no-untyped-def]
        client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    r = await client.get(f"{API}/presets", headers=admin.headers)
    assert r.status_code == 200, r.text
    presets = {p["name"]: p for p in r.json()}
    assert {"egov_board", "egov_form_post", "egov_json_list"} <= set(presets)
    for name, preset in presets.items():
        r = await client.post(API, json={"name": f"copy of {name}", "start_url": demo.url("/kfs/bid/list.do"),
                                         "definition": preset["definition"]}, headers=admin.headers)
        assert r.status_code == 201, r.text
