"""A notice body's lines, and the label each date or amount on them stands under.

How a date or an amount is labelled: its *segment* is the text before it on its line (from the line start or from the
previous value on that line). A label in the segment decides; a value with no label of its own takes the label of the
value before it on the line ('2026. 11. 25. 09:00 ~ 2026. 12. 3. 10:00', correction tables 'key<TAB>old<TAB>new'), or
of the line above when it stands alone under a heading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_OLD_MARKS = ("정정전", "변경전", "당초", "종전", "기존", "유찰", "前", "previous", "original", "earlier", "formerly")
# Section headings of a correction written as two blocks: '1. 정정 전' ... '2. 정정 후' (normalised form).
_OLD_HEADING = re.compile(r"(?:\d+|[가-하])?(?:(?:정정|변경)전|당초)(?:공고)?(?:내용|사항)?|before|original")
_NEW_HEADING = re.compile(r"(?:\d+|[가-하])?(?:정정|변경)후(?:공고)?(?:내용|사항)?|after|revised|amended")
_NORMALISE = re.compile(r"[\s()\[\]<>{}·ㆍ・,._\-:：/]+")


def norm(s: str) -> str:
    """A label as compared: spaces, brackets and punctuation removed, lower-cased."""
    return _NORMALISE.sub("", s).lower()


@dataclass(frozen=True, slots=True)
class Line:
    """Where one line of the body starts and ends (offsets into the text, the newline left out)."""

    start: int
    end: int


def split_lines(text: str) -> list[Line]:
    """The body's lines, in order."""
    out, pos = [], 0
    for part in text.split("\n"):
        out.append(Line(pos, pos + len(part)))
        pos += len(part) + 1
    return out


def line_index(lines: list[Line], offset: int) -> int:
    """The index of the line holding `offset`."""
    lo, hi = 0, len(lines) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if lines[mid].start <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True, slots=True)
class Candidate:
    """A value on a line that a label gives a role (`closes`, a kind of amount ...); `old` when marked as replaced."""

    role: str
    line: int
    start: int
    end: int
    old: bool
    label_start: int
    payload: object


def classify_values(
    text: str,
    lines: list[Line],
    spans: Sequence[tuple[int, int, object]],
    classify: Callable[[str], tuple[str, int] | None],
    has_value: Callable[[str], bool],
) -> list[Candidate]:
    """Label each value by its segment, the value before it on the line, or a heading line above."""
    out: list[Candidate] = []
    section_old = False
    prev_line = -1
    role_on_line: tuple[str, int] | None = None
    seg_start = 0
    heading_scan = 0
    for start, end, payload in spans:
        li = line_index(lines, start)
        line = lines[li]
        while heading_scan < li:  # headings between values: '1. 정정 전' ... '2. 정정 후'
            h = norm(text[lines[heading_scan].start : lines[heading_scan].end])
            if _OLD_HEADING.fullmatch(h):
                section_old = True
            elif _NEW_HEADING.fullmatch(h):
                section_old = False
            heading_scan += 1
        if li != prev_line:
            prev_line, role_on_line, seg_start = li, None, line.start
        segment = text[seg_start:start]
        found = classify(norm(segment))
        label_start = seg_start
        if found is not None:
            label_start = seg_start + _raw_offset(segment, found[1])
            role_on_line = (found[0], label_start)
            role: str | None = found[0]
        elif role_on_line is not None:
            role, label_start = role_on_line
        elif not norm(segment) and li > 0:
            above = lines[li - 1]
            above_text = text[above.start : above.end]
            head = classify(norm(above_text)) if not has_value(above_text) and len(above_text) < 60 else None
            role = head[0] if head else None
            if head:
                label_start = above.start + _raw_offset(above_text, head[1])
        else:
            role = None
        after = text[end : min(line.end, end + 40)]
        next_val = after.find("\n")
        after = after if next_val < 0 else after[:next_val]
        # After the value, only words outside a bracket speak of it: '10:00 (당초 12. 2. 11:00)' is about the next.
        context = norm(segment) + "|" + norm(after.split("~")[0].split("(")[0][:20])
        old = section_old or any(m in context for m in _OLD_MARKS)
        if role is not None:
            out.append(Candidate(role, li, start, end, old, label_start, payload))
        seg_start = end
    return out


def _raw_offset(segment: str, norm_pos: int) -> int:
    """Map a position in norm(segment) back to an offset in segment."""
    count = 0
    for i, ch in enumerate(segment):
        if not _NORMALISE.fullmatch(ch):
            if count == norm_pos:
                return i
            count += 1
    return len(segment)


def pick(cands: list[Candidate], role: str, correction: bool, last_on_line: bool) -> Candidate | None:
    """The current value of a role: the old ones (정정 전, 당초) dropped, then one per line, then one per notice."""
    current = [c for c in cands if c.role == role and not c.old]
    if not current:
        return None
    per_line: dict[int, Candidate] = {}
    for c in current:
        if last_on_line or correction or c.line not in per_line:
            per_line[c.line] = c
    chosen = list(per_line.values())
    return chosen[-1] if correction else chosen[0]
