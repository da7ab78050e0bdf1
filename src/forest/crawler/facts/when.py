"""Dates and times as notices write them, with their spans.

Korean forms are the project's own code ('2026. 12. 3.(목) 10:00', '2026/12/03 10:00', '2026년 12월 3일 오후 2시',
'12.3.(목) 10:00' with the year from the post date). English forms are found by a pattern that gives their span and
read by python-dateutil ('3 December 2026, 12:00', '12 noon on Thursday 3rd December 2026', 'December 3, 2026 5 PM').
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dateutil import parser as dateutil_parser

_WEEKDAY_KO = r"(?:\s*\(\s*[월화수목금토일](?:요일)?\s*\)|\s*[월화수목금토일]요일)"
_TIME_KO = (
    r"(?P<time>\s*(?P<ap>오전|오후|AM|PM|am|pm|a\.m\.|p\.m\.)?\s*"
    r"(?:(?P<noon>정오)|(?P<H>\d{1,2})\s*(?::\s*(?P<M>\d{2})(?::\d{2})?|시(?:\s*(?P<M2>\d{1,2})\s*분|\s*정각)?))"
    r"(?:\s*(?P<ap2>AM|PM|am|pm|a\.m\.|p\.m\.))?)"
)
KOREAN_WHEN = re.compile(
    r"(?:(?P<y>(?:19|20)\d{2})\s*(?:년\s*(?P<m1>\d{1,2})\s*월\s*(?P<d1>\d{1,2})\s*일"
    r"|(?P<sep>[./-])\s*(?P<m2>\d{1,2})\s*(?P=sep)\s*(?P<d2>\d{1,2})(?!\d)\.?)"
    r"|(?<![\d.,:/-])(?P<m3>\d{1,2})\s*(?:월\s*(?P<d3>\d{1,2})\s*일|[./]\s*(?P<d4>\d{1,2})(?![\d,])\.?))"
    rf"(?P<wd>{_WEEKDAY_KO})?(?:{_TIME_KO})?"
)

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY_EN = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+(?:the\s+)?)"


def _time_en(p: str) -> str:
    return (
        rf"(?:(?P<{p}h>\d{{1,2}})(?:[:.](?P<{p}m>\d{{2}}))?\s*(?P<{p}ap>a\.?m\.?|p\.?m\.?)(?![a-z])"
        rf"|(?P<{p}h2>\d{{1,2}})[:.](?P<{p}m2>\d{{2}})(?:\s*(?:hrs|hours|h)\b)?"
        rf"|(?:12(?::00)?\s*)?(?P<{p}noon>noon|midday)|(?P<{p}mid>midnight))"
    )


_DATE_EN = (
    rf"{_WEEKDAY_EN}?(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS},?\s+\d{{4}}"
    rf"|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    r"|(?<![\d/])\d{1,2}/\d{1,2}/\d{4}(?![\d/]))"
)
ENGLISH_WHEN = re.compile(
    rf"(?:(?P<pre>{_time_en('a')})\s*(?:,|on|of)?\s+)?(?P<date>{_DATE_EN})"
    rf"(?:\s*(?:,|at|by|-|–)?\s*(?P<post>{_time_en('b')}))?",
    re.IGNORECASE,
)


# Cheap test (substring search, no pattern) that a text may hold an English date, so Korean bodies skip that pattern.
_ENGLISH_HINTS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_SLASH_DATE = re.compile(r"\d/\d{4}")


def _maybe_english(text: str) -> bool:
    lower = text.lower()
    return any(m in lower for m in _ENGLISH_HINTS) or _SLASH_DATE.search(text) is not None


@dataclass(frozen=True, slots=True)
class When:
    """A date (with its time, if written) found at text[start:end]; local wall-clock time, no zone."""

    start: int
    end: int
    value: dt.datetime
    has_time: bool
    has_year: bool


def _hour(hour: int, ampm: str | None) -> int | None:
    if ampm:
        pm = ampm.lower().startswith(("p", "오후"))
        if hour > 12:
            return None
        if pm and hour != 12:
            hour += 12
        elif not pm and hour == 12:
            hour = 0
    return hour


def _korean(m: re.Match[str], reference: dt.date | None) -> When | None:
    has_year = m["y"] is not None
    if has_year:
        year, month, day = int(m["y"]), int(m["m1"] or m["m2"]), int(m["d1"] or m["d2"])
    else:
        if m["wd"] is None and m["time"] is None:
            return None  # '12.3' alone is too often a section number or a decimal
        if reference is None:
            return None  # no year and nothing to take it from: never a guess
        year, month, day = reference.year, int(m["m3"]), int(m["d3"] or m["d4"])
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    if not has_year and reference is not None and date < reference:
        try:
            date = date.replace(year=year + 1)  # a deadline written '1. 5.(화)' on a December notice is next year's
        except ValueError:
            return None
    end = m.end()
    hour = minute = 0
    has_time = m["time"] is not None
    if has_time:
        if m["noon"]:
            h: int | None = 12
        else:
            h = _hour(int(m["H"]), m["ap"] or m["ap2"])
            minute = int(m["M"] or m["M2"] or 0)
        if h is None or h > 24 or minute > 59 or (h == 24 and minute):
            has_time = False
            end = m.start("time")
        else:
            hour = h
    else:
        end = m.end("wd") if m["wd"] else m.end()
    value = dt.datetime(date.year, date.month, date.day) + dt.timedelta(hours=hour, minutes=minute)
    return When(m.start(), end, value, has_time, has_year)


def _english(m: re.Match[str]) -> When | None:
    spec = m["date"]
    time_prefix = "a" if m["pre"] else "b" if m["post"] else None
    has_time = time_prefix is not None
    if time_prefix:
        g = m.groupdict()
        if g[f"{time_prefix}noon"]:
            spec += " 12:00"
        elif g[f"{time_prefix}mid"]:
            spec += " 23:59"  # 'midnight on 3 December' is read as the end of that day, as UK notices mean it
        elif g[f"{time_prefix}h"]:
            spec += f" {g[f'{time_prefix}h']}:{g[f'{time_prefix}m'] or '00'} {g[f'{time_prefix}ap'].replace('.', '')}"
        else:
            spec += f" {g[f'{time_prefix}h2']}:{g[f'{time_prefix}m2']}"
    try:
        value = dateutil_parser.parse(spec, dayfirst=True, fuzzy=False)
    except (ValueError, OverflowError):
        return None
    start = m.start() if m["pre"] else m.start("date")
    end = m.end() if m["post"] else m.end("date")
    return When(start, end, value.replace(tzinfo=None), has_time, True)


def find_whens(text: str, reference: dt.date | None) -> list[When]:
    """Every date in `text`, in order; dates without a year take it from `reference` (the post date)."""
    found: list[When] = []
    taken: list[tuple[int, int]] = []
    last_dated: tuple[int, dt.date] | None = None  # a range's yearless end takes its start's year
    for m in KOREAN_WHEN.finditer(text):
        same_line = last_dated is not None and "\n" not in text[last_dated[0] : m.start()]
        w = _korean(m, last_dated[1] if same_line and last_dated else reference)
        if w is None:
            continue
        if w.has_year:
            last_dated = (w.end, w.value.date())
        found.append(w)
        taken.append((w.start, w.end))
    if _maybe_english(text):
        for m in ENGLISH_WHEN.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            w = _english(m)
            if w is not None:
                found.append(w)
    found.sort(key=lambda w: w.start)
    return found
