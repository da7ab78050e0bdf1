"""How the demo board writes a notice body, in the styles real agencies use, from the facts it knows are true.

A notice's facts (deadline, amount, method, bodies ...) are decided first; the body is then written from them in
one of several styles: the numbered paragraphs of 산림청 notices, a KONEPS-style key-value table, and a prose
letter with 한글 numerals and 오전/오후 times. Lines holding a tab are table rows (first cell the header).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from forest.crawler.facts import AmountKind, Category, TenderFacts
from forest.crawler.facts.numerals import korean_words

SEOUL = ZoneInfo("Asia/Seoul")
Style = Literal["numbered", "koneps", "prose"]
AmountForm = Literal["digits", "geum", "hangul", "eokman", "eok"]
DateForm = Literal["dots", "slash", "iso", "korean", "ampm", "yearless"]
_WEEKDAYS = "월화수목금토일"
CATEGORY_WORDS: dict[str, Category] = {"공사": "works", "물품": "goods", "용역": "services", "매각": "sale"}
_KIND_LABELS: dict[AmountKind, str] = {
    "estimated_price": "추정가격",
    "base_amount": "기초금액",
    "estimated_total": "추정금액",
    "budget": "배정예산",
}
# Where each forest office is: the region a 지역제한 notice limits bidders to, and the regional office that posts it.
OFFICE_REGION = {
    "서울국유림관리소": ("경기도", "북부지방산림청"),
    "홍천국유림관리소": ("강원특별자치도", "북부지방산림청"),
    "인제국유림관리소": ("강원특별자치도", "북부지방산림청"),
    "정선국유림관리소": ("강원특별자치도", "동부지방산림청"),
    "영월국유림관리소": ("강원특별자치도", "중부지방산림청"),
    "울진국유림관리소": ("경상북도", "남부지방산림청"),
    "영주국유림관리소": ("경상북도", "남부지방산림청"),
    "충주국유림관리소": ("충청북도", "중부지방산림청"),
    "보은국유림관리소": ("충청북도", "중부지방산림청"),
    "함양국유림관리소": ("경상남도", "서부지방산림청"),
    "북부지방산림청": ("강원특별자치도", "산림청"),
    "동부지방산림청": ("강원특별자치도", "산림청"),
    "남부지방산림청": ("경상북도", "산림청"),
    "중부지방산림청": ("충청남도", "산림청"),
    "서부지방산림청": ("전북특별자치도", "산림청"),
    "국립자연휴양림관리소": ("대전광역시", "산림청"),
}


@dataclass(frozen=True, slots=True)
class Draft:
    """What the board decided about a notice before writing it."""

    title: str
    subject: str
    category: str  # 공사 / 물품 / 용역 / 매각
    department: str
    post_date: dt.date
    number: int
    phone: int
    office: str | None  # the forest office named in the subject, if any


@dataclass(frozen=True, slots=True)
class Writing:
    """The style and forms a notice is written in; kept with the notice so a correction is written the same way."""

    style: Style
    amount_form: AmountForm
    date_form: DateForm
    vat_words: str
    question_trap: bool
    previous_trap: bool
    second_amount: bool


def local(value: dt.datetime) -> dt.datetime:
    """A UTC fact as Seoul wall-clock time."""
    return value.astimezone(SEOUL)


def format_won(value: Decimal, form: AmountForm) -> str:
    """An amount in one of the forms Korean notices use."""
    n = int(value)
    if form == "geum":
        return f"금{n:,}원"
    if form == "hangul":
        return f"금{korean_words(n)}원정(￦{n:,})"
    if form == "eokman":
        parts = []
        eok, rest = divmod(n, 10**8)
        man, won = divmod(rest, 10**4)
        if eok:
            parts.append(f"{eok:,}억")
        if man:
            parts.append(f"{man:,}만")
        if won:
            parts.append(f"{won:,}")
        return " ".join(parts) + "원"
    if form == "eok" and n % 10**6 == 0 and n >= 10**8:
        whole, _, frac = f"{Decimal(n) / 10**8:f}".partition(".")
        return (f"{whole}.{frac.rstrip('0')}" if frac.rstrip("0") else whole) + "억원"
    return f"{n:,}원"


def format_when(value: dt.datetime, form: DateForm) -> str:
    """A Seoul wall-clock time in one of the forms Korean notices use."""
    v = local(value)
    wd = _WEEKDAYS[v.weekday()]
    hm = f"{v.hour:02d}:{v.minute:02d}"
    if form == "slash":
        return f"{v:%Y/%m/%d} {hm}"
    if form == "iso":
        return f"{v:%Y-%m-%d} {hm}"
    if form == "korean":
        minutes = f" {v.minute}분" if v.minute else ""
        return f"{v.year}년 {v.month}월 {v.day}일({wd}) {v.hour}시{minutes}"
    if form == "ampm":
        half = "오전" if v.hour < 12 else "오후"
        hour = v.hour if v.hour <= 12 else v.hour - 12
        return f"{v.year}. {v.month}. {v.day}.({wd}) {half} {hour}:{v.minute:02d}"
    if form == "yearless":
        return f"{v.month}. {v.day}.({wd}) {hm}"
    return f"{v.year}. {v.month}. {v.day}.({wd}) {hm}"


def decide(draft: Draft, rng: random.Random, *, price: int, deadline: dt.date) -> tuple[TenderFacts, Writing]:
    """The true facts of a notice and how it will be written; every choice comes from `rng`."""
    style: Style = rng.choices(("numbered", "koneps", "prose"), weights=(40, 35, 25))[0]
    category = CATEGORY_WORDS[draft.category]
    hour, minute = rng.choice(((10, 0), (10, 0), (11, 0), (14, 0), (15, 0), (16, 0), (17, 0), (18, 0), (10, 30)))
    closes = dt.datetime(deadline.year, deadline.month, deadline.day, hour, minute, tzinfo=SEOUL)
    opens = closes + dt.timedelta(hours=1) if style == "koneps" or rng.random() < 0.5 else None
    with_amount = rng.random() < 0.9
    amount = Decimal(price + (rng.randrange(0, 10**6) if rng.random() < 0.5 else 0))
    kind: AmountKind
    if draft.category == "공사":
        kind = rng.choices(("estimated_price", "base_amount"), weights=(70, 30))[0]
    elif draft.category == "물품":
        kind = rng.choice(("estimated_price", "base_amount"))
    elif draft.category == "용역":
        kind = rng.choices(("estimated_price", "budget", "estimated_total"), weights=(50, 30, 20))[0]
    else:
        kind = "base_amount"
    vat_words = rng.choice(
        ("(부가가치세 별도)", "(VAT 별도)", "")
        if kind == "estimated_price"
        else ("(부가가치세 포함)", "(VAT 포함)", "")
        if draft.category != "매각"
        else ("", "(부가가치세 별도)")
    )
    vat = None if not vat_words else "포함" in vat_words
    method: str | None
    if "제한경쟁" in draft.title:
        method = "제한경쟁"
    elif draft.category == "공사":
        method = rng.choices(("일반경쟁", "제한경쟁", "지명경쟁", None), weights=(45, 35, 10, 10))[0]
    else:
        method = rng.choices(("일반경쟁", "제한경쟁", None), weights=(60, 30, 10))[0]
    region = None
    if method == "제한경쟁" and draft.office is not None and rng.random() < 0.6:
        region = OFFICE_REGION[draft.office][0]
    parent = OFFICE_REGION[draft.office][1] if draft.office else "산림청"
    procuring = parent if style in ("koneps", "prose") else None
    demand = (draft.office or "산림청") if style == "koneps" else None
    amount_form: AmountForm = (
        "digits" if style == "koneps" else rng.choice(("digits", "geum", "hangul", "eokman", "eok"))
    )
    if amount_form == "eok" and (int(amount) % 10**6 or amount < 10**8):
        amount_form = "eokman"
    date_form: DateForm = (
        "slash" if style == "koneps" else rng.choice(("dots", "iso", "korean", "ampm", "yearless", "dots"))
    )
    # Category is said by a label or by the headline '... 공사 입찰공고'; a '사전규격 공개' title says neither.
    says_category = style == "koneps" or "공고" in draft.title
    facts = TenderFacts(
        notice_no=_notice_no(draft, style),
        closes_at=closes.astimezone(dt.UTC),
        opens_at=opens.astimezone(dt.UTC) if opens else None,
        amount=amount if with_amount else None,
        amount_kind=kind if with_amount else None,
        currency="KRW" if with_amount else None,
        vat_included=vat if with_amount else None,
        contract_method=method,
        bid_method="전자입찰",
        region_limit=region,
        procuring_entity=procuring,
        demand_entity=demand,
        category=category if says_category or style != "prose" else None,
    )
    writing = Writing(
        style=style,
        amount_form=amount_form,
        date_form=date_form,
        vat_words=vat_words,
        question_trap=style != "koneps" and rng.random() < 0.3,
        previous_trap="재공고" in draft.title,
        second_amount=style == "koneps" and with_amount and kind == "estimated_price" and rng.random() < 0.5,
    )
    return facts, writing


def _notice_no(draft: Draft, style: Style) -> str:
    if style == "koneps":
        return f"{draft.post_date:%Y%m}{draft.number:05d}-00"
    return f"{draft.post_date.year}-{draft.number:04d}"


def write(draft: Draft, facts: TenderFacts, writing: Writing, *, before: TenderFacts | None = None) -> str:
    """The notice body; `before` (the facts before a 정정공고) adds the correction table on top."""
    lines: list[str] = []
    if before is not None:
        lines += _correction(before, facts, writing)
    if writing.style == "koneps":
        lines += _koneps(draft, facts, writing)
    elif writing.style == "prose":
        lines += _prose(draft, facts, writing)
    else:
        lines += _numbered(draft, facts, writing)
    return "\n".join(lines)


def _when(value: dt.datetime | None, writing: Writing) -> str:
    assert value is not None
    return format_when(value, writing.date_form)


def _amount_text(facts: TenderFacts, writing: Writing) -> str:
    assert facts.amount is not None
    text = format_won(facts.amount, writing.amount_form)
    return f"{text} {writing.vat_words}".rstrip()


def _label(facts: TenderFacts, draft: Draft) -> str:
    if facts.amount_kind == "base_amount" and draft.category == "매각":
        return "예정가격"
    return _KIND_LABELS[facts.amount_kind or "estimated_price"]


def _qualification(facts: TenderFacts) -> str:
    if facts.region_limit:
        return f"공고일 전일부터 입찰일까지 법인등기부상 본점 소재지가 {facts.region_limit}에 있는 업체"
    return "관련 법령에 따른 자격을 갖추고 나라장터에 등록한 자"


def _question(facts: TenderFacts, writing: Writing) -> list[str]:
    if not writing.question_trap or facts.closes_at is None:
        return []
    asked = (local(facts.closes_at) - dt.timedelta(days=3)).replace(hour=18, minute=0)
    return [f"  ※ 질의 마감: {format_when(asked, 'dots')}까지 (나라장터 전자질의)"]


def _previous(facts: TenderFacts, draft: Draft) -> list[str]:
    if facts.closes_at is None:
        return []
    old = local(facts.closes_at) - dt.timedelta(days=21)
    return [
        f"※ 본 공고는 당초 입찰마감 {format_when(old, 'dots')} 공고(제{draft.post_date.year}-"
        f"{max(1, draft.number - 40):04d}호)가 유찰되어 다시 공고하는 것입니다."
    ]


def _numbered(draft: Draft, facts: TenderFacts, writing: Writing) -> list[str]:
    lines = [
        draft.title,
        "1. 입찰에 부치는 사항",
        f"  가. 공고번호: 제{facts.notice_no}호",
        f"  나. 건명: {draft.subject}",
    ]
    if facts.amount is not None:
        lines.append(f"  다. {_label(facts, draft)}: {_amount_text(facts, writing)}")
    lines.append("  라. 입찰방식: 전자입찰 (국가종합전자조달시스템 나라장터)")
    if facts.contract_method:
        lines.append(f"  마. 계약방법: {facts.contract_method}")
    if facts.category and "공고" not in draft.title:
        lines.append(f"  바. 업무구분: {draft.category}")
    lines.append(f"2. 입찰참가자격: {_qualification(facts)}")
    lines.append(f"3. 입찰서 제출 마감: {_when(facts.closes_at, writing)}")
    lines += _question(facts, writing)
    if facts.opens_at:
        lines.append(f"4. 개찰일시: {_when(facts.opens_at, writing)}")
    if writing.previous_trap:
        lines += _previous(facts, draft)
    lines.append(f"5. 문의처: 산림청 {draft.department} (042-481-{draft.phone})")
    return lines


def _koneps(draft: Draft, facts: TenderFacts, writing: Writing) -> list[str]:
    rows = [
        ("공고번호", facts.notice_no or ""),
        ("공고명", draft.title),
        ("공고기관", facts.procuring_entity or ""),
        ("수요기관", facts.demand_entity or ""),
        ("업무구분", draft.category),
        ("계약방법", f"{facts.contract_method}(총액)" if facts.contract_method else "-"),
        ("입찰방식", "전자입찰"),
    ]
    if facts.amount is not None:
        rows.append((_label(facts, draft), _amount_text(facts, writing)))
        if writing.second_amount:
            base = (facts.amount * Decimal("1.1")).quantize(Decimal(1))
            rows.append(("기초금액", f"{int(base):,}원 (VAT 포함)"))
    else:
        rows.append(("기초금액", "추후 공개 (개찰 전 나라장터 게시)"))
    assert facts.closes_at is not None and facts.opens_at is not None
    starts = local(facts.closes_at) - dt.timedelta(days=5, hours=1)
    rows += [
        ("입찰(투찰)개시일시", format_when(starts, "slash")),
        ("입찰(투찰)마감일시", _when(facts.closes_at, writing)),
        ("개찰일시", _when(facts.opens_at, writing)),
        ("지역제한", facts.region_limit or "없음"),
        ("담당자", f"{draft.department} ☎ 042-481-{draft.phone}"),
    ]
    lines = [f"{k}\t{v}" for k, v in rows]
    if writing.previous_trap:
        lines += _previous(facts, draft)
    return lines


def _prose(draft: Draft, facts: TenderFacts, writing: Writing) -> list[str]:
    who = facts.procuring_entity or "산림청"
    method = f"{facts.contract_method}입찰에 부치고자" if facts.contract_method else "입찰에 부치고자"
    lines = [f"{who} 공고 제{facts.notice_no}호", draft.title, f"다음과 같이 {method} 공고합니다."]
    lines.append("1. 입찰에 부치는 사항")
    lines.append(f"  가. 건 명: {draft.subject}")
    if facts.amount is not None:
        lines.append(f"  나. {_label(facts, draft)}: {_amount_text(facts, writing)}")
    lines.append(f"2. 입찰참가자격: {_qualification(facts)}")
    lines.append("3. 입찰 방법: 국가종합전자조달시스템(나라장터)을 이용한 전자입찰")
    lines.append(f"4. 입찰서 제출 마감: {_when(facts.closes_at, writing)}까지")
    lines += _question(facts, writing)
    if facts.opens_at:
        lines.append(f"5. 개찰 일시 및 장소: {_when(facts.opens_at, writing)}, 입찰집행관 PC")
    if writing.previous_trap:
        lines += _previous(facts, draft)
    lines += ["", f"{draft.post_date.year}. {draft.post_date.month}. {draft.post_date.day}.", f"{who}장"]
    return lines


def _correction(before: TenderFacts, after: TenderFacts, writing: Writing) -> list[str]:
    lines = ["[정정공고]", "1. 정정사유: 입찰 일정 변경", "2. 정정내용", "구분\t정정 전\t정정 후"]
    if before.closes_at != after.closes_at:
        lines.append(f"입찰서 제출 마감\t{_when(before.closes_at, writing)}\t{_when(after.closes_at, writing)}")
    if before.opens_at and before.opens_at != after.opens_at:
        lines.append(f"개찰일시\t{_when(before.opens_at, writing)}\t{_when(after.opens_at, writing)}")
    lines.append("3. 그 밖의 사항은 당초 공고와 같습니다.")
    return lines


def corrected(facts: TenderFacts, days: int) -> TenderFacts:
    """The facts after a 정정공고 moving the deadline (and the opening) by `days`."""
    shift = dt.timedelta(days=days)
    return replace(
        facts,
        closes_at=facts.closes_at + shift if facts.closes_at else None,
        opens_at=facts.opens_at + shift if facts.opens_at else None,
    )
