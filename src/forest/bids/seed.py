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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from forest.bids.models import Bid, BidDetail
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
                "content_hash", "first_seen_at", "updated_at", "closes_at", "opens_at", "amount", "amount_kind",
                "currency", "category", "contract_method")
# Each synthetic row is COPY_COLUMNS then these, which go to `bid_detail` (facts as JSON text).
DETAIL_COLUMNS = ("body", "facts")
ROW_COLUMNS = COPY_COLUMNS + DETAIL_COLUMNS
KST = dt.timezone(dt.timedelta(hours=9))
WEEKDAYS = "월화수목금토일"
# What a notice of each kind buys (None: the notice does not say), and the label of its name line.
CATEGORY_OF_KIND = {"사업": None, "용역": "services", "공사": "works", "물품 구매": "goods", "위탁 운영": "services",
                    "유지보수": "services", "실시설계 용역": "services", "기본계획 수립 용역": "services"}
NAME_LABEL = {"services": "용역명", "works": "공사명", "goods": "물품명", None: "사업명"}
AMOUNT_LABELS = (("추정가격", "estimated_price"), ("기초금액", "base_amount"), ("추정금액", "estimated_total"),
                 ("배정예산", "budget"))
CONTRACT_METHODS = ("일반경쟁", "제한경쟁", "제한경쟁", "지명경쟁", "수의계약")


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
    """`n` bid rows as tuples in `ROW_COLUMNS` order (attachments and facts as JSON text); same arguments, same rows.

    Post dates spread over the two years ending `today`, ~n/730 a day so ties are common; views are
    log-normal (most notices get tens to hundreds of views, a few get thousands). Each row has a notice
    body written the way agencies write them (numbered paragraphs or a KONEPS-style label table) and the
    facts it states, with their evidence spans (see `notice_body`). External ids count from `start`, so a
    second run over a filled table does not collide. Everything per day or per choice is computed once:
    the generator, not the database, is the slow part of a bulk load.
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
        region, subject = REGIONS[int(rand() * regions)], SUBJECTS[int(rand() * subjects)]
        kind = KINDS[int(rand() * kinds)]
        title = f"{region} {years[d]} {subject} {kind} {NOTICES[int(rand() * notices)]}"
        if rand() < 0.1:
            title += f" (제{2 + int(rand() * 4)}차)"
        department = DEPARTMENTS[min(bisect.bisect(cumulative, rand() * total_weight), last_department)]
        external_id = f"syn-{seed}-{i}"
        first = int(rand() * len(FILES))
        attachments = "[" + ", ".join(
            f'{{"name": "{FILES[(first + k) % len(FILES)]}", "url": "https://board.example.kr/files/{external_id}/{k}"}}'
            for k in range(int(rand() * 4))) + "]"
        post_date = dates[d]
        notice = notice_body(rng, title=title, department=department, region=region, subject=subject, kind=kind,
                             post_date=post_date, number=i)
        content_hash = hashlib.sha256(
            f"{external_id}|{title}|{department}|{post_date}|{notice.body}".encode()).hexdigest()
        facts = notice.facts
        yield (source_ids[i % sources], external_id, title, department, int(lognormal(mus[d], 1.1)), post_date,
               f"https://board.example.kr/notice/{external_id}", attachments, content_hash, stamp, stamp,
               facts.get("closes_at"), facts.get("opens_at"), facts.get("amount"), facts.get("amount_kind"),
               facts.get("currency"), facts.get("category"), facts.get("contract_method"),
               notice.body, notice.facts_json())


@dataclass
class SyntheticNotice:
    """A notice body and the facts it states, each with its span in the body."""

    body: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, text_: str, fact: str | None = None, value: Any = None, *, also: tuple[str, ...] = ()) -> None:
        """Append `text_`; when `fact` is given it states that fact (and the `also` ones) with this span."""
        start = len(self.body)
        self.body += text_
        for name in ((fact, *also) if fact else ()):
            self.evidence[name] = {"start": start, "end": len(self.body), "text": text_}
        if fact:
            self.facts[fact] = value

    def facts_json(self) -> str:
        """TenderFacts.to_json() as text: values (datetimes ISO 8601 UTC, amounts as strings) and evidence."""
        out = {k: (v.isoformat() if isinstance(v, dt.datetime) else str(v) if isinstance(v, Decimal) else v)
               for k, v in self.facts.items()}
        out["evidence"] = self.evidence
        return json.dumps(out, ensure_ascii=False)


def _won(value: int, form: int) -> str:
    """An amount in won as boards write it: 금1,234,000원, 1,234,000원 or 12억 3,400만원."""
    if form == 2 and value >= 10**8:
        eok, rest = divmod(value, 10**8)
        man, won = divmod(rest, 10**4)
        parts = [f"{eok}억"] + ([f"{man:,}만"] if man else []) + ([f"{won:,}"] if won else [])
        return " ".join(parts) + "원"
    return ("금" if form == 0 else "") + f"{value:,}원"


def _kst(moment: dt.datetime, form: int) -> str:
    """A Korean date and time (KST) in one of the forms notices use."""
    if form == 0:
        return f"{moment.year}. {moment.month}. {moment.day}.({WEEKDAYS[moment.weekday()]}) {moment:%H:%M}"
    if form == 1:
        return f"{moment:%Y/%m/%d %H:%M}"
    return f"{moment.year}년 {moment.month}월 {moment.day}일 {moment.hour}시"


def notice_body(
    rng: random.Random, *, title: str, department: str, region: str, subject: str, kind: str, post_date: dt.date,
    number: int,
) -> SyntheticNotice:
    """A realistic notice body for one synthetic bid and the facts it states (deterministic in `rng`).

    Two styles, as on real boards: numbered paragraphs (가. 나. 다.) and a KONEPS-style label table. About
    one in eight notices states no amount and one in twenty-five no deadline, as with 수의계약 notices and
    notices that point to an attachment. Deadlines fall 7-20 days after posting at 10:00, 14:00 or 17:00 KST,
    the opening one hour later; amounts are log-normal around 1억원.
    """
    rand = rng.random
    category = CATEGORY_OF_KIND[kind]
    method = CONTRACT_METHODS[int(rand() * len(CONTRACT_METHODS))]
    closes = dt.datetime.combine(post_date + dt.timedelta(days=7 + int(rand() * 14)),
                                 dt.time((10, 14, 17)[int(rand() * 3)]), tzinfo=KST)
    opens = closes + dt.timedelta(hours=1)
    has_deadline, has_amount = rand() >= 0.04, rand() >= 0.125
    amount = int(rng.lognormvariate(18.4, 1.0))
    label, amount_kind = AMOUNT_LABELS[min(int(rand() * 5), 3)] if rand() < 0.9 else AMOUNT_LABELS[3]
    date_form, money_form, vat = int(rand() * 3), int(rand() * 3), ("별도", "포함")[int(rand() * 2)]
    phone = f"042-481-{4000 + int(rand() * 999)}"
    note = SyntheticNotice()
    add = note.add
    if rand() < 0.6:
        add("산림청 공고 제")
        add(f"{post_date.year}-{number % 9000 + 1000}", "notice_no", f"{post_date.year}-{number % 9000 + 1000}")
        add(f"호\n\n{title}\n\n{region} 지역의 「{subject}」 {kind}을(를) 다음과 같이 공고하오니 "
            "참가를 희망하는 업체는 아래 사항을 숙지하시기 바랍니다.\n\n1. 입찰에 부치는 사항\n  가. ")
        add(NAME_LABEL[category], *(("category", category) if category else ()))
        add(f": {region} {subject} {kind}\n  나. 사업장소: {region} 일원\n")
        if has_amount:
            add("  다. ")
            add(label, "amount_kind", amount_kind)
            add(": ")
            add(_won(amount, money_form), "amount", Decimal(amount), also=("currency",))
            add(f"(부가가치세 {vat})\n")
        add(f"  라. 사업기간: 착수일로부터 {30 + int(rand() * 150)}일\n\n2. 입찰 및 계약방법\n  가. 계약방법: ")
        add(method, "contract_method", method)
        add(", 전자입찰\n")
        if has_deadline:
            add("  나. 입찰서 제출 마감: ")
            add(_kst(closes, date_form), "closes_at", closes.astimezone(dt.UTC))
            add("\n  다. 개찰일시: ")
            add(_kst(opens, date_form), "opens_at", opens.astimezone(dt.UTC))
            add("\n")
        add(f"\n3. 입찰참가자격\n  가. 「지방자치단체를 당사자로 하는 계약에 관한 법률」에 따른 자격을 갖춘 자\n"
            f"  나. 공고일 전일부터 {region}에 주된 영업소를 둔 업체\n\n"
            f"4. 기타\n  가. 입찰 관련 문의: 산림청 {department} (☎ {phone})\n"
            "  나. 자세한 사항은 첨부된 입찰공고문과 과업지시서를 참고하시기 바랍니다.")
    else:
        add(f"{title}\n공고번호\t")
        no = f"R{post_date:%y}BK{number:08d}"
        add(no, "notice_no", no)
        add("-00\n공고기관\t")
        add(f"산림청 {department}", "procuring_entity", f"산림청 {department}")
        add(f"\n수요기관\t{region}국유림관리소\n계약방법\t")
        add(method, "contract_method", method)
        add("\n입찰방식\t전자입찰\n")
        if category:
            add("업무구분\t")
            add(NAME_LABEL[category][:2], "category", category)
            add("\n")
        if has_deadline:
            add("입찰(투찰)마감일시\t")
            add(_kst(closes, 1), "closes_at", closes.astimezone(dt.UTC))
            add("\n개찰일시\t")
            add(_kst(opens, 1), "opens_at", opens.astimezone(dt.UTC))
            add("\n")
        if has_amount:
            add(label, "amount_kind", amount_kind)
            add("\t")
            add(f"{amount:,}원", "amount", Decimal(amount), also=("currency",))
            add(f" (부가가치세 {vat})\n")
        add(f"담당자\t{department} (☎ {phone})\n"
            f"{region} {subject} {kind}의 과업 범위와 제출 서류는 첨부파일을 확인하시기 바랍니다.")
    if has_amount:
        note.facts["currency"] = "KRW"
    return note


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
    """Insert `n` synthetic bids with their bodies and facts (COPY on PostgreSQL, multi-row INSERTs on SQLite),
    then ANALYZE."""
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
        # The trigger that gives each new bid its bid_detail row (migration 0006) would write every row twice;
        # the rows are written whole below instead. Transactional: a failed load leaves it enabled.
        await raw.execute("ALTER TABLE bid DISABLE TRIGGER bid_detail_title")
        # Bodies wait in a temporary table keyed like `bid` until the rows have their ids.
        await raw.execute("CREATE TEMPORARY TABLE seed_detail (source_id bigint, external_id text, body text, "
                          "facts jsonb) ON COMMIT DROP")
        # Generate the next chunk in a thread while the server ingests this one.
        chunk = await asyncio.to_thread(_take, rows, batch)
        width = len(COPY_COLUMNS)
        while chunk:
            following = asyncio.ensure_future(asyncio.to_thread(_take, rows, batch))
            await raw.copy_records_to_table("bid", records=[r[:width] for r in chunk], columns=COPY_COLUMNS,
                                            timeout=BULK_TIMEOUT)
            await raw.copy_records_to_table("seed_detail", records=[(r[0], r[1], *r[width:]) for r in chunk],
                                            timeout=BULK_TIMEOUT)
            chunk = await following
        await raw.execute("INSERT INTO bid_detail (bid_id, title, body, facts) SELECT bid.id, bid.title, d.body, "
                          "d.facts FROM seed_detail d JOIN bid ON bid.source_id = d.source_id "
                          "AND bid.external_id = d.external_id", timeout=BULK_TIMEOUT)
        await raw.execute("ALTER TABLE bid ENABLE TRIGGER bid_detail_title")
        await raw.execute("SET LOCAL maintenance_work_mem = '1GB'")
        for _name, definition in rebuild:
            await raw.execute(definition, timeout=BULK_TIMEOUT)
        await session.commit()
        # Fresh statistics for the planner, and a visibility map so index-only scans skip the heap.
        vacuum = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        vacuum_raw = (await vacuum.get_raw_connection()).driver_connection
        assert vacuum_raw is not None
        # Outside the load's transaction the connection's own statement timeout holds again; a VACUUM of a
        # million bodies outlasts it on a busy machine, so this pooled connection lifts it and puts it back.
        await vacuum_raw.execute("SET statement_timeout = 0")
        try:
            for table in ("bid", "bid_detail"):
                await vacuum_raw.execute(f"VACUUM (ANALYZE) {table}", timeout=BULK_TIMEOUT)
        finally:
            await vacuum_raw.execute("RESET statement_timeout")
    else:
        # SQLite caps bound parameters per statement (32766); 18 columns × 1000 rows stays below.
        while chunk := _take(rows, 1000):
            values = [dict(zip(ROW_COLUMNS, row, strict=True)) for row in chunk]
            details = {}
            for value in values:
                value["attachments"] = json.loads(value["attachments"])
                details[value["external_id"]] = (value.pop("body"), json.loads(value.pop("facts")))
            ids = await session.execute(insert(Bid).values(values).returning(Bid.id, Bid.external_id))
            # Each bid already has its (empty) bid_detail row, from the trigger of migration 0006.
            await session.execute(update(BidDetail), [
                {"bid_id": bid_id, "body": details[external_id][0], "facts": details[external_id][1]}
                for bid_id, external_id in ids.all()])
        await session.commit()
        await session.execute(text("ANALYZE"))
    await session.commit()
    return SeedReport(rows=n, sources=len(source_ids), seconds=time.perf_counter() - started)


def _take(rows: Iterator[tuple[Any, ...]], n: int) -> list[tuple[Any, ...]]:
    return list(itertools.islice(rows, n))


async def _secondary_indexes(session: AsyncSession) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the bid and bid_detail indexes that back no constraint."""
    rows = await session.execute(text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.schemaname = current_schema() AND i.tablename IN ('bid', 'bid_detail') "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname"))
    return [(str(name), str(definition)) for name, definition in rows.all()]
