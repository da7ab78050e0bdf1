"""Deterministic synthetic bids for benchmarks and demos (`forest seed bids N`)."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import hashlib
import itertools
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from forest.bids.models import Bid
from forest.database import utcnow
from forest.sources.models import Source

DEPARTMENTS = [
    "산림경영과", "산불방지과", "목재산업과", "산림자원과", "산림병해충방제과", "산림복지정책과", "국유림관리과",
    "산림보호과", "도시숲경관과", "산림교육치유과", "사방협력과", "임도시설과", "산림정책과", "녹색자금관리팀",
    "운영지원과",
]
# Departments get notices unevenly, as on real boards: a few post most of them.
DEPARTMENT_WEIGHTS = [1.0 / (rank + 1) ** 0.8 for rank in range(len(DEPARTMENTS))]
REGIONS = ["서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기", "강원", "충북", "충남", "전북",
           "전남", "경북", "경남", "제주", "홍천", "평창", "영월", "정선", "산청", "함양"]
SUBJECTS = ["숲가꾸기", "임도 개설", "사방댐 설치", "산불 감시카메라", "산림병해충 방제", "조림", "목재 펠릿",
            "휴양림 시설 보수", "산림 드론", "수목원 관리", "등산로 정비", "산불진화차량", "소나무재선충병 방제",
            "산림생태 조사", "숲길 조성", "도시숲 조성", "목재문화체험장", "산림 빅데이터 플랫폼", "치유의 숲 운영"]
KINDS = ["사업", "용역", "공사", "물품 구매", "위탁 운영", "유지보수", "실시설계 용역", "기본계획 수립 용역"]
NOTICES = ["입찰 공고", "긴급 입찰 공고", "재공고", "정정 공고", "사전규격 공개", "협상에 의한 계약 공고",
           "적격심사 입찰 공고", "제한경쟁입찰 공고"]
FILES = ["입찰공고문.hwp", "과업지시서.hwp", "제안요청서.pdf", "내역서.xlsx", "도면.zip", "청렴계약이행서약서.hwp"]
SPAN_DAYS = 730
BULK_TIMEOUT = 3600.0
COPY_COLUMNS = ("source_id", "external_id", "title", "department", "views", "post_date", "url", "attachments",
                "content_hash", "first_seen_at", "updated_at")


@dataclass(frozen=True)
class SeedReport:
    """What one seeding run did and how fast."""

    rows: int
    sources: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Insert throughput."""
        return self.rows / self.seconds if self.seconds else float("inf")


def synthetic_bids(
    n: int, *, source_ids: list[int], seed: int, today: dt.date, start: int = 0,
) -> Iterator[tuple[Any, ...]]:
    """`n` bid rows as tuples in `COPY_COLUMNS` order (attachments as JSON text); same arguments, same rows.

    Post dates spread over the two years ending `today`, ~n/730 a day so ties are common; views are
    log-normal (most notices get tens to hundreds of views, a few get thousands). External ids count
    from `start`, so a second run over a filled table does not collide. Everything per day or per
    choice is computed once: the generator, not the database, is the slow part of a bulk load.
    """
    rng = random.Random(seed)
    rand, lognormal = rng.random, rng.lognormvariate
    dates = [today - dt.timedelta(days=d) for d in range(SPAN_DAYS)]
    years = [f"{d.year}년" for d in dates]
    # Older notices had longer to collect views.
    mus = [4.6 + 0.6 * math.log1p(d / 30) for d in range(SPAN_DAYS)]
    cumulative = list(itertools.accumulate(DEPARTMENT_WEIGHTS))
    total_weight = cumulative[-1]
    last_department = len(DEPARTMENTS) - 1
    stamp = dt.datetime.combine(today, dt.time(9, 0), tzinfo=dt.UTC)
    sources, regions, subjects, kinds, notices = len(source_ids), len(REGIONS), len(SUBJECTS), len(KINDS), len(NOTICES)
    for i in range(start, start + n):
        d = int(rand() * SPAN_DAYS)
        title = (f"{REGIONS[int(rand() * regions)]} {years[d]} {SUBJECTS[int(rand() * subjects)]} "
                 f"{KINDS[int(rand() * kinds)]} {NOTICES[int(rand() * notices)]}")
        if rand() < 0.1:
            title += f" (제{2 + int(rand() * 4)}차)"
        department = DEPARTMENTS[min(bisect.bisect(cumulative, rand() * total_weight), last_department)]
        external_id = f"syn-{seed}-{i}"
        first = int(rand() * len(FILES))
        attachments = "[" + ", ".join(
            f'{{"name": "{FILES[(first + k) % len(FILES)]}", "url": "https://board.example.kr/files/{external_id}/{k}"}}'
            for k in range(int(rand() * 4))) + "]"
        post_date = dates[d]
        content_hash = hashlib.sha256(f"{external_id}|{title}|{department}|{post_date}".encode()).hexdigest()
        yield (source_ids[i % sources], external_id, title, department, int(lognormal(mus[d], 1.1)), post_date,
               f"https://board.example.kr/notice/{external_id}", attachments, content_hash, stamp, stamp)


