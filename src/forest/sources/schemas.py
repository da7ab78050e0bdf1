"""Source schemas: what the API accepts and returns for a crawl source."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forest.crawler.decode import normalise_encoding
from forest.crawler.definition import SourceDefinition
from forest.crawler.presets import PRESETS
from forest.crawler.selectors import validate_selectors
from forest.pagination import ListQuery
from forest.sources import schedules

# Fields that exist on every source: PATCH may change them but never set them to null.
_REQUIRED_ON_PATCH = ("name", "start_url", "max_pages", "timezone", "enabled", "polite")


def _check_preset(value: str | None) -> str | None:
    if value is not None and value not in PRESETS:
        raise ValueError(f"unknown preset {value!r}; choose one of {', '.join(sorted(PRESETS))}")
    return value


def _check_selectors(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    return validate_selectors(value)  # SelectorError is a ValueError: pydantic reports it as a field error


def _check_encoding(value: str | None) -> str | None:
    if value is None:
        return None
    if normalise_encoding(value, where="encoding") is None:  # NotTextEncoding is a ValueError: a field error
        raise ValueError(f"unknown encoding {value!r}")
    return value


def _check_schedule(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    if not schedules.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression (e.g. '0 9 * * 1-5')")
    return value


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Asia/Seoul')") from exc
    return value


def stored_definition(definition: SourceDefinition) -> dict[str, Any]:
    """A definition as stored and shown: only the keys that differ from the defaults."""
    return definition.model_dump(mode="json", exclude_defaults=True)


class _SourceFields(BaseModel):
    """Checks shared by create and update."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("preset", check_fields=False)
    @classmethod
    def _valid_preset(cls, value: str | None) -> str | None:
        return _check_preset(value)

    @field_validator("selectors", check_fields=False)
    @classmethod
    def _valid_selectors(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _check_selectors(value)

    @field_validator("encoding", check_fields=False)
    @classmethod
    def _valid_encoding(cls, value: str | None) -> str | None:
        return _check_encoding(value)

    @field_validator("schedule", check_fields=False)
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        return _check_schedule(value)

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _valid_timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)


class SourceCreate(_SourceFields):
    """A new source. Without `preset` or `selectors` the layout is detected on the first page."""

    name: str = Field(min_length=1, max_length=200)
    start_url: str = Field(min_length=1, max_length=2048, description="The board's first list page (http/https).")
    preset: str | None = Field(default=None, description="A built-in layout, e.g. `egov_board`.")
    selectors: dict[str, str] | None = Field(
        default=None, description="CSS selectors of a custom board; they win over `preset` when both are set.")
    definition: SourceDefinition | None = Field(
        default=None, description="How the board is paged and read (form POST, JSON lists, sessions, frames); "
        "wins over `selectors` and `preset`. See `GET /sources/presets` for definitions to copy.")
    encoding: str | None = Field(default=None, max_length=50, description="Override the detected charset.")
    max_pages: int = Field(default=50, ge=1, le=1000)
    schedule: str | None = Field(default=None, max_length=100, description="Cron expression in `timezone`.")
    timezone: str = Field(default="Asia/Seoul", max_length=64)
    enabled: bool = True
    polite: bool = True
    delay_seconds: float | None = Field(default=None, ge=0, le=60)


class SourceUpdate(_SourceFields):
    """A partial update: only the fields sent change; `null` clears an optional field."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    start_url: str | None = Field(default=None, min_length=1, max_length=2048)
    preset: str | None = None
    selectors: dict[str, str] | None = None
    definition: SourceDefinition | None = None
    encoding: str | None = Field(default=None, max_length=50)
    max_pages: int | None = Field(default=None, ge=1, le=1000)
    schedule: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    enabled: bool | None = None
    polite: bool | None = None
    delay_seconds: float | None = Field(default=None, ge=0, le=60)

    @model_validator(mode="after")
    def _no_null_for_required(self) -> SourceUpdate:
        nulled = [name for name in _REQUIRED_ON_PATCH if name in self.model_fields_set and getattr(self, name) is None]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, with their new values (a definition as its JSON)."""
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        if self.definition is not None:
            changes["definition"] = stored_definition(self.definition)
        return changes


class SourceRead(BaseModel):
    """A source as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    start_url: str
    preset: str | None
    selectors: dict[str, str] | None
    definition: dict[str, Any] | None = None
    encoding: str | None
    max_pages: int
    schedule: str | None
    timezone: str
    enabled: bool
    polite: bool
    delay_seconds: float | None
    last_crawled_at: dt.datetime | None
    next_run_at: dt.datetime | None
    owner_id: int | None = Field(
        description="The user whose ad-hoc crawl created this source (only they and admins see it); null: shared.")


class SourceFilters(BaseModel):
    """The filters of GET /sources."""

    enabled: bool | None = Field(None, description="Only enabled (`true`) or disabled (`false`) sources.")


class SourceListQuery(ListQuery, SourceFilters):
    """The query string of `GET /sources`: page parameters plus the source filters, validated in one pass."""

    def filters(self) -> SourceFilters:
        """The filter part (already validated)."""
        return SourceFilters.model_construct(enabled=self.enabled)


class SourcePreviewIn(_SourceFields):
    """A board to preview: its URL and, optionally, how to read it (else the layout is detected)."""

    start_url: str = Field(min_length=1, max_length=2048, description="The board's first list page (http/https).")
    definition: SourceDefinition | None = Field(default=None, description="How to read the board, as for a source.")
    selectors: dict[str, str] | None = None
    preset: str | None = None
    encoding: str | None = Field(default=None, max_length=50)


class PreviewRow(BaseModel):
    """One row of the first page as it would be stored (list fields only: no detail page is fetched)."""

    external_id: str
    title: str
    department: str
    post_date: dt.date
    views: int
    url: str
    pinned: bool


class PreviewRowError(BaseModel):
    """A row the definition could not read, and a piece of its markup."""

    reason: str
    snippet: str


class PreviewRequest(BaseModel):
    """The request that fetches the next list page."""

    method: str
    url: str
    form: dict[str, str]


class SourcePreview(BaseModel):
    """What a crawl would make of the board's first page; nothing is saved."""

    ok: bool
    detected: bool = Field(description="True when the definition was detected rather than given.")
    definition: dict[str, Any] | None = Field(description="The definition used: copy it into a source and edit.")
    rows: list[PreviewRow]
    row_errors: list[PreviewRowError]
    next_page: PreviewRequest | None
    last_page: int | None
    errors: list[str]


class PresetRead(BaseModel):
    """A built-in layout as a definition to copy."""

    name: str
    description: str
    definition: dict[str, Any]


class NoticeSample(BaseModel):
    """One notice parsed from a source's first page."""

    external_id: str
    title: str
    department: str
    post_date: dt.date
    views: int
    url: str


class SourceValidation(BaseModel):
    """The result of test-parsing a source's first page."""

    ok: bool
    notices_found: int
    sample: list[NoticeSample]
    errors: list[str]
