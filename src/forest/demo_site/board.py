"""The demo bid board's data: deterministic notices, edits, view growth, faults and counters."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal, get_args

from forest.crawler.facts import TenderFacts
from forest.demo_site.writing import Draft, Writing, corrected, decide, write

ANCHOR_DATE = date(2026, 11, 20)
PER_PAGE = 10
DEFAULT_ROBOTS_TXT = "User-agent: *\nDisallow: /private/\n"
# Regular ids start here and grow with recency; pinned notices live in their own high range,
# like the long-lived announcements of a real board, so the two can never collide.
FIRST_ID = 104_729
PINNED_FIRST_ID = 900_001
# Edits touch only recent notices, which is where real agencies post corrections.
EDIT_WINDOW = 30

FaultKind = Literal[
    "slow", "unavailable", "rate_limited", "reset", "redirect_chain", "oversized", "repeat_last_page", "bad_charset",
    "drop_session",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
# Faults that replace the response; at most one of them fires per request, in this order.
ACTION_FAULTS: tuple[FaultKind, ...] = (
    "redirect_chain", "unavailable", "rate_limited", "reset", "oversized", "bad_charset"
)
# A charset label the bad_charset fault may declare: one header token, never a header injection.
_CHARSET_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,40}")

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
_CORRECTION = " (정정)"


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


@dataclass(frozen=True, slots=True)
class ListPage:
    """One rendered page of the board: pinned rows plus up to PER_PAGE numbered rows."""

    page_index: int
    total: int
    last_page: int
    pinned: tuple[Notice, ...]
    rows: tuple[tuple[int, Notice], ...]

    @property
    def has_next(self) -> bool:
        """Whether a page follows this one."""
        return self.page_index < self.last_page


@dataclass(frozen=True, slots=True)
class Fault:
    """An active fault mode; `remaining=None` means until cleared."""

    kind: FaultKind
    remaining: int | None = None
    path_prefix: str | None = None
    delay: float = 1.0
    hops: int = 3
    location: str | None = None
    gzip: bool = False
    charset: str = "base64"

    def matches(self, path: str) -> bool:
        """Whether this fault applies to a request for `path`."""
        if self.path_prefix is not None:
            return path.startswith(self.path_prefix)
        # Unscoped faults leave robots.txt alone so a crawler's robots fetch does not eat them.
        return path != "/robots.txt"

    def to_json(self) -> dict[str, Any]:
        """The fault in the control API's JSON shape."""
        data: dict[str, Any] = {"remaining": self.remaining, "path_prefix": self.path_prefix}
        if self.kind == "slow":
            data["delay"] = self.delay
        elif self.kind == "redirect_chain":
            data["hops"] = self.hops
            data["location"] = self.location
        elif self.kind == "oversized":
            data["gzip"] = self.gzip
        elif self.kind == "bad_charset":
            data["charset"] = self.charset
        return data


@dataclass(frozen=True, slots=True)
class RequestFaults:
    """What the faults decided for one request: a delay and at most one replacing fault."""

    delay: float = 0.0
    action: Fault | None = None


def _previous_weekday(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _make_notice(rng: random.Random, *, ntt_id: int, post_date: date, fresh: bool, writing_seed: str) -> Notice:
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
        _make_notice(rng, ntt_id=ntt_id, post_date=post_date, fresh=False, writing_seed=str(seed))
        for ntt_id, post_date in zip(ids, dates, strict=True)
    ]
    return regular, _make_pinned(rng)


def download_bytes(attachment: Attachment) -> bytes:
    """Deterministic file content for an attachment."""
    line = f"FOREST DEMO ATTACHMENT {attachment.file_id} {attachment.name}\n".encode()
    return line * 32


