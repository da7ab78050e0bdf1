"""Sources: the only code that reads or writes the source table."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from forest.config import Settings
from forest.crawler.egress import EgressPolicy
from forest.crawler.egress import UrlNotAllowed as EgressRefused
from forest.crawler.engine import crawl
from forest.crawler.memory import MemoryStore
from forest.crawler.presets.definitions import PRESET_DEFINITIONS, PRESET_DESCRIPTIONS
from forest.database import Database, utcnow
from forest.errors import Conflict, Forbidden, NotFound, UrlNotAllowed, ValidationFailed
from forest.pagination import (
    API_PREFIX,
    CursorSigner,
    Keyset,
    ListSelect,
    PageResult,
    SortKey,
    columns_of,
    paginate,
)
from forest.sources import schedules, urls
from forest.sources.crawling import validation_config
from forest.sources.models import Source
from forest.sources.schemas import (
    NoticeSample,
    PresetRead,
    PreviewRequest,
    PreviewRow,
    PreviewRowError,
    SourceCreate,
    SourceFilters,
    SourceListQuery,
    SourcePreview,
    SourcePreviewIn,
    SourceRead,
    SourceUpdate,
    SourceValidation,
    stored_definition,
)
from forest.users.models import User

DEMO_SOURCE_NAME = "산림청 입찰공고 (demo board)"
VALIDATE_SAMPLE_SIZE = 3


def shared_or_owned_by(viewer: int | ColumnElement[int]) -> ColumnElement[bool]:
    """The WHERE clause over `Source` of the sources a normal user may see: the shared ones (no owner) and
    their own ad-hoc ones. `viewer` is the user's id, or a bind parameter / column standing for it.

    The one home of the tenancy rule: sources, their bids and alert matching all read it from here.
    """
    return or_(Source.owner_id.is_(None), Source.owner_id == viewer)


def visible_to(user: User) -> ColumnElement[bool] | None:
    """The WHERE clause over `Source` of the sources `user` may see (None: an admin sees all)."""
    return None if user.is_admin else shared_or_owned_by(user.id)


def visible_source_ids(user: User, viewer: ColumnElement[int] | None = None) -> Select[tuple[int]] | None:
    """The ids of the sources `user` may see, as a subquery (None: an admin sees all); `viewer` stands
    for the user's id when the statement is compiled once for every user."""
    if user.is_admin:
        return None
    return select(Source.id).where(shared_or_owned_by(user.id if viewer is None else viewer))


def can_see(user: User, source: Source) -> bool:
    """Whether `user` may see `source` (the same rule as `visible_to`)."""
    return user.is_admin or source.owner_id is None or source.owner_id == user.id


async def get(*, session: AsyncSession, source_id: int) -> Source | None:
    """A source by id."""
    return await session.get(Source, source_id)


async def get_or_raise(*, session: AsyncSession, source_id: int, user: User | None = None) -> Source:
    """A source by id, or NotFound; with `user`, also NotFound when it is another user's ad-hoc source."""
    source = await get(session=session, source_id=source_id)
    if source is None or (user is not None and not can_see(user, source)):
        raise NotFound(f"Source {source_id} does not exist.")
    return source


def _adhoc_name(owner_id: int | None, normalised: str, url_key: str) -> str:
    # Names are unique across all sources: the owner keeps two users' sources of one URL apart, and a
    # URL too long for the column ends in a prefix of its key instead.
    name = f"url:{normalised}" if owner_id is None else f"url:u{owner_id}:{normalised}"
    return name if len(name) <= 200 else f"{name[:187]}#{url_key[:12]}"


def _adhoc_query(owner_id: int | None, url_key: str) -> Select[tuple[Source]]:
    owner = Source.owner_id.is_(None) if owner_id is None else Source.owner_id == owner_id
    return select(Source).where(owner, Source.url_key == url_key)


async def for_url(*, session: AsyncSession, url: str, max_pages: int, owner_id: int | None) -> Source:
    """The ad-hoc source of a bare-URL crawl, keyed by the normalised full URL (query string included) and
    owned by `owner_id` (None: shared, for admins and the CLI); created on first use, its `max_pages`
    follows the latest request."""
    normalised = urls.normalise(url)
    url_key = urls.key(normalised)
    source = await session.scalar(_adhoc_query(owner_id, url_key))
    if source is None:
        source = Source(name=_adhoc_name(owner_id, normalised, url_key), start_url=url, max_pages=max_pages,
                        enabled=True, created_at=utcnow(), timezone="Asia/Seoul", polite=True, owner_id=owner_id,
                        url_key=url_key)
        session.add(source)
        try:
            await session.flush()
        except IntegrityError:  # a concurrent request of the same owner created it first
            await session.rollback()
            found = await session.scalar(_adhoc_query(owner_id, url_key))
            assert found is not None
            source = found
    source.max_pages = max_pages
    return source


def adhoc_owner(user: User) -> int | None:
    """Who owns the ad-hoc sources `user` creates: the user, or nobody (shared) for an admin."""
    return None if user.is_admin else user.id


