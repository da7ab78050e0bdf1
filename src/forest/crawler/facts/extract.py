"""extract(): the facts of a notice body, each with its evidence span.

The body is clean text (see forest.crawler.parse.detail_text): paragraphs and table cells in reading order, key-value
rows as 'key: value' or 'key<TAB>value' lines. Every value is read next to a label that says what it is; a value
without a label is left out, so a field is None rather than a guess.

How a date or an amount is labelled: its *segment* is the text before it on its line (from the line start or from the
previous value on that line). A label in the segment decides; a value with no label of its own takes the label of the
value before it on the line ('2026. 11. 25. 09:00 ~ 2026. 12. 3. 10:00', correction tables 'key<TAB>old<TAB>new'), or
of the line above when it stands alone under a heading.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from forest.crawler.facts.model import AmountKind, Category, Evidence, TenderFacts
from forest.crawler.facts.money import Money, find_money
from forest.crawler.facts.when import When, find_whens

# --- labels ------------------------------------------------------------------------------------------------------
# Labels are compared with spaces and brackets removed and lower-cased: '입찰(투찰) 마감 일시' -> '입찰투찰마감일시'.
_CLOSE_KEYS = (
    "마감",
    "제출기간",
    "투찰기간",
    "접수기간",
    "입찰기간",
    "제출기한",
    "접수기한",
    "입찰서제출",
    "제안서제출",
    "견적서제출",
    "투찰일시",
    "closing",
    "deadline",
    "closes",
    "mustbereceived",
    "receiptoftenders",
    "return",
    "submissionoftenders",
    "tendersubmission",
    "timelimitforreceipt",
)
_CLOSE_EXCLUDE = (
    "질의",
    "질문",
    "문의",
    "등록",
    "설명",
    "신청",
    "보증",
    "심사",
    "열람",
    "이의",
    "계약",
    "게시",
    "공고일",
    "clarification",
    "question",
    "quer",
    "enquir",
    "visit",
    "briefing",
    "register",
    "standstill",
    "award",
    "publication",
    "published",
    "dispatch",
)
_OPEN_KEYS = ("개찰", "개봉", "openingoftenders", "tenderopening", "openingdate", "tenderswillbeopened", "opening")
_OPEN_EXCLUDE = ("start", "hours", "published")
_KIND_KEYS: tuple[tuple[str, AmountKind], ...] = (
    ("추정가격", "estimated_price"),
    ("기초금액", "base_amount"),
    ("기초가격", "base_amount"),
    ("예정가격", "base_amount"),
    ("추정금액", "estimated_total"),
    ("배정예산", "budget"),
    ("사업예산", "budget"),
    ("소요예산", "budget"),
    ("예산액", "budget"),
    ("예산금액", "budget"),
    ("estimatedprice", "estimated_price"),
    ("estimatedvalue", "estimated_total"),
    ("contractvalue", "estimated_total"),
    ("totalvalue", "estimated_total"),
    ("estimatedtotal", "estimated_total"),
    ("budget", "budget"),
    ("value", "estimated_total"),
)
# When a notice gives several kinds, the one reported is the first of this order.
KIND_ORDER: tuple[AmountKind, ...] = ("estimated_price", "base_amount", "estimated_total", "budget")
_AMOUNT_EXCLUDE = ("보증금", "수수료", "지체상금", "하한", "deposit", "fee")
# '(부가가치세 147,456,727원 별도)' is the tax, not the price; 'excluding VAT: £120,000' is the price.
_VAT_AMOUNT = re.compile(r"(?:부가가치세|부가세|vat)액?$")
_VAT_STATE = re.compile(r"(?:excluding|including|exclusiveof|inclusiveof|excl|incl|exc|inc|ex|plus|netof)vat$")
_OLD_MARKS = ("정정전", "변경전", "당초", "종전", "기존", "유찰", "前", "previous", "original", "earlier", "formerly")
_NEW_MARKS = ("정정후", "변경후", "정정된", "변경된", "後", "revised", "amended", "new")
# Section headings of a correction written as two blocks: '1. 정정 전' ... '2. 정정 후' (normalised form).
_OLD_HEADING = re.compile(r"(?:\d+|[가-하])?(?:(?:정정|변경)전|당초)(?:공고)?(?:내용|사항)?|before|original")
_NEW_HEADING = re.compile(r"(?:\d+|[가-하])?(?:정정|변경)후(?:공고)?(?:내용|사항)?|after|revised|amended")
_CORRECTION = re.compile(
    r"정정\s*공고|변경\s*공고|정정\s*(?:사항|내용)|corrigendum|correction notice|amended notice", re.IGNORECASE
)
_THRESHOLD_AFTER = re.compile(r"\s*(?:\([^)]*\))?\s*(?:미만|이상|이하|초과|까지의|under|or more|or less)")

_NORMALISE = re.compile(r"[\s()\[\]<>{}·ㆍ・,._\-:：/]+")


def _norm(s: str) -> str:
    return _NORMALISE.sub("", s).lower()


def _last_key(segment: str, keys: Sequence[str]) -> tuple[int, str] | None:
    """The key of `keys` occurring last in the normalised segment, with its position there."""
    best: tuple[int, str] | None = None
    for key in keys:
        pos = segment.rfind(key)
        if pos >= 0 and (best is None or pos > best[0]):
            best = (pos, key)
    return best


# --- lines and segments ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Line:
    start: int
    end: int


def _lines(text: str) -> list[_Line]:
    out, pos = [], 0
    for part in text.split("\n"):
        out.append(_Line(pos, pos + len(part)))
        pos += len(part) + 1
    return out


def _line_index(lines: list[_Line], offset: int) -> int:
    lo, hi = 0, len(lines) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if lines[mid].start <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True, slots=True)
class _Candidate:
    role: str
    line: int
    start: int
    end: int
    old: bool
    label_start: int
    payload: object


def _classify_values(
    text: str,
    lines: list[_Line],
    spans: Sequence[tuple[int, int, object]],
    classify: Callable[[str], tuple[str, int] | None],
    has_value: Callable[[str], bool],
) -> list[_Candidate]:
    """Label each value by its segment, the value before it on the line, or a heading line above."""
    out: list[_Candidate] = []
    section_old = False
    prev_line = -1
    role_on_line: tuple[str, int] | None = None
    seg_start = 0
    heading_scan = 0
    for start, end, payload in spans:
        li = _line_index(lines, start)
        line = lines[li]
        while heading_scan < li:  # headings between values: '1. 정정 전' ... '2. 정정 후'
            h = _norm(text[lines[heading_scan].start : lines[heading_scan].end])
            if _OLD_HEADING.fullmatch(h):
                section_old = True
            elif _NEW_HEADING.fullmatch(h):
                section_old = False
            heading_scan += 1
        if li != prev_line:
            prev_line, role_on_line, seg_start = li, None, line.start
        segment = text[seg_start:start]
        found = classify(_norm(segment))
        label_start = seg_start
        if found is not None:
            label_start = seg_start + _raw_offset(segment, found[1])
            role_on_line = (found[0], label_start)
            role: str | None = found[0]
        elif role_on_line is not None:
            role, label_start = role_on_line
        elif not _norm(segment) and li > 0:
            above = lines[li - 1]
            above_text = text[above.start : above.end]
            head = classify(_norm(above_text)) if not has_value(above_text) and len(above_text) < 60 else None
            role = head[0] if head else None
            if head:
                label_start = above.start + _raw_offset(above_text, head[1])
        else:
            role = None
        after = text[end : min(line.end, end + 40)]
        next_val = after.find("\n")
        after = after if next_val < 0 else after[:next_val]
        # After the value, only words outside a bracket speak of it: '10:00 (당초 12. 2. 11:00)' is about the next.
        context = _norm(segment) + "|" + _norm(after.split("~")[0].split("(")[0][:20])
        old = section_old or any(m in context for m in _OLD_MARKS)
        if role is not None:
            out.append(_Candidate(role, li, start, end, old, label_start, payload))
        seg_start = end
    return out


def _raw_offset(segment: str, norm_pos: int) -> int:
    """Map a position in _norm(segment) back to an offset in segment."""
    count = 0
    for i, ch in enumerate(segment):
        if not _NORMALISE.fullmatch(ch):
            if count == norm_pos:
                return i
            count += 1
    return len(segment)


def _pick(cands: list[_Candidate], role: str, correction: bool, last_on_line: bool) -> _Candidate | None:
    """The current value of a role: the old ones (정정 전, 당초) dropped, then one per line, then one per notice."""
    current = [c for c in cands if c.role == role and not c.old]
    if not current:
        return None
    per_line: dict[int, _Candidate] = {}
    for c in current:
        if last_on_line or correction or c.line not in per_line:
            per_line[c.line] = c
    chosen = list(per_line.values())
    return chosen[-1] if correction else chosen[0]


# --- dates -------------------------------------------------------------------------------------------------------
def _date_role(seg: str) -> tuple[str, int] | None:
    close = _last_key(seg, _CLOSE_KEYS)
    opening = _last_key(seg, _OPEN_KEYS)
    if opening and (close is None or opening[0] > close[0]):
        if not any(x in seg[max(0, opening[0] - 12) :] for x in _OPEN_EXCLUDE):
            return ("opens", _key_start(seg, opening))
    if close:
        label = seg[max(0, close[0] - 14) : close[0] + len(close[1]) + 16]
        if not any(x in label for x in _CLOSE_EXCLUDE):
            return ("closes", _key_start(seg, close))
    return None


def _key_start(seg: str, found: tuple[int, str]) -> int:
    """Where the label begins: back to the start of the word run before the key (at most 10 characters)."""
    return max(0, found[0] - 10) if found[0] > 10 else 0


_ZONE_AFTER = re.compile(r"\s*\(?\s*(UK time|London time|GMT|BST|CET|CEST|Brussels time|KST|UTC)\b", re.IGNORECASE)
_ZONES = {
    "uk time": "Europe/London",
    "london time": "Europe/London",
    "cet": "Europe/Brussels",
    "cest": "Europe/Brussels",
    "brussels time": "Europe/Brussels",
    "kst": "Asia/Seoul",
    "gmt": "UTC",
    "utc": "UTC",
}


def _to_utc(text: str, w: When, tz: str) -> dt.datetime:
    zone = tz
    m = _ZONE_AFTER.match(text, w.end)
    if m:
        name = m.group(1).lower()
        if name == "bst":
            return (w.value - dt.timedelta(hours=1)).replace(tzinfo=dt.UTC)
        zone = _ZONES[name]
    local = w.value.replace(tzinfo=ZoneInfo(zone))
    return local.astimezone(dt.UTC)


# --- amounts -----------------------------------------------------------------------------------------------------
def _amount_role(seg: str) -> tuple[str, int] | None:
    found = _last_key(seg, [k for k, _ in _KIND_KEYS])
    if found is None:
        return None
    tail = seg[found[0] + len(found[1]) :]
    if any(x in tail for x in _AMOUNT_EXCLUDE) or (_VAT_AMOUNT.search(tail) and not _VAT_STATE.search(tail)):
        return None
    kind = dict(_KIND_KEYS)[found[1]]
    return (kind, _key_start(seg, found))


_VAT = re.compile(
    r"(?:VAT|부가가치세액?|부가세)\s*[:：]?\s*(?P<ko>포함|별도|제외|미포함|불포함)"
    r"|(?P<en_ex>excluding|exclusive of|excl\.?|exc\.?|ex\.?|net of|plus|\+)\s*VAT"
    r"|(?P<en_in>including|inclusive of|incl\.?|inc\.?)\s*VAT"
    r"|VAT\s*(?P<en_post>inclusive|exclusive|included|excluded)",
    re.IGNORECASE,
)


def _vat(text: str, start: int, end: int) -> tuple[bool, Evidence] | None:
    m = _VAT.search(text, start, end)
    if m is None:
        return None
    if m["ko"]:
        included = m["ko"] == "포함"
    elif m["en_post"]:
        included = m["en_post"].lower() in ("inclusive", "included")
    else:
        included = m["en_in"] is not None
    return included, Evidence(m.start(), m.end(), m.group(0))


# --- labelled words ----------------------------------------------------------------------------------------------
_CONTRACT_LABEL = re.compile(
    r"계약\s*(?:체결\s*)?방[법식]|입찰\s*방[법식]|입찰\s*형태|경쟁\s*방법|입찰\s*종류|"
    r"procedure(?: type)?\s*[:：\t]",
    re.IGNORECASE,
)
_CONTRACT_VALUE = re.compile(
    r"(?P<ko>일반|제한|지명)\s*(?:\(\s*총액\s*\)\s*)?경쟁|(?P<sui>소액\s*수의|수의\s*(?:계약|시담|견적))"
    r"|(?P<en>open|restricted|competitive procedure with negotiation|negotiated|competitive dialogue"
    r"|competitive flexible|direct award)(?:\s+(?:procedure|tender))?",
    re.IGNORECASE,
)
_CONTRACT_FREE = re.compile(
    r"(?P<ko>일반|제한|지명)\s*(?:\(\s*총액\s*\)\s*)?경쟁\s*입찰|\b(?P<en>open|restricted) procedure\b", re.IGNORECASE
)
_BID_VALUE = re.compile(
    r"(?P<e>전자\s*입찰|전자\s*투찰)|(?P<d>직접\s*입찰|현장\s*입찰)|(?P<p>우편\s*입찰)|(?P<q>전자\s*견적)"
    r"|(?P<en>submitted electronically|electronic(?:ally)?\b)",
    re.IGNORECASE,
)
# Without a label, only a sentence that says how this notice is bid counts ('나라장터를 이용한 전자입찰'), not a
# mention such as '[공지] 전자입찰 참가 시 유의사항'.
_BID_FREE = re.compile(
    r"(?:이용한|통한|의한)\s*(?P<e>전자\s*입찰)|(?P<d>직접\s*입찰)\s*(?:로|으로)\s*(?:집행|실시)|(?P<p>우편\s*입찰)\s*(?:로|으로)"
    r"|(?P<q>전자\s*견적)\s*(?:로|으로)\s*(?:집행|실시|제출)|(?P<en>submitted electronically|electronic submission)",
    re.IGNORECASE,
)
_BID_OR_CONTRACT_LABEL = re.compile(
    r"입찰\s*방[법식]|투찰\s*방[법식]|입찰\s*형태|계약\s*(?:체결\s*)?방[법식]|submission method|method of submission",
    re.IGNORECASE,
)

_REGIONS = {
    "서울특별시": ("서울특별시", "서울"),
    "부산광역시": ("부산광역시", "부산"),
    "대구광역시": ("대구광역시", "대구"),
    "인천광역시": ("인천광역시", "인천"),
    "광주광역시": ("광주광역시", "광주"),
    "대전광역시": ("대전광역시", "대전"),
    "울산광역시": ("울산광역시", "울산"),
    "세종특별자치시": ("세종특별자치시", "세종"),
    "경기도": ("경기도", "경기"),
    "강원특별자치도": ("강원특별자치도", "강원도", "강원"),
    "충청북도": ("충청북도", "충북"),
    "충청남도": ("충청남도", "충남"),
    "전북특별자치도": ("전북특별자치도", "전라북도", "전북"),
    "전라남도": ("전라남도", "전남"),
    "경상북도": ("경상북도", "경북"),
    "경상남도": ("경상남도", "경남"),
    "제주특별자치도": ("제주특별자치도", "제주도", "제주"),
}
_REGION_CANON = {alias: canon for canon, aliases in _REGIONS.items() for alias in aliases}
_REGION = re.compile(
    "(?<![가-힣])(?P<r>" + "|".join(sorted(_REGION_CANON, key=len, reverse=True)) + ")"
    r"(?:\s+(?P<sub>[가-힣]{1,4}[시군구])(?=[^가-힣]|$|에|내|의|소재|관내))?"
)
_REGION_LABEL = re.compile(r"지역\s*제한|참가\s*지역|제한\s*지역|지역\s*요건")
_REGION_NONE = re.compile(r"없음|해당\s*없음|해당사항\s*없음|전국|미적용|무제한|제한\s*없음|^\s*무\s*$|^\s*[-–]\s*$")
_REGION_SENTENCE = re.compile(r"본점|본사|주된\s*영업소|법인\s*등기")

_NOTICE_LABEL = re.compile(
    r"(?:입찰\s*)?공고\s*번호|notice[ \t]*(?:number|no\b\.?|identifier)|reference"
    r"(?:\s*(?:number|no\.?))?|\bref\.?(?=\s*[:：])",
    re.IGNORECASE,
)
_NOTICE_VALUE = re.compile(
    r"\s*[:：\t]?\s*(?:제\s*(?P<ko>[^\s호]+?)\s*호|(?P<id>\d{4}/S \d{3}-\d{6}|[A-Za-z0-9][A-Za-z0-9\-_/.]*[A-Za-z0-9]))"
)
_NOTICE_HEADLINE = re.compile(r"^(?P<who>[^\n:：\t]{2,30}?)\s*(?:재)?공고\s*제\s*(?P<no>[^\s호]+?)\s*호", re.MULTILINE)

_PROCURING_LABEL = re.compile(
    r"공고\s*기관|발주\s*기관|계약\s*기관|발주\s*처|발주\s*청|contracting (?:authority|entity|body)|name of buyer"
    r"|\bbuyer|awarding (?:authority|body)",
    re.IGNORECASE,
)
_DEMAND_LABEL = re.compile(r"수요\s*기관|수요\s*처", re.IGNORECASE)
_ENTITY_STOP = re.compile(r"[\t(,;]|\s{2,}|\s(?:수요기관|공고기관|담당|전화|연락처)|$")

_CATEGORY_LABEL = re.compile(
    r"업무\s*구분|공고\s*종류|입찰\s*구분|계약\s*구분|업무\s*분류|입찰\s*분류|공고\s*분류|"
    r"contract type|type of contract|nature of contract|category",
    re.IGNORECASE,
)
_CATEGORY_VALUE: tuple[tuple[re.Pattern[str], Category], ...] = (
    (re.compile(r"매각|공매|\bsale\b|\bdisposal\b", re.IGNORECASE), "sale"),
    (re.compile(r"용역|\bservices?\b", re.IGNORECASE), "services"),
    (re.compile(r"물품|구매|제조|\bsupplies\b|\bgoods\b|\bproducts\b", re.IGNORECASE), "goods"),
    (re.compile(r"공사|\bworks\b", re.IGNORECASE), "works"),
)
# '공사명:', '용역명:' name the subject of a works or services notice.
_CATEGORY_NAME_LABEL = re.compile(
    r"^[^\S\n]*(?:[가-하\d]{1,2}[.)]\s*)?(?P<n>공\s*사|용\s*역|물\s*품|매각\s*물건)\s*명?\s*[:：\t]", re.MULTILINE
)
_CATEGORY_NAMES: dict[str, Category] = {"공사": "works", "용역": "services", "물품": "goods", "매각물건": "sale"}
# The headline is among the first lines: after a correction table or a 공고 number line, but not deep in the body.
_HEADLINE_LINES = 10
_HEADLINE_WORKS = re.compile(
    "".join(
        f"(?<!{org})"
        for org in (
            "도로",
            "주택",
            "전력",
            "교통",
            "철도",
            "관광",
            "도시",
            "토지",
            "가스",
            "석유",
            "환경",
            "농어촌",
            "수자원",
        )
    )
    + r"공사"
    r"(?=\s*(?:\(|\[|입찰|긴급|재공고|정정|공고|수의|일반|제한|지명|시행|$))"
)


def _after_label(text: str, line: _Line, pos: int) -> tuple[int, str]:
    """The value part of a labelled line: after the label and its ':' or tab."""
    m = re.compile(r"[\s:：\t]*").match(text, pos, line.end)
    pos = m.end() if m else pos
    return pos, text[pos : line.end]


def _labelled_lines(text: str, lines: list[_Line], label: re.Pattern[str]) -> list[tuple[_Line, int]]:
    """(line holding the value, where the value may start) for each line with the label.

    A label alone on its line (a table read column by column: '공고번호' then '제2026-1270호') takes the next line.
    """
    out = []
    last_line = -1
    for m in label.finditer(text):
        i = _line_index(lines, m.start())
        if i == last_line:
            continue  # the first label on a line speaks for it
        last_line = i
        line = lines[i]
        if not text[m.end() : line.end].strip(" \t:：") and i + 1 < len(lines):
            out.append((lines[i + 1], lines[i + 1].start))
        else:
            out.append((line, m.end()))
    return out


def _entity(text: str, lines: list[_Line], label: re.Pattern[str]) -> tuple[str, Evidence] | None:
    for line, at in _labelled_lines(text, lines, label):
        pos, value = _after_label(text, line, at)
        stop = _ENTITY_STOP.search(value)
        value = value[: stop.start()] if stop else value
        value = value.strip().rstrip(".。")
        if 2 <= len(value) <= 40 and not re.search(r"\d{4}|\d+\s*원", value):
            return value, Evidence(pos, pos + len(value), value)
    return None


def _normal_contract(m: re.Match[str]) -> str:
    if m["ko"]:
        return m["ko"] + "경쟁"
    if m.groupdict().get("sui"):
        return "수의계약"
    words = m["en"].lower()
    if words == "competitive procedure with negotiation":
        return "negotiated"
    return words


def _group_span(m: re.Match[str]) -> tuple[int, int]:
    """The span of the named group that matched (the words themselves, not the phrase around them)."""
    name = next(k for k, v in m.groupdict().items() if v is not None)
    return m.span(name)


def _normal_bid(m: re.Match[str]) -> str:
    if m["e"]:
        return "전자입찰"
    if m["d"]:
        return "직접입찰"
    if m["p"]:
        return "우편입찰"
    if m["q"]:
        return "전자견적"
    return "electronic"


# --- the function ------------------------------------------------------------------------------------------------
def extract(text: str, *, posted_on: dt.date | None = None, tz: str = "Asia/Seoul") -> TenderFacts:
    """The facts of a notice body; a field is None where the text does not say it with a label."""
    lines = _lines(text)
    evidence: dict[str, Evidence] = {}
    values: dict[str, object] = {}
    correction = _CORRECTION.search(text) is not None

    def keep(name: str, value: object, start: int, end: int) -> None:
        values[name] = value
        evidence[name] = Evidence(start, end, text[start:end])

    # Dates.
    whens = find_whens(text, posted_on)
    money = find_money(text)

    def is_dated(s: str) -> bool:
        return bool(find_whens(s, posted_on))

    date_cands = _classify_values(text, lines, [(w.start, w.end, w) for w in whens], _date_role, is_dated)
    for role, field_name, last in (("closes", "closes_at", True), ("opens", "opens_at", False)):
        timed = [c for c in date_cands if not (isinstance(c.payload, When) and not c.payload.has_time)]
        chosen = _pick(timed, role, correction, last)
        if chosen is not None and isinstance(chosen.payload, When):
            keep(field_name, _to_utc(text, chosen.payload, tz), chosen.start, chosen.end)

    # Amounts.
    def is_money(s: str) -> bool:
        return bool(find_money(s))

    money_spans = []
    for x in money:
        after = text[x.end : x.end + 16]
        if _THRESHOLD_AFTER.match(after):
            continue
        money_spans.append((x.start, x.end, x))
    amount_cands = _classify_values(text, lines, money_spans, _amount_role, is_money)
    for kind in KIND_ORDER:
        chosen = _pick(amount_cands, kind, correction, False)
        if chosen is None or not isinstance(chosen.payload, Money):
            continue
        keep("amount", chosen.payload.value, chosen.start, chosen.end)
        keep("amount_kind", kind, chosen.label_start, _label_end(text, chosen.label_start, chosen.start))
        keep("currency", chosen.payload.currency, chosen.start, chosen.end)
        vat = _vat(text, chosen.label_start, lines[chosen.line].end)
        if vat is not None:
            values["vat_included"], evidence["vat_included"] = vat
        break

    _words(text, lines, keep, values)
    return TenderFacts(**values, evidence=evidence)  # type: ignore[arg-type]


def _label_end(text: str, start: int, value_start: int) -> int:
    """The label's end: before the ':' or tab that separates it from its value."""
    segment = text[start:value_start]
    m = re.search(r"\s*[:：\t]|\s+(?=금|₩|\d)", segment)
    end = start + (m.start() if m else len(segment.rstrip()))
    return max(end, start + 1)


