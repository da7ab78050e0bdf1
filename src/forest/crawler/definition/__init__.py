"""Source definitions: one JSON language that describes how to page, read and follow a board.

A definition says how list pages are asked for (`list.request`: GET or a form POST, which field
carries the page number), how rows and fields are read (CSS selectors for HTML, JMESPath for JSON
lists), how a detail page is asked for (`detail.request`) and read, when the list ends, and how the
board's session behaves. Field values use a small pipeline syntax, read left to right:

    <source> [js:<n> | js:<function>:<n>] [seg:<n>] [re:<regex>]

- `<source>` is `<css>[::attr(<name>)]` (HTML; empty = the row itself) or a JMESPath expression (JSON);
- `js:<n>` takes the n-th argument (from 0) of the first JavaScript call in the value, e.g.
  `a::attr(onclick) js:0` reads `2026-0137` out of `fn_egov_inqire_notice('2026-0137', 'BBS_01')`;
  without `::attr(...)` the element's `onclick`, else its `href`, is read;
- `seg:<n>` takes path segment n of a URL (negative from the end): `a seg:-1` reads `T-2026-0457`
  out of `/tenders/view/T-2026-0457`; without `::attr(...)` the element's `href` is read;
- `re:<regex>` keeps the regex's first group (or its whole match); it comes last.

Templates (`request.url`, `request.form` values, `detail_link`-less detail URLs, `attachment_url`)
take `{page}`, `{id}` (the notice id), any list field by name (`{bbs_id}`) and, in
`attachment_url`, the arguments of the attachment link's JavaScript call (`{0}`, `{1}`).

The definition is checked by pydantic: every problem is a field error whose location names the
key (`definition.list.fields.title: bad CSS selector ...`).
"""

from forest.crawler.definition.fields import FieldExpr, FieldRule, check_css
from forest.crawler.definition.reader import DefinitionParser, build_request
from forest.crawler.definition.schema import (
    DETAIL_FIELDS,
    LIST_FIELDS,
    DetailSpec,
    ListSpec,
    RequestSpec,
    SessionSpec,
    SourceDefinition,
    definition_from_selectors,
)
from forest.crawler.definition.script import js_argument, js_calls, path_segment
from forest.crawler.definition.templates import render, template_names

__all__ = [
    "DETAIL_FIELDS",
    "LIST_FIELDS",
    "DefinitionParser",
    "DetailSpec",
    "FieldExpr",
    "FieldRule",
    "ListSpec",
    "RequestSpec",
    "SessionSpec",
    "SourceDefinition",
    "build_request",
    "check_css",
    "definition_from_selectors",
    "js_argument",
    "js_calls",
    "path_segment",
    "render",
    "template_names",
]
