"""Where crawled notices go: the protocol the engine writes through, and its result types."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from forest.crawler.parse import Notice


@dataclass(frozen=True, slots=True)
class KnownNotice:
    """What the store already holds for a notice: enough to tell an edit from a views tick."""

    content_hash: str
    post_date: dt.date
    views: int
    title: str
    department: str


@dataclass(slots=True)
class UpsertResult:
    """What one batch changed; `new_ids`/`updated_ids` are the stored rows' ids, in the same order."""

    new: list[Notice] = field(default_factory=list)
    updated: list[Notice] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)
    updated_ids: list[int] = field(default_factory=list)


class NoticeStore(Protocol):
    """The notices of one source."""

    async def known(self, external_ids: Sequence[str]) -> Mapping[str, KnownNotice]:
        """The stored state of those of `external_ids` that are stored."""
        ...

    async def newest_post_date(self) -> dt.date | None:
        """The newest stored post date, None when nothing is stored."""
        ...

    async def upsert(self, notices: Sequence[Notice], *, views: Mapping[str, int] | None = None) -> UpsertResult:
        """Insert or update `notices` and refresh `views` (external id → count) of rows not re-fetched.

        A notice counts as updated only when its content_hash changed; views never count.
        """
        ...