def _words(
    text: str, lines: list[_Line], keep: Callable[[str, object, int, int], None], values: dict[str, object]
) -> None:
    """Notice number, methods, region, bodies and category: read from labelled lines, then from the headline."""
    for line, at in _labelled_lines(text, lines, _NOTICE_LABEL):
        v = _NOTICE_VALUE.match(text, at, line.end)
        if v is not None and any(c.isdigit() for c in v.group(0)):
            group = "ko" if v["ko"] else "id"
            keep("notice_no", v[group], v.start(group), v.end(group))
            break
    headline = _NOTICE_HEADLINE.search(text)
    if "notice_no" not in values and headline is not None:
        keep("notice_no", headline["no"], headline.start("no"), headline.end("no"))

    for line, at in _labelled_lines(text, lines, _CONTRACT_LABEL):
        v = _CONTRACT_VALUE.search(text, at, line.end)
        if v is not None:
            keep("contract_method", _normal_contract(v), v.start(), v.end())
            break
    if "contract_method" not in values:
        v = _CONTRACT_FREE.search(text)
        if v is None:
            first = lines[0] if lines else _Line(0, 0)
            v = re.compile(r"(?P<sui>수의\s*(?:계약|견적|시담))").search(text, first.start, first.end)
        if v is not None:
            keep(
                "contract_method", _normal_contract(v) if "sui" not in v.groupdict() else "수의계약", v.start(), v.end()
            )

    # '계약방법: 일반경쟁, 전자입찰' says both on one line.
    for line, at in _labelled_lines(text, lines, _BID_OR_CONTRACT_LABEL):
        v = _BID_VALUE.search(text, at, line.end)
        if v is not None:
            keep("bid_method", _normal_bid(v), *_group_span(v))
            break
    if "bid_method" not in values:
        v = _BID_FREE.search(text)
        if v is not None:
            keep("bid_method", _normal_bid(v), *_group_span(v))

    said_none = False
    for line, at in _labelled_lines(text, lines, _REGION_LABEL):
        pos, value = _after_label(text, line, at)
        if _REGION_NONE.search(value[:12]):
            said_none = True
            break
        r = _REGION.search(text, pos, line.end)
        if r is not None:
            keep("region_limit", _region(r), r.start(), r.end())
            break
    if "region_limit" not in values and not said_none:
        for line in lines:
            if _REGION_SENTENCE.search(text, line.start, line.end) and "소재" in text[line.start : line.end]:
                r = _REGION.search(text, line.start, line.end)
                if r is not None:
                    keep("region_limit", _region(r), r.start(), r.end())
                    break

    found = _entity(text, lines, _PROCURING_LABEL)
    if found is not None:
        keep("procuring_entity", found[0], found[1].start, found[1].end)
    elif headline is not None:
        who = headline["who"].strip()
        start = headline.start("who") + headline["who"].find(who)
        keep("procuring_entity", who, start, start + len(who))
    found = _entity(text, lines, _DEMAND_LABEL)
    if found is not None:
        keep("demand_entity", found[0], found[1].start, found[1].end)

    for line, at in _labelled_lines(text, lines, _CATEGORY_LABEL):
        pos, value = _after_label(text, line, at)
        for pattern, category in _CATEGORY_VALUE:
            c = pattern.search(value)
            if c is not None:
                keep("category", category, pos + c.start(), pos + c.end())
                break
        if "category" in values:
            break
    if "category" not in values:
        named = _CATEGORY_NAME_LABEL.search(text)
        if named is not None:
            keep("category", _CATEGORY_NAMES[_norm(named["n"])], named.start("n"), named.end("n"))
            return
    if "category" not in values:
        for line in lines[:_HEADLINE_LINES]:
            segment = text[line.start : line.end]
            if "공고" not in segment and "입찰" not in segment:
                continue
            for pattern, category in _CATEGORY_VALUE[:3]:
                c = pattern.search(segment)
                if c is not None:
                    keep("category", category, line.start + c.start(), line.start + c.end())
                    return
            w = _HEADLINE_WORKS.search(segment)
            if w is not None:
                keep("category", "works", line.start + w.start(), line.start + w.end())
                return


def _region(m: re.Match[str]) -> str:
    canon = _REGION_CANON[m["r"]]
    return f"{canon} {m['sub']}" if m["sub"] else canon


__all__ = ["KIND_ORDER", "extract"]
_ = Decimal  # amounts are Decimals from money.find_money