def check_crawlable(user: User, source: Source) -> None:
    """Raise Forbidden when a normal user asks for a crawl of a disabled source."""
    if not source.enabled and not user.is_admin:
        raise Forbidden(f"Source {source.id} is disabled; only an admin can crawl it.")


async def crawl_target(*, session: AsyncSession, settings: Settings, user: User, source_id: int | None,
                       url: str | None, max_pages: int | None) -> tuple[Source, str, int]:
    """What a crawl request of `user` crawls: the source (a known one, or the ad-hoc source of a bare URL
    checked against the egress policy), the URL to start from, and how many list pages at most."""
    if source_id is not None:
        source = await get_or_raise(session=session, source_id=source_id, user=user)
        check_crawlable(user, source)
        url, pages = source.start_url, max_pages or source.max_pages
        if not user.is_admin:  # a source's own limit binds everyone but admins
            pages = min(pages, source.max_pages)
    else:
        assert url is not None
        try:
            await EgressPolicy(settings.crawl_allow_hosts).check_url(url)
        except EgressRefused as exc:
            raise UrlNotAllowed(f"This URL may not be crawled: {exc.reason}.") from exc
        pages = min(max_pages or 10, settings.crawl_max_pages_limit)
        source = await for_url(session=session, url=url, max_pages=pages, owner_id=adhoc_owner(user))
        check_crawlable(user, source)
    return source, url, min(pages, settings.crawl_max_pages_limit)


async def ensure_demo_source(*, session: AsyncSession, base_url: str) -> Source:
    """The default source of `make run`: the local demo bid board."""
    source = await session.scalar(select(Source).where(Source.name == DEMO_SOURCE_NAME))
    if source is None:
        source = Source(name=DEMO_SOURCE_NAME, start_url=f"{base_url}/kfs/bid/list.do", preset="demo_board",
                        max_pages=50, schedule=None, timezone="Asia/Seoul", polite=True, delay_seconds=0.2,
                        enabled=True, created_at=utcnow())
        session.add(source)
        await session.commit()
    return source


SOURCE_KEYSET = Keyset(endpoint=f"{API_PREFIX}/sources", id_column=Source.id, id_kind="int",
                       sorts={"id": SortKey(Source.id, "int"), "name": SortKey(Source.name, "str")},
                       default="id", allowed=("id", "-id", "name"))


def _list_select(admin: bool, enabled: bool | None) -> Select[Any]:
    stmt = select(*columns_of(Source, SourceRead))
    if not admin:
        stmt = stmt.where(shared_or_owned_by(bindparam("viewer", type_=BigInteger)))
    if enabled is not None:
        stmt = stmt.where(Source.enabled.is_(enabled))
    return stmt


def list_query(*, user: User, filters: SourceFilters) -> ListSelect:
    """The sources `user` may see that match the list filters: the columns `SourceRead` shows."""
    return ListSelect(_list_select, (user.is_admin, filters.enabled), {} if user.is_admin else {"viewer": user.id})


async def list(*, db: Database, user: User, query: SourceListQuery, signer: CursorSigner,
               count_timeout_ms: int = 250) -> PageResult[Any]:
    """One keyset page of the sources `user` may see (admins: all) that match the query's filters."""
    filters = query.filters()
    return await paginate(db, list_query(user=user, filters=filters), keyset=SOURCE_KEYSET,
                          params=query.page_params(), filters=filters.model_dump(), signer=signer,
                          count_timeout_ms=count_timeout_ms)


async def check_start_url(*, settings: Settings, url: str) -> None:
    """Raise UrlNotAllowed unless the egress policy lets the crawler fetch `url`."""
    try:
        await EgressPolicy(settings.crawl_allow_hosts).check_url(url)
    except EgressRefused as exc:
        raise UrlNotAllowed(f"This start_url may not be crawled: {exc.reason}.") from exc


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", errors=[{"loc": ["body", field], "field": field,
                                                             "message": message, "type": "value_error"}])


def _next_run_at(schedule: str | None, timezone: str, now: dt.datetime) -> dt.datetime | None:
    if schedule is None:
        return None
    try:
        return schedules.next_run(schedule, timezone, now)
    except Exception as exc:  # croniter gives up on expressions that never fire (e.g. 30 February)
        raise _field_error("schedule", f"{schedule!r} never fires: {exc}") from exc


async def _check_name_free(session: AsyncSession, name: str, *, source_id: int | None = None) -> None:
    stmt = select(Source.id).where(Source.name == name)
    if source_id is not None:
        stmt = stmt.where(Source.id != source_id)
    if await session.scalar(stmt.limit(1)) is not None:
        raise Conflict(f"A source named {name!r} already exists.")


async def _commit(session: AsyncSession, name: str) -> None:
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent request took the name between the check and the write
        await session.rollback()
        raise Conflict(f"A source named {name!r} already exists.") from exc


def _check_max_pages(settings: Settings, max_pages: int) -> None:
    if max_pages > settings.crawl_max_pages_limit:
        raise _field_error("max_pages", f"must be at most {settings.crawl_max_pages_limit} on this server")