class Board:
    """The live state of the demo board; every method is safe to call from any thread."""

    def __init__(self, *, notices: int = 500, seed: int = 1, robots_txt: str | None = None) -> None:
        self.size = notices
        self.seed = seed
        self._initial_robots_txt = DEFAULT_ROBOTS_TXT if robots_txt is None else robots_txt
        self._lock = threading.RLock()
        self._load()

    def _load(self) -> None:
        regular, pinned = generate_notices(size=self.size, seed=self.seed)
        with self._lock:
            self.robots_txt = self._initial_robots_txt
            self._order = [n.ntt_id for n in regular]
            self._pinned_ids = [n.ntt_id for n in pinned]
            self._by_id = {n.ntt_id: n for n in (*regular, *pinned)}
            self._files = {a.file_id: a for n in self._by_id.values() for a in n.attachments}
            self._ops_rng = random.Random(f"forest-demo-ops:{self.seed}")
            self._faults: dict[FaultKind, Fault] = {}
            self._redirect_passes: Counter[str] = Counter()
            self._requests: Counter[str] = Counter()
            # (wall-clock time, path) of the latest requests, for checking a crawler's pace at the board.
            self._arrivals: deque[tuple[float, str]] = deque(maxlen=100_000)

    def reset(self) -> None:
        """Restore the board to its freshly generated state: notices, faults, counters and robots.txt."""
        self._load()

    @property
    def notices(self) -> list[Notice]:
        """Regular (non-pinned) notices, newest first."""
        with self._lock:
            return [self._by_id[i] for i in self._order]

    @property
    def pinned(self) -> list[Notice]:
        """The pinned 공지 notices shown on top of every list page."""
        with self._lock:
            return [self._by_id[i] for i in self._pinned_ids]

    @property
    def total(self) -> int:
        """Number of regular notices."""
        with self._lock:
            return len(self._order)

    @property
    def newest_id(self) -> int | None:
        """The id of the newest regular notice."""
        with self._lock:
            return self._order[0] if self._order else None

    @property
    def last_page(self) -> int:
        """The last page index (1 for an empty board)."""
        with self._lock:
            return max(1, -(-len(self._order) // PER_PAGE))

    def get(self, ntt_id: int) -> Notice | None:
        """A notice by id, without counting a view."""
        with self._lock:
            return self._by_id.get(ntt_id)

    def view(self, ntt_id: int) -> Notice | None:
        """A notice by id, counting one view as its detail page does."""
        with self._lock:
            notice = self._by_id.get(ntt_id)
            if notice is None:
                return None
            notice = replace(notice, views=notice.views + 1)
            self._by_id[ntt_id] = notice
            return notice

    def attachment(self, file_id: int) -> Attachment | None:
        """An attachment by file id."""
        with self._lock:
            return self._files.get(file_id)

    def list_page(self, page_index: int, *, repeat_last_page: bool = False, grow_views: bool = True) -> ListPage:
        """One list page; listed rows gain a few views, as they do on a live board between visits."""
        with self._lock:
            total = len(self._order)
            last_page = max(1, -(-total // PER_PAGE))
            page_index = max(1, page_index)
            if repeat_last_page and page_index > last_page:
                page_index = last_page
            start = (page_index - 1) * PER_PAGE
            ids = self._order[start : start + PER_PAGE]
            if grow_views:
                for ntt_id in (*self._pinned_ids, *ids):
                    notice = self._by_id[ntt_id]
                    self._by_id[ntt_id] = replace(notice, views=notice.views + 1 + ntt_id % 3)
            rows = tuple((total - (start + i), self._by_id[ntt_id]) for i, ntt_id in enumerate(ids))
            pinned = tuple(self._by_id[i] for i in self._pinned_ids)
            return ListPage(page_index=page_index, total=total, last_page=last_page, pinned=pinned, rows=rows)

    def add_notices(self, count: int) -> list[Notice]:
        """Post `count` new notices on top of the board; returns them newest first."""
        if count < 0:
            raise ValueError("count must be >= 0")
        added: list[Notice] = []
        with self._lock:
            newest = self._by_id[self._order[0]] if self._order else None
            post_date = newest.post_date if newest else ANCHOR_DATE
            ntt_id = newest.ntt_id if newest else FIRST_ID
            taken = set(self._by_id)
            for _ in range(count):
                if self._ops_rng.random() < 0.2:
                    post_date = _next_weekday(post_date)
                ntt_id += self._ops_rng.randint(1, 29)
                while ntt_id in taken:
                    ntt_id += 1
                taken.add(ntt_id)
                notice = _make_notice(
                    self._ops_rng, ntt_id=ntt_id, post_date=post_date, fresh=True, writing_seed=f"{self.seed}:ops"
                )
                self._by_id[ntt_id] = notice
                self._files.update({a.file_id: a for a in notice.attachments})
                added.append(notice)
            added.reverse()
            self._order[:0] = [n.ntt_id for n in added]
        return added

    def edit_notices(self, count: int) -> list[Notice]:
        """Correct `count` recent notices (title and/or department), keeping ids and dates; newest first."""
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            window = self._order[:EDIT_WINDOW]
            chosen = self._ops_rng.sample(window, min(count, len(window)))
            for ntt_id in chosen:
                notice = self._by_id[ntt_id]
                mode = self._ops_rng.choice(("title", "department", "both"))
                if notice.title.endswith(_CORRECTION):
                    # A second correction would not change the title, so move the department instead.
                    mode = "department"
                title, department = notice.title, notice.department
                if mode in ("title", "both"):
                    title = title + _CORRECTION
                if mode in ("department", "both"):
                    department = self._ops_rng.choice([d for d in DEPARTMENTS if d != department])
                body = f"{notice.body}\n※ 정정사항: 공고 내용 일부를 정정합니다. (담당부서: {department})"
                draft = replace(notice.draft, title=title, department=department) if notice.draft else None
                self._by_id[ntt_id] = replace(notice, title=title, department=department, body=body, draft=draft)
            picked = set(chosen)
            return [self._by_id[i] for i in self._order if i in picked]

    def correct_deadline(self, ntt_id: int, *, days: int) -> Notice:
        """Post a 정정공고 for a notice: its deadline and opening move by `days`, the body says so in a table."""
        if not -60 <= days <= 60 or days == 0:
            raise ValueError("days must be between -60 and 60 and not 0")
        with self._lock:
            notice = self._by_id.get(ntt_id)
            if notice is None:
                raise LookupError(f"no notice {ntt_id}")
            if notice.draft is None or notice.writing is None or notice.facts.closes_at is None:
                raise ValueError(f"notice {ntt_id} has no deadline to correct")
            facts = corrected(notice.facts, days)
            title = notice.title if notice.title.endswith(_CORRECTION) else notice.title + _CORRECTION
            draft = replace(notice.draft, title=title)
            body = write(draft, facts, notice.writing, before=notice.facts)
            notice = replace(notice, title=title, body=body, facts=facts, draft=draft)
            self._by_id[ntt_id] = notice
            return notice

    def truth(self) -> list[dict[str, Any]]:
        """Every notice (regular newest first, then pinned) with the facts its body states, for tests."""
        with self._lock:
            return [
                {
                    "ntt_id": n.ntt_id,
                    "title": n.title,
                    "post_date": n.post_date.isoformat(),
                    "pinned": n.pinned,
                    "facts": n.facts.without_evidence(),
                }
                for n in (*(self._by_id[i] for i in self._order), *(self._by_id[i] for i in self._pinned_ids))
            ]

    @property
    def faults(self) -> dict[FaultKind, Fault]:
        """The active faults by kind."""
        with self._lock:
            return dict(self._faults)

    def set_fault(
        self,
        kind: FaultKind,
        *,
        remaining: int | None = None,
        path_prefix: str | None = None,
        delay: float = 1.0,
        hops: int = 3,
        location: str | None = None,
        gzip: bool = False,
        charset: str = "base64",
    ) -> Fault:
        """Turn on a fault for the next `remaining` matching requests (all, if None)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if remaining is not None and remaining < 1:
            raise ValueError("remaining must be >= 1 or null")
        if not 0 <= delay <= 60:
            raise ValueError("delay must be between 0 and 60 seconds")
        if not 1 <= hops <= 50:
            raise ValueError("hops must be between 1 and 50")
        if path_prefix is not None and not path_prefix.startswith("/"):
            raise ValueError("path_prefix must start with '/'")
        if not _CHARSET_LABEL.fullmatch(charset):
            raise ValueError("charset must be 1 to 40 letters, digits or _.:-")
        fault = Fault(
            kind=kind,
            remaining=remaining,
            path_prefix=path_prefix,
            delay=delay,
            hops=hops,
            location=location,
            gzip=gzip,
            charset=charset,
        )
        with self._lock:
            self._faults[kind] = fault
        return fault

    def clear_fault(self, kind: FaultKind) -> None:
        """Turn one fault off."""
        with self._lock:
            self._faults.pop(kind, None)

    def clear_faults(self) -> None:
        """Turn every fault off."""
        with self._lock:
            self._faults.clear()
            self._redirect_passes.clear()

    def _consume(self, kind: FaultKind) -> Fault:
        fault = self._faults[kind]
        if fault.remaining is not None:
            if fault.remaining <= 1:
                del self._faults[kind]
            else:
                self._faults[kind] = replace(fault, remaining=fault.remaining - 1)
        return fault

    def take_fault(self, kind: FaultKind, path: str) -> Fault | None:
        """Use one firing of fault `kind` if it is active for `path`."""
        with self._lock:
            fault = self._faults.get(kind)
            if fault is None or not fault.matches(path):
                return None
            return self._consume(kind)

    def take_request_faults(self, path: str, target: str) -> RequestFaults:
        """Decide the faults for one request to `path` (`target` is path plus query)."""
        with self._lock:
            slow = self.take_fault("slow", path)
            for kind in ACTION_FAULTS:
                fault = self._faults.get(kind)
                if fault is None or not fault.matches(path):
                    continue
                if kind == "redirect_chain" and self._redirect_passes[target] > 0:
                    # The client has just walked the chain to this page; serve the page itself.
                    self._redirect_passes[target] -= 1
                    continue
                return RequestFaults(delay=slow.delay if slow else 0.0, action=self._consume(kind))
            return RequestFaults(delay=slow.delay if slow else 0.0)

    def allow_redirect_target(self, target: str) -> None:
        """Let the next request for `target` through the redirect fault: it ends a chain."""
        with self._lock:
            self._redirect_passes[target] += 1

    def record_request(self, path: str) -> None:
        """Count one request for `path`."""
        with self._lock:
            self._requests[path] += 1
            self._arrivals.append((time.time(), path))

    def arrivals(self) -> list[tuple[float, str]]:
        """When each request arrived (`time.time()`) and its path, oldest first, since the last reset."""
        with self._lock:
            return list(self._arrivals)

    def request_count(self, path: str) -> int:
        """How many requests `path` has received since the last reset."""
        with self._lock:
            return self._requests[path]

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests received per path since the last reset."""
        with self._lock:
            return dict(self._requests)

    def reset_request_counts(self) -> None:
        """Zero the per-path request counters."""
        with self._lock:
            self._requests.clear()
            self._arrivals.clear()

    def state(self) -> dict[str, Any]:
        """A JSON-ready summary of the board for the control API."""
        with self._lock:
            return {
                "seed": self.seed,
                "size": self.size,
                "total": len(self._order),
                "pinned": len(self._pinned_ids),
                "newest_id": self._order[0] if self._order else None,
                "last_page": max(1, -(-len(self._order) // PER_PAGE)),
                "faults": {kind: fault.to_json() for kind, fault in self._faults.items()},
                "requests": dict(self._requests),
                "requests_total": sum(self._requests.values()),
                "robots_txt": self.robots_txt,
            }
