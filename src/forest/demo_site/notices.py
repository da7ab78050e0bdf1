"""The demo board's notices: the agency's vocabulary and the deterministic generator of notices and attachments."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from forest.crawler.facts import TenderFacts
from forest.demo_site.writing import Draft, Writing, decide, write

ANCHOR_DATE = date(2026, 11, 20)
# Regular ids start here and grow with recency; pinned notices live in their own high range,
# like the long-lived announcements of a real board, so the two can never collide.
FIRST_ID = 104_729
PINNED_FIRST_ID = 900_001

DEPARTMENTS: tuple[str, ...] = (
    "산림경영과",
    "산림환경보호과",
    "산불방지과",
    "목재산업과",
    "산림휴양등산과",
    "운영지원과",
    "국유림관리과",
    "산림보호과",
    "도시숲경관과",
    "산림병해충방제과",
    "사방협력과",
    "기획재정담당관",
    "산림정책과",
    "정보통계담당관",
    "산사태방지과",
    "산림자원과",
)

_OFFICES = (
    "서울국유림관리소",
    "홍천국유림관리소",
    "인제국유림관리소",
    "정선국유림관리소",
    "영월국유림관리소",
    "울진국유림관리소",
    "영주국유림관리소",
    "충주국유림관리소",
    "보은국유림관리소",
    "함양국유림관리소",
    "북부지방산림청",
    "동부지방산림청",
    "남부지방산림청",
    "중부지방산림청",
    "서부지방산림청",
    "국립자연휴양림관리소",
)
_MOUNTAINS = ("가리왕산", "오대산", "소백산", "지리산", "설악산", "치악산", "덕유산", "계룡산", "월악산", "속리산")
_WORKS = (
    "임도 구조개량",
    "임도 신설",
    "사방댐 설치",
    "계류보전",
    "산림유역관리",
    "휴양림 진입로 포장",
    "숲길 정비",
    "산불진화임도 개설",
    "목조 전망대 설치",
    "산림복지시설 리모델링",
    "수목원 관람로 정비",
)
_ITEMS = (
    "산불진화장비",
    "산불진화차량",
    "방염복",
    "등짐펌프",
    "산불감시용 드론",
    "산림헬기 예비부품",
    "임업용 굴착기",
    "목재파쇄기",
    "소나무재선충병 방제약제",
    "나무주사 약제",
    "산림측량장비",
    "전산장비",
    "업무용 차량",
    "산림보호 표지판",
    "조림용 묘목",
)
_SERVICES = (
    "숲가꾸기 실시설계",
    "산림병해충 예찰·방제",
    "수목원 시설물 유지보수",
    "산림경영계획 수립",
    "도시숲 조성 실시설계",
    "자연휴양림 운영 위탁",
    "산림재해 위험지도 제작",
    "산림탄소 흡수량 조사",
    "목재이용 실태조사",
    "산림정보시스템 유지관리",
    "휴양림 예약시스템 고도화",
    "산사태 취약지역 실태조사",
    "국가숲길 안내체계 구축",
)
_SALES = ("국유림 간벌목", "국유림 피해목", "국유림 벌채목", "임산물 부산물")
_SUFFIXES = ("입찰공고", "입찰공고", "입찰공고", "긴급입찰 공고", "재공고", "제한경쟁입찰 공고", "사전규격 공개")
_CONSTRUCTION_DEPTS = ("국유림관리과", "사방협력과", "산림휴양등산과", "산림경영과", "도시숲경관과", "산사태방지과")
_GOODS_DEPTS = ("산불방지과", "운영지원과", "산림병해충방제과", "목재산업과", "산림보호과", "산림자원과")
_SERVICE_DEPTS = (
    "산림경영과",
    "산림환경보호과",
    "산림휴양등산과",
    "기획재정담당관",
    "산림정책과",
    "정보통계담당관",
    "산림병해충방제과",
)
_SALE_DEPTS = ("국유림관리과", "목재산업과")
_COMMON_FILES = ("공고문.hwp", "입찰참가신청서.hwp", "청렴계약이행서약서.hwp")
_CATEGORY_FILES = {
    "공사": ("설계서.zip", "시방서.pdf", "공사원가계산서.pdf"),
    "물품": ("물품규격서.hwp", "구매요청서.pdf"),
    "용역": ("과업지시서.pdf", "제안요청서.hwp"),
    "매각": ("매각물건 명세서.xlsx", "위치도.pdf"),
}
_PINNED = (
    ("[공지] 전자입찰 참가 시 유의사항 안내", "운영지원과", date(2026, 1, 2)),
    ("[공지] 입찰 관련 청렴계약제 시행 안내", "기획재정담당관", date(2025, 12, 22)),
    ("[공지] 나라장터 공동인증서 등록 및 입찰 참가 안내", "운영지원과", date(2025, 11, 3)),
)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a notice."""

    file_id: int
    name: str


@dataclass(frozen=True, slots=True)
class Notice:
    """One bid notice as the board shows it."""

    ntt_id: int
    title: str
    department: str
    post_date: date
    views: int
    attachments: tuple[Attachment, ...]
    body: str
    pinned: bool = False
    facts: TenderFacts = field(default_factory=TenderFacts)
    draft: Draft | None = None
    writing: Writing | None = None