async def create(*, session: AsyncSession, settings: Settings, source_in: SourceCreate) -> Source:
    """Add a source after checking its start URL against the egress policy and its name for uniqueness."""
    _check_max_pages(settings, source_in.max_pages)
    await check_start_url(settings=settings, url=source_in.start_url)
    await _check_name_free(session, source_in.name)
    now = utcnow()
    values = source_in.model_dump(exclude={"definition"})
    definition = stored_definition(source_in.definition) if source_in.definition is not None else None
    source = Source(**values, definition=definition, created_at=now,
                    next_run_at=_next_run_at(source_in.schedule, source_in.timezone, now))
    session.add(source)
    await _commit(session, source.name)
    return source


async def update(*, session: AsyncSession, settings: Settings, source_id: int, source_in: SourceUpdate) -> Source:
    """Change the fields sent; a new schedule or time zone moves `next_run_at`."""
    source = await get_or_raise(session=session, source_id=source_id)
    changes: dict[str, Any] = source_in.changes()
    if "max_pages" in changes:
        _check_max_pages(settings, changes["max_pages"])
    if "start_url" in changes and changes["start_url"] != source.start_url:
        await check_start_url(settings=settings, url=changes["start_url"])
    if "name" in changes:
        await _check_name_free(session, changes["name"], source_id=source.id)
    for name, value in changes.items():
        setattr(source, name, value)
    if "schedule" in changes or "timezone" in changes:
        source.next_run_at = _next_run_at(source.schedule, source.timezone, utcnow())
    await _commit(session, source.name)
    await session.refresh(source)
    return source


async def delete(*, session: AsyncSession, source_id: int) -> None:
    """Delete a source and, through the foreign key, its bids; its past jobs keep a null source."""
    source = await get_or_raise(session=session, source_id=source_id)
    await session.delete(source)
    await session.commit()


async def mark_crawled(*, session: AsyncSession, source_id: int) -> None:
    """Record that a crawl of the source just finished successfully (in the caller's transaction)."""
    source = await get(session=session, source_id=source_id)
    if source is not None:
        source.last_crawled_at = utcnow()


async def validate(*, settings: Settings, source: Source) -> SourceValidation:
    """Fetch and parse a source's first page without storing anything; problems become `errors`, not exceptions."""
    store = MemoryStore()
    try:
        result = await crawl(validation_config(settings, source), store)
    except Exception as exc:  # a parser bug on a strange page must still answer ok=false, not 500
        return SourceValidation(ok=False, notices_found=0, sample=[], errors=[f"{type(exc).__name__}: {exc}"])
    notices = builtins.list(store.notices.values())
    errors = builtins.list(result.errors)
    if not notices and not result.failed:
        errors.append("the first page has no notices the layout could read")
    sample = [NoticeSample(external_id=n.external_id, title=n.title, department=n.department,
                           post_date=n.post_date, views=n.views, url=n.url)
              for n in notices[:VALIDATE_SAMPLE_SIZE]]
    return SourceValidation(ok=bool(notices) and not result.failed, notices_found=len(notices), sample=sample,
                            errors=errors)


async def preview(*, settings: Settings, preview_in: SourcePreviewIn) -> SourcePreview:
    """Read a board's first page as a crawl would, without saving: rows, row errors, the definition, page 2."""
    await check_start_url(settings=settings, url=preview_in.start_url)
    given = preview_in.definition is not None or bool(preview_in.selectors) or preview_in.preset is not None
    try:
        result = await crawl(validation_config(settings, preview_in), store := MemoryStore())
    except Exception as exc:  # a parser bug on a strange page must still answer ok=false, not 500
        return SourcePreview(ok=False, detected=not given, definition=None, rows=[], row_errors=[], next_page=None,
                             last_page=None, errors=[f"{type(exc).__name__}: {exc}"])
    rows = [PreviewRow(external_id=n.external_id, title=n.title, department=n.department, post_date=n.post_date,
                       views=n.views, url=n.url, pinned=n.pinned) for n in store.notices.values()]
    # Row errors have their own list; `errors` says why the page as a whole could not be read.
    errors = [result.error] if result.failed and result.error else []
    if not rows and not errors:
        errors.append("the first page has no notices the layout could read")
    following = result.next_request
    next_page = None if following is None else PreviewRequest(
        method=following.method, url=following.url, form=dict(following.form))
    return SourcePreview(
        ok=bool(rows) and not result.failed, detected=not given, definition=result.definition, rows=rows,
        row_errors=[PreviewRowError(reason=e.reason, snippet=e.snippet) for e in result.row_errors],
        next_page=next_page, last_page=result.last_page, errors=errors)


def presets() -> builtins.list[PresetRead]:
    """The built-in layouts as definitions to copy."""
    return [PresetRead(name=name, description=PRESET_DESCRIPTIONS[name], definition=definition)
            for name, definition in PRESET_DEFINITIONS.items()]
