"""The word facts read next to their labels: notice number, contract and bid method, region, bodies, category."""

from __future__ import annotations

import re
from collections.abc import Callable

from forest.crawler.facts.model import Category, Evidence
from forest.crawler.facts.segments import Line, line_index, norm

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


def _after_label(text: str, line: Line, pos: int) -> tuple[int, str]:
    """The value part of a labelled line: after the label and its ':' or tab."""
    m = re.compile(r"[\s:：\t]*").match(text, pos, line.end)
    pos = m.end() if m else pos
    return pos, text[pos : line.end]


def _labelled_lines(text: str, lines: list[Line], label: re.Pattern[str]) -> list[tuple[Line, int]]:
    """(line holding the value, where the value may start) for each line with the label.

    A label alone on its line (a table read column by column: '공고번호' then '제2026-1270호') takes the next line.
    """
    out = []
    last_line = -1
    for m in label.finditer(text):
        i = line_index(lines, m.start())
        if i == last_line:
            continue  # the first label on a line speaks for it
        last_line = i
        line = lines[i]
        if not text[m.end() : line.end].strip(" \t:：") and i + 1 < len(lines):
            out.append((lines[i + 1], lines[i + 1].start))
        else:
            out.append((line, m.end()))
    return out


def _entity(text: str, lines: list[Line], label: re.Pattern[str]) -> tuple[str, Evidence] | None:
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


def read_words(
    text: str, lines: list[Line], keep: Callable[[str, object, int, int], None], values: dict[str, object]
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
            first = lines[0] if lines else Line(0, 0)
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
            keep("category", _CATEGORY_NAMES[norm(named["n"])], named.start("n"), named.end("n"))
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
