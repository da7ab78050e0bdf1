"""extract(): the facts of a notice body, each with its evidence span.

The body is clean text (see forest.crawler.parse.detail_text): paragraphs and table cells in reading order, key-value
rows as 'key: value' or 'key<TAB>value' lines. Every value is read next to a label that says what it is; a value
without a label is left out, so a field is None rather than a guess.
"""

from __future__ import annotations

import datetime as dt
import re

from forest.crawler.facts.model import Evidence, TenderFacts
from forest.crawler.facts.money import Money, find_money
from forest.crawler.facts.roles import KIND_ORDER, amount_role, date_role, find_vat, to_utc
from forest.crawler.facts.segments import classify_values, pick, split_lines
from forest.crawler.facts.when import When, find_whens
from forest.crawler.facts.words import read_words

_CORRECTION = re.compile(
    r"정정\s*공고|변경\s*공고|정정\s*(?:사항|내용)|corrigendum|correction notice|amended notice", re.IGNORECASE
)
_THRESHOLD_AFTER = re.compile(r"\s*(?:\([^)]*\))?\s*(?:미만|이상|이하|초과|까지의|under|or more|or less)")


def extract(text: str, *, posted_on: dt.date | None = None, tz: str = "Asia/Seoul") -> TenderFacts:
    """The facts of a notice body; a field is None where the text does not say it with a label."""
    lines = split_lines(text)
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

    date_cands = classify_values(text, lines, [(w.start, w.end, w) for w in whens], date_role, is_dated)
    for role, field_name, last in (("closes", "closes_at", True), ("opens", "opens_at", False)):
        timed = [c for c in date_cands if not (isinstance(c.payload, When) and not c.payload.has_time)]
        chosen = pick(timed, role, correction, last)
        if chosen is not None and isinstance(chosen.payload, When):
            keep(field_name, to_utc(text, chosen.payload, tz), chosen.start, chosen.end)

    # Amounts.
    def is_money(s: str) -> bool:
        return bool(find_money(s))

    money_spans = []
    for x in money:
        after = text[x.end : x.end + 16]
        if _THRESHOLD_AFTER.match(after):
            continue
        money_spans.append((x.start, x.end, x))
    amount_cands = classify_values(text, lines, money_spans, amount_role, is_money)
    for kind in KIND_ORDER:
        chosen = pick(amount_cands, kind, correction, False)
        if chosen is None or not isinstance(chosen.payload, Money):
            continue
        keep("amount", chosen.payload.value, chosen.start, chosen.end)
        keep("amount_kind", kind, chosen.label_start, _label_end(text, chosen.label_start, chosen.start))
        keep("currency", chosen.payload.currency, chosen.start, chosen.end)
        vat = find_vat(text, chosen.label_start, lines[chosen.line].end)
        if vat is not None:
            values["vat_included"], evidence["vat_included"] = vat
        break

    read_words(text, lines, keep, values)
    return TenderFacts(**values, evidence=evidence)  # type: ignore[arg-type]


def _label_end(text: str, start: int, value_start: int) -> int:
    """The label's end: before the ':' or tab that separates it from its value."""
    segment = text[start:value_start]
    m = re.search(r"\s*[:：\t]|\s+(?=금|₩|\d)", segment)
    end = start + (m.start() if m else len(segment.rstrip()))
    return max(end, start + 1)
