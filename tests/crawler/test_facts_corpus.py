"""A hand-written corpus of notices, Korean and English, each with the facts a reader finds in it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from forest.crawler.facts import TenderFacts, extract

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
CASES = sorted(FIXTURES.glob("*.txt"))
FIELDS = [name for name in TenderFacts.__slots__ if name != "evidence"]  # type: ignore[attr-defined]


def _load(path: Path) -> tuple[str, dt.date | None, str, dict[str, object]]:
    """Front matter ('key: value' lines up to '---'), then the notice text exactly as extract() sees it."""
    head, text = path.read_text(encoding="utf-8").split("\n---\n", 1)
    meta = dict(line.split(": ", 1) for line in head.splitlines())
    tz = meta.pop("tz", "Asia/Seoul")
    posted = meta.pop("posted_on", None)
    expected: dict[str, object] = dict.fromkeys(FIELDS)
    for key, raw in meta.items():
        assert key in expected, f"{path.name}: unknown field {key}"
        if key in ("closes_at", "opens_at"):
            local = dt.datetime.fromisoformat(raw)
            expected[key] = (local if local.tzinfo else local.replace(tzinfo=ZoneInfo(tz))).astimezone(dt.UTC)
        elif key == "amount":
            expected[key] = Decimal(raw)
        elif key == "vat_included":
            expected[key] = {"true": True, "false": False}[raw]
        else:
            expected[key] = raw
    return text, dt.date.fromisoformat(posted) if posted else None, tz, expected


def test_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 60
    texts = [_load(p)[0] for p in CASES]
    english = [t for t in texts if "Closing" in t or "closing" in t or "deadline" in t.lower()]
    assert len(english) >= 12


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_notice_extracts_exactly(path: Path) -> None:
    text, posted_on, tz, expected = _load(path)
    facts = extract(text, posted_on=posted_on, tz=tz)
    got = {name: getattr(facts, name) for name in FIELDS}
    assert got == expected
    for name, span in facts.evidence.items():
        assert text[span.start : span.end] == span.text, name
    assert set(facts.evidence) == {name for name, value in got.items() if value is not None}
    assert TenderFacts.from_json(facts.to_json()) == facts