async def ensure_sources(*, session: AsyncSession, count: int) -> list[int]:
    """Ids of "Synthetic board 1..count", creating the missing ones."""
    names = [f"Synthetic board {k}" for k in range(1, count + 1)]
    existing = {s.name: s.id for s in (await session.scalars(select(Source).where(Source.name.in_(names)))).all()}
    for k, name in enumerate(names, start=1):
        if name not in existing:
            source = Source(name=name, start_url=f"https://board.example.kr/synthetic/{k}", enabled=False)
            session.add(source)
            await session.flush()
            existing[name] = source.id
    await session.commit()
    return [existing[name] for name in names]


async def seed_bids(
    *, session: AsyncSession, n: int, sources: int = 5, seed: int = 0, today: dt.date | None = None,
    batch: int = 20_000,
) -> SeedReport:
    """Insert `n` synthetic bids (COPY on PostgreSQL, multi-row INSERTs on SQLite) and ANALYZE the table."""
    started = time.perf_counter()
    source_ids = await ensure_sources(session=session, count=sources)
    # Re-seeding over a filled table must not collide on (source_id, external_id).
    start = int(await session.scalar(select(func.count()).select_from(Bid)) or 0)
    rows = synthetic_bids(n, source_ids=source_ids, seed=seed, today=today or utcnow().date(), start=start)
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        # Loading more rows than the table holds is faster with the secondary indexes dropped and built
        # once afterwards (PostgreSQL docs, "Populating a Database"). DDL is transactional: a failed
        # load leaves the indexes as they were.
        rebuild = await _secondary_indexes(session) if n >= start else []
        # A bulk load and index builds legitimately outlast the service's statement timeout and the
        # driver's command timeout, so they go through the raw connection with their own limit.
        await raw.execute("SET LOCAL statement_timeout = 0")
        for name, _definition in rebuild:
            await raw.execute(f'DROP INDEX "{name}"')
        # Generate the next chunk in a thread while the server ingests this one.
        chunk = await asyncio.to_thread(_take, rows, batch)
        while chunk:
            following = asyncio.ensure_future(asyncio.to_thread(_take, rows, batch))
            await raw.copy_records_to_table("bid", records=chunk, columns=COPY_COLUMNS, timeout=BULK_TIMEOUT)
            chunk = await following
        await raw.execute("SET LOCAL maintenance_work_mem = '1GB'")
        for _name, definition in rebuild:
            await raw.execute(definition, timeout=BULK_TIMEOUT)
        await session.commit()
        # Fresh statistics for the planner, and a visibility map so index-only scans skip the heap.
        vacuum = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        vacuum_raw = (await vacuum.get_raw_connection()).driver_connection
        assert vacuum_raw is not None
        await vacuum_raw.execute("VACUUM (ANALYZE) bid", timeout=BULK_TIMEOUT)
    else:
        # SQLite caps bound parameters per statement (32766); 11 columns × 2000 rows stays below.
        while chunk := _take(rows, 2000):
            values = [dict(zip(COPY_COLUMNS, row, strict=True)) for row in chunk]
            for value in values:
                value["attachments"] = json.loads(value["attachments"])
            await session.execute(insert(Bid).values(values))
        await session.commit()
        await session.execute(text("ANALYZE bid"))
    await session.commit()
    return SeedReport(rows=n, sources=len(source_ids), seconds=time.perf_counter() - started)


def _take(rows: Iterator[tuple[Any, ...]], n: int) -> list[tuple[Any, ...]]:
    return list(itertools.islice(rows, n))


async def _secondary_indexes(session: AsyncSession) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the bid indexes that back no constraint."""
    rows = await session.execute(text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.schemaname = current_schema() AND i.tablename = 'bid' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname"))
    return [(str(name), str(definition)) for name, definition in rows.all()]
