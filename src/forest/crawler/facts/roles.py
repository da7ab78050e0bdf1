"""The labels that make a date the deadline or the opening and an amount a price or a budget; its zone and VAT."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from forest.crawler.facts.model import AmountKind, Evidence
from forest.crawler.facts.when import When

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


def _last_key(segment: str, keys: Sequence[str]) -> tuple[int, str] | None:
    """The key of `keys` occurring last in the normalised segment, with its position there."""
    best: tuple[int, str] | None = None
    for key in keys:
        pos = segment.rfind(key)
        if pos >= 0 and (best is None or pos > best[0]):
            best = (pos, key)
    return best


# --- dates -------------------------------------------------------------------------------------------------------
def date_role(seg: str) -> tuple[str, int] | None:
    """`closes` or `opens` when the normalised segment labels a date so, with where the label starts."""
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


def to_utc(text: str, w: When, tz: str) -> dt.datetime:
    """The date in UTC: read in the zone written after it, else in the board's zone `tz`."""
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
def amount_role(seg: str) -> tuple[str, int] | None:
    """The amount kind the normalised segment labels (not a deposit, fee or the VAT itself), with where it starts."""
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


def find_vat(text: str, start: int, end: int) -> tuple[bool, Evidence] | None:
    """Whether the amount between `start` and `end` includes VAT, when the text says so there."""
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
