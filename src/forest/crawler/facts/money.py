"""Amounts with their currency and span: Korean won in every form boards use, and £/€/$ amounts.

Won amounts ('금1,474,567,273원', '금일십사억칠천사백오십육만칠천이백칠십삼원', '14억 7,456만 7,273원', '1.47억원',
'₩1,474,567,273') are read by the project's own numerals module; other currencies by price-parser, which knows
their separators ('€1.200.000,50').
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from price_parser import Price

from forest.crawler.facts.numerals import korean_amount

_GROUP = r"[\d일이삼사오육칠팔구십백천][\d,.일이삼사오육칠팔구십백천]*"
# Spaces are allowed only after a big unit ('14억 7,456만 7,273원'), so '2 원' in prose is not glued to a number.
_KNUM = rf"(?:(?:{_GROUP})?[조억만]\s*)*(?:{_GROUP})?"
KOREAN_MONEY = re.compile(
    r"(?P<mark>(?<![가-힣])금\s*)?(?:(?P<sign>[₩￦\\])\s*(?P<signed>\d[\d,]*)(?:\s*원)?"
    rf"|(?:(?<=금)|(?<=금\s)|(?<![가-힣]))(?P<num>{_KNUM})\s*원(?![가인칙본장래문활격천]))"
)
_FOREIGN_NUMBER = r"\d[\d,. ]*\d|\d"
FOREIGN_MONEY = re.compile(
    rf"(?P<cur>US\$|£|€|\$|GBP|EUR|USD)\s?(?P<num>{_FOREIGN_NUMBER})(?:\s*(?P<mult>million|m|bn|billion|k)\b)?"
    rf"|(?P<num2>{_FOREIGN_NUMBER})(?:\s*(?P<mult2>million|m|bn|billion|k)\b)?\s*(?P<cur2>GBP|EUR|USD|pounds|euros)\b",
    re.IGNORECASE,
)
_CURRENCY = {
    "£": "GBP",
    "€": "EUR",
    "$": "USD",
    "us$": "USD",
    "gbp": "GBP",
    "eur": "EUR",
    "usd": "USD",
    "pounds": "GBP",
    "euros": "EUR",
}
_MULTIPLIER = {"k": 10**3, "m": 10**6, "million": 10**6, "bn": 10**9, "billion": 10**9}


@dataclass(frozen=True, slots=True)
class Money:
    """An amount found at text[start:end]."""

    start: int
    end: int
    value: Decimal
    currency: str


def _korean(m: re.Match[str]) -> Money | None:
    raw = m["signed"] if m["sign"] else m["num"]
    if not raw or not raw.strip():
        return None
    if m["num"] and not m["mark"] and not any(c.isdigit() for c in raw) and len(raw.strip()) < 3:
        return None  # '이원', '사원' are words; a 한글 numeral amount without 금 must be longer than that
    value = korean_amount(raw.strip())
    if value is None or value <= 0:
        return None
    return Money(m.start(), m.end(), value, "KRW")


def _foreign(m: re.Match[str]) -> Money | None:
    cur, num, mult = (m["cur"], m["num"], m["mult"]) if m["cur"] else (m["cur2"], m["num2"], m["mult2"])
    price = Price.fromstring(num.strip())
    if price.amount is None or price.amount <= 0:
        return None
    value = price.amount * _MULTIPLIER[mult.lower()] if mult else price.amount
    if value != value.to_integral_value() and value.as_tuple().exponent < -2:  # type: ignore[operator]
        return None
    if value == value.to_integral_value():
        value = value.quantize(Decimal(1))
    return Money(m.start(), m.end(), value, _CURRENCY[cur.lower()])


def find_money(text: str) -> list[Money]:
    """Every amount in `text`, in order."""
    found = [x for m in KOREAN_MONEY.finditer(text) if (x := _korean(m)) is not None]
    if "£" in text or "€" in text or "$" in text or re.search(r"GBP|EUR|USD|pounds|euros", text, re.IGNORECASE):
        found += [x for m in FOREIGN_MONEY.finditer(text) if (x := _foreign(m)) is not None]
    found.sort(key=lambda x: x.start)
    return found
