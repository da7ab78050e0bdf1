"""The definition language as pydantic models, checked key by key, and a selectors mapping written in it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forest.crawler.definition.fields import FieldExpr, FieldRule, check_css
from forest.crawler.definition.templates import template_names

LIST_FIELDS = ("external_id", "title", "department", "post_date", "views", "detail_link")
DETAIL_FIELDS = ("title", "department", "post_date", "views", "attachments")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestSpec(_Spec):
    """How a list or detail page is asked for."""

    method: Literal["GET", "POST"] = Field(default="GET", description="POST sends `form` url-encoded.")
    url: str | None = Field(
        default=None, max_length=2048,
        description="Template, relative to the board page; default: the board page (list) or the detail link.")
    form: dict[str, str] = Field(
        default_factory=dict, description="Fields sent with the request (query parameters for GET); templates.")
    page_field: str | None = Field(
        default=None, max_length=100, description="The form field (or query parameter) that carries the page number.")

    @field_validator("url")
    @classmethod
    def _url_template(cls, value: str | None) -> str | None:
        if value is not None:
            template_names(value)
        return value

    @field_validator("form")
    @classmethod
    def _form_templates(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 50:
            raise ValueError("at most 50 form fields")
        for name, template in value.items():
            if not name or len(name) > 100:
                raise ValueError(f"form field name {name!r} must be 1..100 characters")
            template_names(template)
        return value

    def placeholders(self) -> set[str]:
        """Every placeholder its templates use."""
        names = template_names(self.url or "")
        for template in self.form.values():
            names |= template_names(template)
        return names


class ListSpec(_Spec):
    """How list pages are asked for and read."""

    format: Literal["html", "json"] = Field(default="html", description="`json` for boards that list by XHR.")
    request: RequestSpec | None = Field(
        default=None, description="How page N is asked for; without it page 1 is the board page, then `next`.")
    rows: str = Field(min_length=1, max_length=500, description="CSS of one row, or JMESPath of the row array.")
    fields: dict[str, str] = Field(description="Field name → expression; `title` and `post_date` are required.")
    pinned: str | None = Field(
        default=None, max_length=500,
        description="A row is pinned when this CSS matches it or inside it (JSON: a JMESPath that is true).")
    next: str | None = Field(
        default=None, max_length=500,
        description="CSS of the next-page link (its href, or a page number in its JavaScript); default: the pager.")
    last_page: str | None = Field(
        default=None, max_length=500, description="Expression of the last page number (e.g. JMESPath into paging).")
    end_text: str | None = Field(
        default=None, max_length=200, description="Text the board shows past its last page (no rows).")

    @model_validator(mode="after")
    def _check(self) -> ListSpec:
        json = self.format == "json"
        if json:
            FieldExpr.parse(self.rows, json=True)
        else:
            check_css(self.rows)
        for required in ("title", "post_date"):
            if not self.fields.get(required):
                raise ValueError(f"fields.{required} is required")
        if len(self.fields) > 30:
            raise ValueError("at most 30 fields")
        for name, spec in self.fields.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"fields: {name!r} is not a field name (lowercase letters, digits, _)")
            try:
                FieldRule.parse(spec, json=json)
            except ValueError as exc:
                raise ValueError(f"fields.{name}: {exc}") from exc
        for key in ("pinned", "last_page"):
            spec = getattr(self, key)
            if spec:
                try:
                    FieldRule.parse(spec, json=json) if key == "last_page" or json else check_css(spec)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from exc
        if self.next:
            if json:
                raise ValueError("next: a JSON list pages by `request.page_field`; use `last_page` to end it")
            try:
                FieldExpr.parse(self.next, json=False)
            except ValueError as exc:
                raise ValueError(f"next: {exc}") from exc
        if self.request is not None:
            unknown = self.request.placeholders() - {"page"}
            if unknown:
                raise ValueError(f"request: list templates may only use {{page}}, not {sorted(unknown)}")
        if json and (self.request is None or (self.request.page_field is None and "page" not in
                                              self.request.placeholders())):
            raise ValueError("request: a JSON list needs a request with `page_field` or a {page} placeholder")
        return self


class DetailSpec(_Spec):
    """How a notice's detail page is asked for and read."""

    request: RequestSpec | None = Field(
        default=None, description="Default: GET the row's `detail_link`. Templates take {id} and list fields.")
    fields: dict[str, str] = Field(
        default_factory=dict, description="title, department, post_date, views, attachments (CSS of the links).")
    attachment_url: str | None = Field(
        default=None, max_length=2048,
        description="URL template for script links, e.g. `/cmm/fms/FileDown.do?atchFileId={0}&fileSn={1}`.")

    @model_validator(mode="after")
    def _check(self) -> DetailSpec:
        unknown = sorted(set(self.fields) - set(DETAIL_FIELDS))
        if unknown:
            raise ValueError(f"fields: unknown detail fields {unknown}; known: {', '.join(DETAIL_FIELDS)}")
        for name, spec in self.fields.items():
            try:
                FieldRule.parse(spec, json=False)
            except ValueError as exc:
                raise ValueError(f"fields.{name}: {exc}") from exc
        if self.attachment_url is not None:
            template_names(self.attachment_url)
        return self


