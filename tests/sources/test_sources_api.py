"""The sources API: admin CRUD, permissions, validation codes, keyset pages and the validate check."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from forest.crawler.presets.demo import DEMO_CUSTOM_LIST_PATH, DEMO_CUSTOM_SELECTORS, DEMO_LIST_PATH
from forest.database import Database, utcnow
from forest.demo_site.testing import DemoSite
from forest.sources.models import Source

API = "/api/v1/sources"


def body(demo: DemoSite, **extra: Any) -> dict[str, Any]:
    """A valid create body for the demo board."""
    return {"name": "산림청 입찰공고", "start_url": demo.url(DEMO_LIST_PATH), "preset": "demo_board", **extra}


async def test_sources_admin_crud_round_trip(client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    r = await client.post(API, json=body(demo, max_pages=5), headers=admin.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"{API}/{created['id']}"
    assert set(created) == {"id", "name", "start_url", "preset", "selectors", "definition", "encoding", "max_pages",
                            "schedule", "timezone", "enabled", "polite", "delay_seconds", "last_crawled_at", "next_run_at",
                            "owner_id"}
    assert created["preset"] == "demo_board" and created["max_pages"] == 5 and created["timezone"] == "Asia/Seoul"
    assert created["enabled"] is True and created["schedule"] is None and created["next_run_at"] is None
    assert created["owner_id"] is None  # an admin's source is shared

    r = await client.get(f"{API}/{created['id']}", headers=admin.headers)
    assert r.status_code == 200 and r.json() == created

    r = await client.patch(f"{API}/{created['id']}", json={"enabled": False, "preset": None,
                                                           "selectors": DEMO_CUSTOM_SELECTORS,
                                                           "start_url": demo.url(DEMO_CUSTOM_LIST_PATH)},
                           headers=admin.headers)
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["enabled"] is False and patched["preset"] is None
    assert patched["selectors"] == DEMO_CUSTOM_SELECTORS and patched["name"] == created["name"]

    r = await client.delete(f"{API}/{created['id']}", headers=admin.headers)
    assert r.status_code == 204
    r = await client.get(f"{API}/{created['id']}", headers=admin.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_sources_schedule_sets_next_run_at_in_the_source_time_zone(client: httpx.AsyncClient, make_user,  # type: ignore[no-untyped-def]
                                                                         demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    r = await client.post(API, json=body(demo, schedule="0 9 * * *", timezone="Asia/Seoul"), headers=admin.headers)
    assert r.status_code == 201, r.text
    source = r.json()
    next_run = dt.datetime.fromisoformat(source["next_run_at"].replace("Z", "+00:00"))
    assert next_run > utcnow()
    assert (next_run.hour, next_run.minute) == (0, 0)  # 09:00 in Seoul is midnight UTC

    r = await client.patch(f"{API}/{source['id']}", json={"timezone": "UTC"}, headers=admin.headers)
    next_run = dt.datetime.fromisoformat(r.json()["next_run_at"].replace("Z", "+00:00"))
    assert (next_run.hour, next_run.minute) == (9, 0)

    r = await client.patch(f"{API}/{source['id']}", json={"schedule": None}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["schedule"] is None and r.json()["next_run_at"] is None


async def test_sources_non_admin_reads_but_cannot_change(client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    user = await make_user()
    source = (await client.post(API, json=body(demo), headers=admin.headers)).json()
    assert (await client.get(API, headers=user.headers)).json()["items"][0]["id"] == source["id"]
    assert (await client.get(f"{API}/{source['id']}", headers=user.headers)).status_code == 200
    attempts = [
        client.post(API, json=body(demo, name="other"), headers=user.headers),
        client.patch(f"{API}/{source['id']}", json={"enabled": False}, headers=user.headers),
        client.delete(f"{API}/{source['id']}", headers=user.headers),
        client.post(f"{API}/{source['id']}/validate", headers=user.headers),
    ]
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert (await client.get(f"{API}/{source['id']}", headers=user.headers)).json()["enabled"] is True
    r = await client.get(API)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


async def test_sources_missing_id_is_404(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    for method, path, payload in (("GET", f"{API}/999", None), ("PATCH", f"{API}/999", {"enabled": False}),
                                  ("DELETE", f"{API}/999", None), ("POST", f"{API}/999/validate", None)):
        r = await client.request(method, path, json=payload, headers=admin.headers)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (method, r.text)


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"schedule": "61 25 * * *"}, "schedule"),
    ({"schedule": "every morning"}, "schedule"),
    ({"schedule": "0 0 30 2 *"}, "schedule"),
    ({"preset": "wordpress"}, "preset"),
    ({"selectors": {"row": "li", "title": "a"}}, "selectors"),
    ({"selectors": {"row": "li", "title": "a re:([", "post_date": "span"}}, "selectors"),
    ({"selectors": {"row": "li", "title": "a", "post_date": "span", "colour": "b"}}, "selectors"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"encoding": "klingon"}, "encoding"),
    ({"encoding": "rot13"}, "encoding"),
    ({"encoding": "base64"}, "encoding"),
    ({"max_pages": 0}, "max_pages"),
    ({"surprise": 1}, "surprise"),
]
REFUSED_URLS = ["http://10.0.0.1/board/list.do", "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1/",
                "ftp://1.1.1.1/list", "http://1.1.1.1:8080/list.do", "http://user:pw@1.1.1.1/", "not a url"]


async def test_sources_bad_fields_are_validation_errors(client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    source = (await client.post(API, json=body(demo), headers=admin.headers)).json()
    for extra, field in BAD_FIELDS:
        for r in (await client.post(API, json=body(demo, name="new", **extra), headers=admin.headers),
                  await client.patch(f"{API}/{source['id']}", json=extra, headers=admin.headers)):
            assert r.status_code == 422, (extra, r.text)
            problem = r.json()
            assert problem["code"] == "validation_error"
            assert any(field in e["field"] for e in problem["errors"]), problem
    assert (await client.get(API, headers=admin.headers)).json()["items"] == [source]


async def test_sources_private_or_bad_start_url_is_refused(client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    source = (await client.post(API, json=body(demo), headers=admin.headers)).json()
    for url in REFUSED_URLS:
        for r in (await client.post(API, json=body(demo, name="new", start_url=url), headers=admin.headers),
                  await client.patch(f"{API}/{source['id']}", json={"start_url": url}, headers=admin.headers)):
            assert r.status_code == 400 and r.json()["code"] == "url_not_allowed", (url, r.text)
    assert (await client.get(API, headers=admin.headers)).json()["items"] == [source]


async def test_sources_names_are_unique(client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    assert (await client.post(API, json=body(demo), headers=admin.headers)).status_code == 201
    r = await client.post(API, json=body(demo), headers=admin.headers)
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    other = (await client.post(API, json=body(demo, name="second"), headers=admin.headers)).json()
    r = await client.patch(f"{API}/{other['id']}", json={"name": body(demo)["name"]}, headers=admin.headers)
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    r = await client.patch(f"{API}/{other['id']}", json={"name": None}, headers=admin.headers)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_sources_validate_parses_the_demo_board(client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    source = (await client.post(API, json=body(demo), headers=admin.headers)).json()
    r = await client.post(f"{API}/{source['id']}/validate", headers=admin.headers)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["ok"] is True and result["errors"] == []
    assert result["notices_found"] >= 10
    assert len(result["sample"]) == 3
    first = result["sample"][0]
    assert first["title"] and first["url"].startswith(demo.base_url)
    dt.date.fromisoformat(first["post_date"])
    assert demo.board.request_counts.get(DEMO_LIST_PATH) == 1
    assert not [path for path in demo.board.request_counts if "view" in path.lower()]  # no detail pages
    r = await client.get(f"/api/v1/bids?source_id={source['id']}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["items"] == []  # nothing was stored


async def test_sources_validate_custom_selectors_and_bare_url(client: httpx.AsyncClient, make_user,  # type: ignore[no-untyped-def]
                                                              demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    custom = (await client.post(API, json=body(demo, name="custom", preset=None, selectors=DEMO_CUSTOM_SELECTORS,
                                               start_url=demo.url(DEMO_CUSTOM_LIST_PATH)),
                                headers=admin.headers)).json()
    bare = (await client.post(API, json=body(demo, name="bare", preset=None), headers=admin.headers)).json()
    for source in (custom, bare):
        result = (await client.post(f"{API}/{source['id']}/validate", headers=admin.headers)).json()
        assert result["ok"] is True and result["notices_found"] >= 10, result


async def test_sources_validate_reports_why_a_source_does_not_parse(client: httpx.AsyncClient, make_user,  # type: ignore[no-untyped-def]
                                                                    demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    cases: list[tuple[str, dict[str, Any], str]] = [
        (DEMO_LIST_PATH, {"selectors": {"row": "div.nothing-here", "title": "a", "post_date": "span"}, "preset": None},
         "no notices"),
        ("/no/such/board.do", {}, "404"),
        ("/", {"preset": None}, "list page"),
    ]
    for i, (path, extra, reason) in enumerate(cases):
        source = (await client.post(API, json=body(demo, name=f"broken {i}", start_url=demo.url(path), **extra),
                                    headers=admin.headers)).json()
        r = await client.post(f"{API}/{source['id']}/validate", headers=admin.headers)
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["ok"] is False and result["notices_found"] == 0 and result["sample"] == [], result
        assert any(reason in e for e in result["errors"]), result


async def test_sources_validate_unreachable_source_is_not_a_server_error(client: httpx.AsyncClient, make_user,  # type: ignore[no-untyped-def]
                                                                         db: Database, demo: DemoSite) -> None:
    admin = await make_user(admin=True)
    async with db.sessionmaker() as session:  # stored before the allow-list changed: the crawler now refuses it
        source = Source(name="legacy", start_url="http://10.0.0.1/list.do", max_pages=1, timezone="UTC",
                        enabled=True, polite=True, created_at=utcnow())
        session.add(source)
        await session.commit()
    r = await client.post(f"{API}/{source.id}/validate", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is False and "10.0.0.1" in " ".join(r.json()["errors"])


async def test_sources_list_pages_each_source_once(client: httpx.AsyncClient, make_user, db: Database) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    async with db.sessionmaker() as session:
        session.add_all(Source(name=f"board {i:02d}", start_url=f"https://1.1.1.1/{i}", max_pages=5, timezone="UTC",
                               enabled=i % 3 != 0, polite=True, created_at=utcnow()) for i in range(45))
        await session.commit()
    for sort, key in (("id", "id"), ("-id", "id"), ("name", "name")):
        seen: list[Any] = []
        url: str | None = f"{API}?limit=20&sort={sort}"
        while url:
            r = await client.get(url, headers=admin.headers)
            assert r.status_code == 200, r.text
            page = r.json()
            seen += [s[key] for s in page["items"]]
            url = f"{API}?limit=20&sort={sort}&cursor={page['next_cursor']}" if page["has_more"] else None
        assert len(seen) == 45 and len(set(seen)) == 45
        assert seen == sorted(seen, reverse=sort.startswith("-"))

    r = await client.get(f"{API}?enabled=false&limit=10&count=exact", headers=admin.headers)
    page = r.json()
    assert page["count"] == {"value": 15, "exact": True}
    assert all(s["enabled"] is False for s in page["items"]) and page["has_more"] is True
    assert 'rel="next"' in r.headers["link"] and "enabled=false" in r.headers["link"]
    r = await client.get(f"{API}?enabled=true&cursor={page['next_cursor']}", headers=admin.headers)
    assert r.status_code == 400 and r.json()["code"] == "cursor_mismatch"


async def test_sources_list_refuses_bad_query(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    for query, code in (("enabeld=true", "unknown_parameter"), ("sort=-name", "unsupported_sort"),
                        ("limit=101", "validation_error"), ("enabled=maybe", "validation_error"),
                        ("cursor=forged.cursor", "invalid_cursor")):
        r = await client.get(f"{API}?{query}", headers=user.headers)
        assert r.json()["code"] == code, r.text
        assert r.status_code == (422 if code == "validation_error" else 400)


async def test_problem_with_non_ascii_detail_declares_utf8(client: httpx.AsyncClient, make_user, demo: DemoSite) -> None:  # type: ignore[no-untyped-def]
    admin = await make_user(admin=True)
    r = await client.post(API, json=body(demo, timezone="서울/산림청"), headers=admin.headers)
    assert r.status_code == 422
    # Declared, so that no client guesses the encoding from the bytes (requests guessed CP932 here).
    assert r.headers["content-type"] == "application/problem+json; charset=utf-8"
    assert "서울/산림청" in r.content.decode("utf-8") and "서울/산림청" in r.json()["detail"]
