"""The live demo board: its notices and list pages, edits, view growth and request counters (faults: `faults`)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, replace
from typing import Any

from forest.demo_site.faults import FaultSwitches
from forest.demo_site.notices import (
    ANCHOR_DATE,
    DEPARTMENTS,
    FIRST_ID,
    Attachment,
    Notice,
    generate_notices,
    make_notice,
    next_weekday,
)
from forest.demo_site.writing import corrected, write

PER_PAGE = 10
DEFAULT_ROBOTS_TXT = "User-agent: *\nDisallow: /private/\n"
# Edits touch only recent notices, which is where real agencies post corrections.
EDIT_WINDOW = 30
_CORRECTION = " (정정)"


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


class Board(FaultSwitches):
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
            self._faults = {}
            self._redirect_passes = Counter()
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
                    post_date = next_weekday(post_date)
                ntt_id += self._ops_rng.randint(1, 29)
                while ntt_id in taken:
                    ntt_id += 1
                taken.add(ntt_id)
                notice = make_notice(
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
