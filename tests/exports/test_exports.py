"""GET /bids/export: each format read back by an independent reader, on PostgreSQL and SQLite."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from sqlalchemy import delete, insert, update

from forest.bids import export
from forest.bids.export import reading, streaming
from forest.bids.ingest import DbNoticeStore
from forest.bids.models import Bid, BidDetail
from forest.crawler.facts import extract
from forest.crawler.parse import Attachment, Notice
from forest.database import Database
from tests.bids.factories import make_bids, make_source

URL = "/api/v1/bids/export"
FIXTURES = Path(__file__).parent / "fixtures"


def read_csv(body: bytes) -> list[dict[str, str]]:
    """Parse as Excel does: UTF-8 with a BOM, RFC 4180 quoting (the csv module's `excel` dialect)."""
    assert body.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM: Excel would read Korean text as mojibake"
    return list(csv.DictReader(io.StringIO(body[3:].decode("utf-8"), newline=""), dialect="excel"))


async def test_export_csv_opens_in_excel_with_korean_and_formulas_neutralised(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    source = await make_source(db)
    await make_bids(db, 1, source_ids=[source], title='=HYPERLINK("http://evil.example","클릭") 숲가꾸기, "공고"',
                    department="@SUM(A1:A9)")
    await make_bids(db, 1, source_ids=[source], title="-2+3 산불 감시\r\n두 번째 줄", department="산림경영과")
    await make_bids(db, 1, source_ids=[source], title="\t탭으로 시작", department="+82 운영지원과")

    response = await client.get(URL, params={"format": "csv"}, headers=user.headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.match(r'attachment; filename="forest-bids-\d{8}T\d{6}Z\.csv"', response.headers["content-disposition"])
    body = response.content
    assert b"\r\n" in body and b"\n" not in body.replace(b"\r\n", b"").replace("두 번째".encode(), b"")
    rows = read_csv(body)
    by_title = {row["title"].split(" ")[0]: row for row in rows}
    formula = by_title["'=HYPERLINK(\"http://evil.example\",\"클릭\")"]
    assert formula["title"] == "'" + '=HYPERLINK("http://evil.example","클릭") 숲가꾸기, "공고"'
    assert formula["department"] == "'@SUM(A1:A9)"
    assert by_title["'-2+3"]["title"] == "'-2+3 산불 감시\r\n두 번째 줄"  # the line break stays inside one cell
    assert by_title["'\t탭으로"]["department"] == "'+82 운영지원과"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())
    assert list(rows[0]) == list(export.CSV_COLUMNS)


async def test_export_csv_has_one_row_per_notice_with_the_tender_facts(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    bids = await make_bids(db, 25)
    async with db.sessionmaker() as session:
        # Every bid has its detail row (made with it); replace it with one that carries a body and facts.
        await session.execute(delete(BidDetail).where(BidDetail.bid_id == bids[1].id))
        await session.execute(insert(BidDetail), [{"bid_id": bids[1].id, "body": "본문", "facts": {
            "notice_no": "R26BK01234567-000", "procuring_entity": "북부지방산림청", "demand_entity": "조달청",
            "bid_method": "전자입찰", "vat_included": True}}])
        await session.commit()

    rows = read_csv((await client.get(URL, params={"format": "csv", "sort": "id"}, headers=user.headers)).content)

    assert [int(row["id"]) for row in rows] == sorted(b.id for b in bids)
    row = rows[1]
    assert bids[1].amount is not None and bids[1].closes_at is not None
    assert Decimal(row["amount"]) == bids[1].amount and row["currency"] == "KRW"
    assert row["closes_at"] == bids[1].closes_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["contract_method"] == bids[1].contract_method and row["category"] == bids[1].category
    assert (row["notice_no"], row["procuring_entity"], row["demand_entity"], row["vat_included"]) == (
        "R26BK01234567-000", "북부지방산림청", "조달청", "true")
    no_facts = rows[0]
    assert bids[0].closes_at is None and no_facts["closes_at"] == "" and no_facts["amount"] == ""


async def test_export_applies_the_bid_filters_and_their_errors(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    bids = await make_bids(db, 40)
    expected = sorted(b.id for b in bids if b.department == "산불방지과" and b.views >= 5)

    response = await client.get(URL, params={"format": "jsonl", "department": "산불방지과", "views_gte": 5,
                                             "sort": "id"}, headers=user.headers)
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["id"] for line in lines] == expected

    for params, status, code in (
        ({"format": "xlsx"}, 422, "validation_error"),
        ({"views_gte": 10, "views_lte": 5}, 422, "validation_error"),
        ({"sort": "title"}, 400, "unsupported_sort"),
        ({"cursor": "garbage"}, 400, "invalid_cursor"),
        ({"departmnet": "x"}, 400, "unknown_parameter"),
        ({"max_rows": 0}, 422, "validation_error"),
    ):
        refused = await client.get(URL, params=params, headers=user.headers)
        assert (refused.status_code, refused.json()["code"]) == (status, code), params
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(URL)).status_code == 401


async def test_export_resumes_by_cursor_with_max_rows_without_gaps_or_repeats(
    client: httpx.AsyncClient, make_user, db: Database, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(reading, "CHUNK_ROWS", 7)  # several chunks per response
    user = await make_user()
    bids = await make_bids(db, 60)
    seen: list[int] = []
    params: dict[str, Any] = {"format": "jsonl", "sort": "-closes_at", "max_rows": 25}
    for _ in range(10):
        response = await client.get(URL, params=params, headers=user.headers)
        assert response.status_code == 200
        ids = [json.loads(line)["id"] for line in response.text.splitlines()]
        seen.extend(ids)
        link = response.headers.get("link")
        if link is None:
            break
        assert len(ids) == 25
        assert response.headers["forest-next-cursor"] in link
        params["cursor"] = response.headers["forest-next-cursor"]
    with_deadline = sorted((b for b in bids if b.closes_at is not None), key=lambda b: (b.closes_at, b.id),
                           reverse=True)
    without = sorted((b for b in bids if b.closes_at is None), key=lambda b: b.id, reverse=True)
    assert seen == [b.id for b in with_deadline + without]

    # A list cursor is a starting point for an export (same sort and filters).
    page = (await client.get("/api/v1/bids", params={"sort": "-closes_at", "limit": 10},
                             headers=user.headers)).json()
    rest = await client.get(URL, params={"format": "jsonl", "sort": "-closes_at", "cursor": page["next_cursor"]},
                            headers=user.headers)
    assert [json.loads(line)["id"] for line in rest.text.splitlines()] == seen[10:]


async def test_export_repeat_is_304_until_a_notice_changes(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    bids = await make_bids(db, 5)
    first = await client.get(URL, params={"format": "csv"}, headers=user.headers)
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    again = await client.get(URL, params={"format": "csv"}, headers={**user.headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    since = await client.get(URL, params={"format": "csv"}, headers={**user.headers, "If-Modified-Since": modified})
    assert since.status_code == 304
    other_format = await client.get(URL, params={"format": "jsonl"}, headers={**user.headers, "If-None-Match": etag})
    assert other_format.status_code == 200

    async with db.sessionmaker() as session:
        await session.execute(update(Bid).where(Bid.id == bids[0].id).values(views=Bid.views + 1))
        await session.commit()
    changed = await client.get(URL, params={"format": "csv"}, headers={**user.headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def ocds_validator() -> jsonschema.protocols.Validator:
    """The OCDS 1.1.5 release-package schema (as published) with the release schema of the fields Forest
    emits (tests/exports/fixtures), draft 4, `date-time` and `uri` formats checked."""
    package = json.loads((FIXTURES / "release-package-schema.json").read_text())
    release = json.loads((FIXTURES / "release-schema.json").read_text())
    registry: Registry[Any] = Registry().with_resource(release["id"], Resource(release, DRAFT4))
    return jsonschema.Draft4Validator(package, registry=registry,
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


async def test_export_ocds_is_a_valid_release_package_with_only_what_notices_say(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    bids = await make_bids(db, 12)
    described = bids[3]
    async with db.sessionmaker() as session:
        await session.execute(delete(BidDetail).where(BidDetail.bid_id == described.id))
        await session.execute(insert(BidDetail), [{"bid_id": described.id, "body": "숲가꾸기 사업 본문", "facts": {
            "notice_no": "20261120-001", "procuring_entity": "북부지방산림청", "demand_entity": "조달청"}}])
        await session.commit()

    response = await client.get(URL, params={"format": "ocds", "sort": "id"}, headers=user.headers)

    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    package = response.json()
    errors = sorted(ocds_validator().iter_errors(package), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    releases = package["releases"]
    assert len(releases) == 12 and package["version"] == "1.1"
    for release, bid in zip(releases, sorted(bids, key=lambda b: b.id), strict=True):
        assert re.fullmatch(rf"ocds-local-forest-{bid.source_id}-ext-{bid.source_id}-\d+-\d+", release["ocid"])
        assert release["id"].startswith(release["ocid"] + "-")
        assert release["tag"] == ["tender"] and release["initiationType"] == "tender"
        tender = release["tender"]
        assert tender["title"] == bid.title
        assert ("tenderPeriod" in tender) == (bid.closes_at is not None)
        assert ("value" in tender) == (bid.amount is not None)
        assert tender.get("mainProcurementCategory") == (bid.category if bid.category != "sale" else None)
        assert tender.get("procurementMethodDetails") == bid.contract_method
        assert tender["documents"][0]["documentType"] == "tenderNotice"
        if bid is not described:
            assert "parties" not in release and "buyer" not in release and "description" not in tender
    full = releases[3]
    assert full["tender"]["id"] == "20261120-001" and full["tender"]["description"] == "숲가꾸기 사업 본문"
    assert {p["name"]: p["roles"] for p in full["parties"]} == {"북부지방산림청": ["procuringEntity"],
                                                                 "조달청": ["buyer"]}
    assert full["buyer"]["name"] == "조달청" and full["tender"]["procuringEntity"]["name"] == "북부지방산림청"
    with_value = next(r for r, b in zip(releases, sorted(bids, key=lambda b: b.id), strict=True) if b.amount)
    assert isinstance(with_value["tender"]["value"]["amount"], int | float)

    # An edit of the notice gives a new release id under the same ocid; a change of views does not.
    async with db.sessionmaker() as session:
        await session.execute(update(Bid).where(Bid.id == described.id).values(views=Bid.views + 9))
        await session.commit()
    again = (await client.get(URL, params={"format": "ocds", "sort": "id"}, headers=user.headers)).json()
    assert again["releases"][3]["id"] == full["id"]
    async with db.sessionmaker() as session:
        await session.execute(update(Bid).where(Bid.id == described.id).values(content_hash="f" * 64))
        await session.commit()
    edited = (await client.get(URL, params={"format": "ocds", "sort": "id"}, headers=user.headers)).json()
    assert edited["releases"][3]["ocid"] == full["ocid"] and edited["releases"][3]["id"] != full["id"]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_export_csv_written_by_postgresql_is_byte_for_byte_the_python_encoders(
    client: httpx.AsyncClient, make_user, db: Database, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """PostgreSQL builds the CSV lines there (`SqlCsvEncoder`); the Python encoder SQLite uses is the reference:
    quoting, formula cells, dates with and without microseconds, amounts, facts of every JSON type, attachments."""
    user = await make_user()
    source = await make_source(db)
    stamp = dt.datetime(2026, 11, 21, 9, 30, 5, 120, tzinfo=dt.UTC)
    await make_bids(db, 6, source_ids=[source])
    tricky = await make_bids(
        db, 1, source_ids=[source], title='=1+2, "따옴표"\n줄', department="", external_id="-7,\"x\"",
        url="@https://board.example.kr/?a=1,2", first_seen_at=stamp, closes_at=stamp, amount=Decimal("0.00"),
        amount_kind="a,b", contract_method="+제한\r경쟁",
        attachments=[{"name": "=cmd, \"x\"", "url": "https://f.example/1"}, {"name": "두번째", "url": "u2"}])
    plain_amount = await make_bids(db, 1, source_ids=[source], amount=Decimal("120000.50"),
                                  attachments=[{"url": "x"}, {"name": "b", "url": "y"}, {"name": "-c,", "url": "z"}])
    async with db.sessionmaker() as session:
        await session.execute(delete(BidDetail).where(BidDetail.bid_id.in_([tricky[0].id, plain_amount[0].id])))
        await session.execute(insert(BidDetail), [
            {"bid_id": tricky[0].id, "body": "본문", "facts": {
                "notice_no": "=HYPERLINK(\"x\")", "bid_method": "전자, 입찰", "region_limit": 3,
                "procuring_entity": None, "demand_entity": ["조달청"], "vat_included": False,
                "evidence": {"notice_no": {"start": 0, "end": 2, "text": "본문"}}}},
            {"bid_id": plain_amount[0].id, "body": "", "facts": {"vat_included": True, "region_limit": "-서울"}}])
        await session.commit()

    from_postgresql = (await client.get(URL, params={"format": "csv", "sort": "id"}, headers=user.headers)).content
    monkeypatch.setattr(streaming, "encoder_for", lambda e: export.ENCODERS[e.format](e))
    from_python = (await client.get(URL, params={"format": "csv", "sort": "id"}, headers=user.headers)).content

    assert from_postgresql == from_python
    rows = read_csv(from_postgresql)
    assert len(rows) == 8
    odd = next(row for row in rows if int(row["id"]) == tricky[0].id)
    assert odd["title"] == '\'=1+2, "따옴표"\n줄' and odd["external_id"].startswith("'-7,\"x\"")
    assert odd["first_seen_at"] == "2026-11-21T09:30:05.000120Z" and odd["amount"] == "0"
    assert odd["notice_no"] == "'=HYPERLINK(\"x\")" and odd["region_limit"] == "" and odd["vat_included"] == "false"
    assert odd["attachments"] == "'=cmd, \"x\" <https://f.example/1>\n두번째 <u2>"


def ocds_record_validator() -> jsonschema.protocols.Validator:
    """The OCDS 1.1.5 record-package rules of the fields Forest emits (tests/exports/fixtures), with the release
    schema for the embedded and compiled releases; draft 4, `date-time` and `uri` formats checked."""
    package = json.loads((FIXTURES / "record-package-schema.json").read_text())
    release = json.loads((FIXTURES / "release-schema.json").read_text())
    registry: Registry[Any] = Registry().with_resource(release["id"], Resource(release, DRAFT4))
    return jsonschema.Draft4Validator(package, registry=registry,
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


async def test_export_ocds_records_keep_each_notice_release_history_from_ingest_edits(
    client: httpx.AsyncClient, make_user, db: Database,  # type: ignore[no-untyped-def]
) -> None:
    user = await make_user()
    store = DbNoticeStore(db.sessionmaker, await make_source(db))

    def notice(n: int, body: str, **changes: Any) -> Notice:
        return Notice(external_id=f"2026-{n}", title=changes.pop("title", f"임도 신설 공사 {n}"), department="산림경영과",
                      post_date=dt.date(2026, 11, 20), views=changes.pop("views", 10), url=f"https://board.example.kr/{n}",
                      attachments=(Attachment("공고문.hwp", f"https://board.example.kr/f/{n}"),), body=body,
                      facts=extract(body, posted_on=dt.date(2026, 11, 20)))

    first = "공고번호: 20261120-001\n가. 추정가격: 금1,474,567,273원\n입찰(투찰)마감일시\t2026/12/03 10:00"
    corrected = first.replace("2026/12/03", "2026/12/10")
    await store.upsert([notice(0, first), notice(1, first)])
    await store.upsert([notice(0, corrected, views=90), notice(1, first, views=91)])  # an edit; views only
    await store.upsert([notice(0, corrected, title="[정정] 임도 신설 공사 0")])  # another edit

    response = await client.get(URL, params={"format": "ocds-records", "sort": "id"}, headers=user.headers)

    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert re.search(r'filename="forest-bids-\d{8}T\d{6}Z\.json"', response.headers["content-disposition"])
    package = response.json()
    errors = sorted(ocds_record_validator().iter_errors(package), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    edited, untouched = package["records"]
    releases = edited["releases"]
    assert len(releases) == 3 and len({r["id"] for r in releases}) == 3
    assert {r["ocid"] for r in releases} == {edited["ocid"]} and edited["ocid"].endswith("-2026-0")
    assert [r["date"] for r in releases] == sorted(r["date"] for r in releases)
    assert [r["tender"]["tenderPeriod"]["endDate"] for r in releases] == [
        "2026-12-03T01:00:00Z", "2026-12-10T01:00:00Z", "2026-12-10T01:00:00Z"]
    assert [r["tender"]["title"] for r in releases] == ["임도 신설 공사 0", "임도 신설 공사 0", "[정정] 임도 신설 공사 0"]
    assert releases[0]["tender"]["description"] == first and releases[2]["tender"]["description"] == corrected
    assert all(r["tender"]["id"] == "20261120-001" for r in releases)
    compiled = edited["compiledRelease"]
    assert compiled["tag"] == ["compiled"] and compiled["ocid"] == edited["ocid"]
    assert compiled["date"] == releases[-1]["date"] and compiled["id"].startswith(edited["ocid"])
    assert compiled["tender"]["title"] == "[정정] 임도 신설 공사 0"
    assert compiled["tender"]["tenderPeriod"]["endDate"] == "2026-12-10T01:00:00Z"
    assert compiled["tender"]["value"] == {"amount": 1474567273, "currency": "KRW"}
    assert [d["id"] for d in compiled["tender"]["documents"]] == ["notice", "attachment-1"]
    assert len(untouched["releases"]) == 1  # a change of views is not a new release
    assert untouched["compiledRelease"]["tender"] == untouched["releases"][0]["tender"]

    # The release package of the same search carries the current releases, the records' last ones.
    current = (await client.get(URL, params={"format": "ocds", "sort": "id"}, headers=user.headers)).json()
    assert [r["id"] for r in current["releases"]] == [edited["releases"][-1]["id"], untouched["releases"][-1]["id"]]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_export_csv_read_in_parallel_chunks_resumes_without_gaps_or_repeats(
    client: httpx.AsyncClient, make_user, db: Database, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(reading, "CHUNK_ROWS", 7)  # many chunks, several in flight at once
    user = await make_user()
    bids = await make_bids(db, 60)
    seen: list[int] = []
    params: dict[str, Any] = {"format": "csv", "sort": "-closes_at", "max_rows": 25}
    bodies = []
    for _ in range(10):
        response = await client.get(URL, params=params, headers=user.headers)
        bodies.append(response.content)
        seen.extend(int(row["id"]) for row in read_csv(response.content))
        if "forest-next-cursor" not in response.headers:
            break
        params["cursor"] = response.headers["forest-next-cursor"]
    with_deadline = sorted((b for b in bids if b.closes_at is not None), key=lambda b: (b.closes_at, b.id),
                           reverse=True)
    without = sorted((b for b in bids if b.closes_at is None), key=lambda b: b.id, reverse=True)
    assert seen == [b.id for b in with_deadline + without]
    monkeypatch.setattr(streaming, "encoder_for", lambda e: export.ENCODERS[e.format](e))
    whole = await client.get(URL, params={"format": "csv", "sort": "-closes_at"}, headers=user.headers)
    assert b"".join(body.split(b"\r\n", 1)[1] for body in bodies) == whole.content.split(b"\r\n", 1)[1]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_export_chunk_read_after_the_key_walk_keeps_to_its_span_when_rows_come_and_go(
    db: Database, app,  # type: ignore[no-untyped-def]
) -> None:
    source = await make_source(db)
    await make_bids(db, 20, source_ids=[source])
    prepared = await export.prepare(db=db, user=None, query=export.ExportQuery(format="csv", sort="id"),
                                    signer=app.state.signer, salt="t")
    spans = [span async for span in reading._spans(prepared)]
    assert [size for *_, size in spans] == [20]  # one span of up to CHUNK_ROWS (5,000): cut it by hand below
    ids = [row["id"] for row in await reading._span_rows(prepared, (Bid.id,), None, spans[0][1], 20)]
    assert len(ids) == 20

    async with db.sessionmaker() as session:  # after the walk, a row of the first span is deleted
        await session.execute(delete(Bid).where(Bid.id == ids[2]))
        await session.commit()
    # The walk counted 5 rows up to ids[4]: one is gone, and the read stops at ids[4] all the same.
    first = await reading._span_rows(prepared, (Bid.id,), None, (ids[4],), 5)
    assert [row["id"] for row in first] == [ids[0], ids[1], ids[3], ids[4]]
    # More rows than the walk counted (as when rows were inserted into the span since): the read goes on to
    # the span's end and no further.
    second = await reading._span_rows(prepared, (Bid.id,), (ids[4],), (ids[11],), 3)
    assert [row["id"] for row in second] == ids[5:12]