class SessionSpec(_Spec):
    """The board's session: cookies are kept per crawl, never shared between sources or users."""

    enabled: bool = Field(default=True, description="Keep the board's cookies for the whole crawl.")
    lost_text: str | None = Field(
        default=None, max_length=200,
        description="Text of the page the board answers (often with status 200) when the session is gone.")
    lost_on_redirect: bool = Field(
        default=True, description="A redirect to another path (the front page) means the session is gone.")


class SourceDefinition(_Spec):
    """A board, described: see docs/crawler.md "Source definitions"."""

    version: Literal[1] = 1
    frame: str | None = Field(
        default=None, max_length=500,
        description="CSS of the frame/iframe that holds the board on the start page (its `src` is followed).")
    list: ListSpec
    detail: DetailSpec = Field(default_factory=DetailSpec)
    session: SessionSpec = Field(default_factory=SessionSpec)

    @field_validator("frame")
    @classmethod
    def _frame_css(cls, value: str | None) -> str | None:
        if value is not None:
            check_css(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> SourceDefinition:
        link = self.list.fields.get("detail_link")
        if self.detail.request is None and not link and not self.list.fields.get("external_id"):
            raise ValueError("list.fields needs detail_link, or external_id with a detail.request")
        if self.detail.request is not None:
            known = {"id", *self.list.fields}
            unknown = self.detail.request.placeholders() - known
            if unknown:
                raise ValueError(f"detail.request: unknown placeholders {sorted(unknown)}; known: {sorted(known)}")
            if self.detail.request.url is None and not link:
                raise ValueError("detail.request.url is required when list.fields has no detail_link")
        return self


def definition_from_selectors(selectors: Mapping[str, str]) -> dict[str, Any]:
    """The definition that reads a board as a selectors mapping (or a detected layout) does, to copy and edit."""
    fields = {key: selectors[key] for key in LIST_FIELDS if selectors.get(key)}
    listing: dict[str, Any] = {"rows": selectors["row"], "fields": fields}
    if selectors.get("pinned"):
        listing["pinned"] = selectors["pinned"]
    if selectors.get("next_page") and not selectors.get("next_page_url"):
        listing["next"] = selectors["next_page"]
    definition: dict[str, Any] = {"list": listing}
    link = fields.get("detail_link", "")
    if "{external_id}" in link:
        del fields["detail_link"]
        definition["detail"] = {"request": {"url": link.replace("{external_id}", "{id}")}}
    detail = {key.removeprefix("detail_"): selectors[key] for key in
              ("detail_title", "detail_department", "detail_post_date", "detail_views", "attachments")
              if selectors.get(key)}
    if detail:
        definition.setdefault("detail", {})["fields"] = detail
    return definition