def _previous_weekday(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def next_weekday(day: date) -> date:
    """The working day after `day` (weekends skipped)."""
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def make_notice(rng: random.Random, *, ntt_id: int, post_date: date, fresh: bool, writing_seed: str) -> Notice:
    """Build one realistic notice; every random choice comes from `rng`, so output is reproducible.

    How the body is written (style, forms, traps) comes from a generator of its own, seeded by the notice id, so
    the board's ids, titles, dates and views stay what they were before bodies had styles.
    """
    category = rng.choices(("공사", "물품", "용역", "매각"), weights=(35, 30, 28, 7))[0]
    suffix = rng.choice(_SUFFIXES)
    year = post_date.year
    office: str | None = None
    if category == "공사":
        office = rng.choice(_OFFICES)
        subject = f"{office} {rng.choice(_MOUNTAINS)}지구 {rng.choice(_WORKS)} 공사"
        title = f"{year}년 {subject} {suffix}"
        department = rng.choice(_CONSTRUCTION_DEPTS)
        price = rng.randrange(80, 4_000) * 1_000_000
    elif category == "물품":
        subject = f"{rng.choice(_ITEMS)} 구매"
        title = f"{year}년 {subject} {suffix}" if rng.random() < 0.4 else f"{subject} {suffix}"
        department = rng.choice(_GOODS_DEPTS)
        price = rng.randrange(5, 900) * 1_000_000
    elif category == "용역":
        subject = f"{rng.choice(_SERVICES)} 용역"
        title = f"{year}년 {subject} {suffix}"
        department = rng.choice(_SERVICE_DEPTS)
        price = rng.randrange(20, 1_500) * 1_000_000
    else:
        office = rng.choice(_OFFICES)
        subject = f"{office} {rng.choice(_SALES)} 매각"
        title = f"{subject} {rng.choice(('입찰공고', '재공고'))}"
        department = rng.choice(_SALE_DEPTS)
        price = rng.randrange(3, 300) * 1_000_000
    age_days = (ANCHOR_DATE - post_date).days
    if fresh:
        views = rng.randrange(0, 6)
    else:
        # Log-normal gives the long tail of real boards; older notices have had longer to collect views.
        views = int(rng.lognormvariate(4.0, 0.9) * (1 + min(max(age_days, 0), 365) / 60))
    file_count = rng.choices((0, 1, 2, 3), weights=(15, 35, 30, 20))[0]
    names: list[str] = []
    if file_count:
        names.append("공고문.hwp")
        pool = [n for n in (*_CATEGORY_FILES[category], *_COMMON_FILES) if n not in names]
        names.extend(rng.sample(pool, file_count - 1))
    attachments = tuple(Attachment(file_id=ntt_id * 10 + i + 1, name=n) for i, n in enumerate(names))
    deadline = post_date + timedelta(days=rng.randrange(7, 21))
    draft = Draft(
        title=title,
        subject=subject,
        category=category,
        department=department,
        post_date=post_date,
        number=rng.randrange(1, 2000),
        phone=rng.randrange(4000, 4999),
        office=office,
    )
    writing_rng = random.Random(f"forest-demo-writing:{writing_seed}:{ntt_id}")
    facts, writing = decide(draft, writing_rng, price=price, deadline=deadline)
    return Notice(
        ntt_id=ntt_id,
        title=title,
        department=department,
        post_date=post_date,
        views=views,
        attachments=attachments,
        body=write(draft, facts, writing),
        facts=facts,
        draft=draft,
        writing=writing,
    )


def _make_pinned(rng: random.Random) -> list[Notice]:
    count = rng.choice((2, 3))
    pinned: list[Notice] = []
    for i, (title, department, post_date) in enumerate(_PINNED[:count]):
        ntt_id = PINNED_FIRST_ID + i
        attachments = (Attachment(file_id=ntt_id * 10 + 1, name="입찰참가 안내문.hwp"),)
        body = "\n".join(
            (
                title,
                "산림청 입찰에 참가하시는 분들은 아래 사항을 반드시 확인하시기 바랍니다.",
                "1. 모든 입찰은 국가종합전자조달시스템(나라장터)을 통하여 진행합니다.",
                "2. 입찰 관련 문의는 각 공고의 담당부서로 연락하여 주시기 바랍니다.",
            )
        )
        pinned.append(
            Notice(
                ntt_id=ntt_id,
                title=title,
                department=department,
                post_date=post_date,
                views=rng.randrange(8_000, 40_000),
                attachments=attachments,
                body=body,
                pinned=True,
            )
        )
    return pinned


def generate_notices(*, size: int, seed: int) -> tuple[list[Notice], list[Notice]]:
    """Deterministic (regular newest first, pinned) notices for a seed and board size."""
    if size < 0:
        raise ValueError("size must be >= 0")
    rng = random.Random(f"forest-demo-board:{seed}")
    dates: list[date] = []
    day = ANCHOR_DATE
    left_today = rng.randint(1, 6)
    for _ in range(size):
        if left_today == 0:
            day = _previous_weekday(day)
            left_today = rng.randint(1, 6)
        dates.append(day)
        left_today -= 1
    gaps = [rng.randint(1, 29) for _ in range(size)]
    ids: list[int] = []
    current = FIRST_ID
    for gap in reversed(gaps):
        ids.append(current)
        current += gap
    ids.reverse()
    regular = [
        make_notice(rng, ntt_id=ntt_id, post_date=post_date, fresh=False, writing_seed=str(seed))
        for ntt_id, post_date in zip(ids, dates, strict=True)
    ]
    return regular, _make_pinned(rng)


def download_bytes(attachment: Attachment) -> bytes:
    """Deterministic file content for an attachment."""
    line = f"FOREST DEMO ATTACHMENT {attachment.file_id} {attachment.name}\n".encode()
    return line * 32
