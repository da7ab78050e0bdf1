"""The database sink on real PostgreSQL and SQLite: idempotent upserts, edits, views-only ticks."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forest.bids.ingest import DbNoticeStore
from forest.bids.models import Bid
from forest.crawler.parse import Attachment, Notice


def notice(n: int, **changes: object) -> Notice:
    base = Notice(
        external_id=str(123_450 + n),
        title=f"2026년 임도 신설 공사 입찰공고 {n}",
        department="산림경영과",
        post_date=dt.date(2026, 11, 20) - dt.timedelta(days=n),
        views=100 + n,
        url=f"https://www.forest.go.kr/kfs/bid/view.do?nttId={123_450 + n}",
        attachments=(Attachment("공고문.hwp", f"https://www.forest.go.kr/kfs/bid/download.do?fileId={n}"),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def bids(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Bid]:
    async with sessionmaker() as session:
        return {b.external_id: b for b in (await session.scalars(select(Bid))).all()}


async def test_upsert_is_idempotent(sessionmaker: async_sessionmaker[AsyncSession], source_id: int) -> None:
    store = DbNoticeStore(sessionmaker, source_id)
    batch = [notice(n) for n in range(3)]

    first = await store.upsert(batch)
    second = await store.upsert(batch)

    assert [n.external_id for n in first.new] == [n.external_id for n in batch]
    assert len(set(first.new_ids)) == 3
    assert (second.new, second.updated) == ([], [])
    stored = await bids(sessionmaker)
    assert stored["123450"].attachments == [
        {"name": "공고문.hwp", "url": "https://www.forest.go.kr/kfs/bid/download.do?fileId=0"}
    ]
    assert stored["123450"].content_hash == batch[0].content_hash
    assert await store.newest_post_date() == dt.date(2026, 11, 20)
    known = await store.known(["123451", "nope"])
    assert set(known) == {"123451"} and known["123451"].title == batch[1].title


async def test_edit_is_updated_and_views_only_is_not(
    sessionmaker: async_sessionmaker[AsyncSession], source_id: int
) -> None:
    store = DbNoticeStore(sessionmaker, source_id)
    await store.upsert([notice(0), notice(1), notice(2)])
    before = await bids(sessionmaker)

    edited = notice(0, title="2026년 임도 신설 공사 입찰공고 0 (정정)", views=150)
    ticked = notice(1, views=999)
    result = await store.upsert([edited, ticked], views={"123452": 555})

    assert [n.external_id for n in result.updated] == ["123450"]
    assert result.updated_ids == [before["123450"].id]
    assert result.new == []
    after = await bids(sessionmaker)
    assert (after["123450"].title, after["123450"].views) == (edited.title, 150)
    assert after["123450"].updated_at > before["123450"].updated_at
    assert after["123450"].first_seen_at == before["123450"].first_seen_at
    assert after["123451"].views == 999
    assert after["123451"].updated_at == before["123451"].updated_at
    assert after["123452"].views == 555
    assert after["123452"].updated_at == before["123452"].updated_at


async def test_store_is_scoped_to_its_source(sessionmaker: async_sessionmaker[AsyncSession], source_id: int) -> None:
    from forest.sources.models import Source

    async with sessionmaker() as session, session.begin():
        other = Source(name="다른 게시판", start_url="https://other.example/list.do")
        session.add(other)
        await session.flush()
        other_id = other.id
    await DbNoticeStore(sessionmaker, source_id).upsert([notice(0)])
    result = await DbNoticeStore(sessionmaker, other_id).upsert([notice(0)])
    assert len(result.new) == 1
    assert await DbNoticeStore(sessionmaker, other_id).known(["123450"])


async def test_upsert_large_batch_reports_in_batch_order(
    sessionmaker: async_sessionmaker[AsyncSession], source_id: int
) -> None:
    store = DbNoticeStore(sessionmaker, source_id)
    batch = [notice(n) for n in range(1_200)]

    first = await store.upsert(batch)
    edited = [notice(n, title=f"정정 공고 {n}") if n % 2 else notice(n, views=7) for n in range(1_200)]
    second = await store.upsert(edited)
    third = await store.upsert(edited)

    stored = await bids(sessionmaker)
    assert [n.external_id for n in first.new] == [n.external_id for n in batch]
    assert first.new_ids == [stored[n.external_id].id for n in batch]
    assert [n.external_id for n in second.updated] == [n.external_id for n in edited if int(n.external_id) % 2]
    assert second.updated_ids == [stored[n.external_id].id for n in second.updated]
    assert second.new == []
    assert (third.new, third.updated) == ([], [])
    assert stored["123450"].views == 7
    assert stored["123451"].title == "정정 공고 1"


async def test_upsert_duplicate_ids_in_a_batch_count_once(
    sessionmaker: async_sessionmaker[AsyncSession], source_id: int
) -> None:
    store = DbNoticeStore(sessionmaker, source_id)

    result = await store.upsert([notice(0), notice(0, title="같은 공고의 나중 행")])

    assert [n.title for n in result.new] == ["같은 공고의 나중 행"]
    assert len(result.new_ids) == 1
    assert (await bids(sessionmaker))["123450"].title == "같은 공고의 나중 행"


async def test_upsert_same_content_keeps_stored_columns(
    sessionmaker: async_sessionmaker[AsyncSession], source_id: int
) -> None:
    # The URL is not part of the content hash: a notice whose content is unchanged is not an edit and
    # its stored columns stay as they were.
    store = DbNoticeStore(sessionmaker, source_id)
    await store.upsert([notice(0)])
    before = await bids(sessionmaker)

    result = await store.upsert([notice(0, url="https://www.forest.go.kr/kfs/bid/view.do?nttId=moved")])

    after = await bids(sessionmaker)
    assert (result.new, result.updated) == ([], [])
    assert after["123450"].url == before["123450"].url
    assert after["123450"].updated_at == before["123450"].updated_at


async def test_views_of_unknown_ids_are_ignored(
    sessionmaker: async_sessionmaker[AsyncSession], source_id: int
) -> None:
    store = DbNoticeStore(sessionmaker, source_id)
    await store.upsert([notice(0)])

    result = await store.upsert([], views={"123450": 42, "never-stored": 5})

    assert (result.new, result.updated) == ([], [])
    stored = await bids(sessionmaker)
    assert set(stored) == {"123450"}
    assert stored["123450"].views == 42


async def test_both_statement_shapes_agree(sessionmaker: async_sessionmaker[AsyncSession], source_id: int) -> None:
    # upsert_notices picks one statement per batch on PostgreSQL; upsert_rows is the portable shape.
    from forest.bids.ingest import upsert_notices, upsert_rows
    from forest.sources.models import Source

    async with sessionmaker() as session, session.begin():
        other = Source(name="같은 게시판의 사본", start_url="https://copy.example/list.do")
        session.add(other)
        await session.flush()
        other_id = other.id
    rounds = [
        [notice(n) for n in range(6)],
        [notice(0, title="정정 공고"), notice(1, views=1), notice(2), notice(9)],
        [notice(0, title="정정 공고"), notice(9, department="감사담당관")],
    ]
    outcomes: dict[int, list[tuple[list[str], list[str]]]] = {source_id: [], other_id: []}
    for batch in rounds:
        for sid in (source_id, other_id):
            async with sessionmaker() as session, session.begin():
                if sid == source_id:
                    result = await upsert_notices(session, sid, batch)
                else:
                    result = await upsert_rows(session, sid, batch, {})
            outcomes[sid].append(([n.external_id for n in result.new], [n.external_id for n in result.updated]))

    assert outcomes[source_id] == outcomes[other_id]
    assert outcomes[source_id][1] == (["123459"], ["123450"])


async def test_body_change_is_an_edit_with_new_facts_and_views_only_is_not(
    sessionmaker: async_sessionmaker[AsyncSession], source_id: int
) -> None:
    from forest.bids.models import BidDetail
    from forest.crawler.facts import extract

    def with_body(n: int, body: str, **changes: object) -> Notice:
        return notice(n, body=body, facts=extract(body, posted_on=dt.date(2026, 11, 20)), **changes)

    store = DbNoticeStore(sessionmaker, source_id)
    first = "가. 추정가격: 금1,474,567,273원\n입찰(투찰)마감일시\t2026/12/03 10:00"
    await store.upsert([with_body(0, first), with_body(1, first)])
    before = await bids(sessionmaker)
    assert before["123450"].closes_at == dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC)
    assert str(before["123450"].amount) == "1474567273.00" and before["123450"].amount_kind == "estimated_price"

    corrected = first.replace("2026/12/03", "2026/12/10")
    result = await store.upsert([with_body(0, corrected, views=900), with_body(1, first, views=901)])

    assert result.updated_ids == [before["123450"].id] and result.new == []
    after = await bids(sessionmaker)
    assert after["123450"].closes_at == dt.datetime(2026, 12, 10, 1, 0, tzinfo=dt.UTC)
    assert after["123450"].updated_at > before["123450"].updated_at
    assert (after["123451"].views, after["123451"].updated_at) == (901, before["123451"].updated_at)
    async with sessionmaker() as session:
        detail = await session.get(BidDetail, after["123450"].id)
    assert detail is not None and detail.body == corrected
    assert detail.facts["closes_at"] == "2026-12-10T01:00:00+00:00"
    span = detail.facts["evidence"]["closes_at"]
    assert corrected[span["start"]:span["end"]] == span["text"] == "2026/12/10 10:00"
