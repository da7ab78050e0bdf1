"""An in-memory NoticeStore for tests and benchmarks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace

from forest.crawler.parse import Notice
from forest.crawler.store import KnownNotice, UpsertResult


class MemoryStore:
    """Notices kept in a dict, with the same new/updated semantics as the database sink."""

    def __init__(self) -> None:
        self.notices: dict[str, Notice] = {}
        self.ids: dict[str, int] = {}
        self.batches = 0

    async def known(self, external_ids: Sequence[str]) -> Mapping[str, KnownNotice]:
        """The stored state of those of `external_ids` that are stored."""
        return {
            i: KnownNotice(
                content_hash=n.content_hash,
                post_date=n.post_date,
                views=n.views,
                title=n.title,
                department=n.department,
            )
            for i in external_ids
            if (n := self.notices.get(i)) is not None
        }

    async def newest_post_date(self) -> dt.date | None:
        """The newest stored post date."""
        return max((n.post_date for n in self.notices.values()), default=None)

    async def upsert(self, notices: Sequence[Notice], *, views: Mapping[str, int] | None = None) -> UpsertResult:
        """Insert or update; views refresh without counting as a change."""
        self.batches += 1
        result = UpsertResult()
        for notice in notices:
            old = self.notices.get(notice.external_id)
            self.notices[notice.external_id] = notice
            if old is None:
                bid_id = self.ids[notice.external_id] = len(self.ids) + 1
                result.new.append(notice)
                result.new_ids.append(bid_id)
            elif old.content_hash != notice.content_hash:
                result.updated.append(notice)
                result.updated_ids.append(self.ids[notice.external_id])
        for external_id, count in (views or {}).items():
            stored = self.notices.get(external_id)
            if stored is not None and stored.views != count:
                self.notices[external_id] = replace(stored, views=count)
        return result
