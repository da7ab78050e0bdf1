"""A bid as an Open Contracting Data Standard (OCDS 1.1) `tender` release: only what the notice says.

Mapping (docs/exports.md, "OCDS"):
- `ocid`: the configured prefix, the source id and the board's notice id (percent-encoded), so one notice
  keeps one ocid for life; `id`: the ocid plus the first 16 hex digits of the notice's content hash, so a
  new release id appears exactly when the notice is edited (a change of views is not an edit).
- `date`: when Forest recorded this version of the notice (`updated_at`).
- `parties`: the procuring entity (발주기관/공고기관) and the buyer (수요기관) when the body names them;
  an organisation's `id` is its name, as boards publish no identifier scheme for them.
- `tender`: `id` (the notice number when the body gives one, else the board's id), `title`, `description`
  (the notice body), `tenderPeriod.endDate` (the deadline), `value` (amount and currency, both known),
  `procurementMethodDetails` (the contract method as written), `mainProcurementCategory` (works, goods,
  services; a sale has no OCDS category and is left out), `documents` (the notice page and attachments).
Datetimes and dates are left as Python values for the caller's JSON encoder (RFC 3339 in UTC).

Records (`format=ocds-records`): one per notice, its `releases` every version Forest kept (the ones an edit
replaced, `bid_release`, oldest first, then the current one) and `compiledRelease` their merge by the OCDS
merging rules (`ocdsmerge`, the reference implementation): each release is a whole snapshot of the notice, so
the compiled release is the newest version, except that a field a later version no longer has keeps its
earlier value, as OCDS merging says of absent fields.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

from ocdsmerge import CompiledRelease

CATEGORIES = ("works", "goods", "services")
# The merging rules of the release schema (OCDS 1.1.5) for the fields Forest emits: `tag` is left out of a
# compiled release (which gets `["compiled"]`); arrays of objects with an `id` (parties, documents) merge by
# `id`, arrays of strings (roles) whole, both ocdsmerge's defaults. Given here, ocdsmerge does not fetch the schema.
MERGE_RULES = {("tag",): "omitWhenMerged"}


def ocid(prefix: str, source_id: int, external_id: str) -> str:
    """The notice's Open Contracting ID: `{prefix}-{source id}-{board notice id}`."""
    return f"{prefix}-{source_id}-{quote(external_id, safe='-_.~')}"


def _number(value: Decimal) -> int | float:
    # OCDS amounts are JSON numbers; whole amounts (nearly all) stay exact as integers.
    return int(value) if value == value.to_integral_value() else float(value)


def _text(facts: dict[str, Any], name: str) -> str | None:
    value = facts.get(name)
    return value.strip() or None if isinstance(value, str) else None


def release(row: dict[str, Any], body: str | None, facts: dict[str, Any], *, prefix: str) -> dict[str, Any]:
    """The release of one bid row (export columns), with its notice `body` and extracted `facts`."""
    the_ocid = ocid(prefix, row["source_id"], row["external_id"])
    out: dict[str, Any] = {
        "ocid": the_ocid,
        "id": f"{the_ocid}-{row['content_hash'][:16]}",
        "date": row["updated_at"],
        "tag": ["tender"],
        "initiationType": "tender",
    }
    procuring, buyer = _text(facts, "procuring_entity"), _text(facts, "demand_entity")
    parties: dict[str, list[str]] = {}
    if procuring:
        parties.setdefault(procuring, []).append("procuringEntity")
    if buyer:
        parties.setdefault(buyer, []).append("buyer")
    if parties:
        out["parties"] = [{"id": name, "name": name, "roles": roles} for name, roles in parties.items()]
    if buyer:
        out["buyer"] = {"id": buyer, "name": buyer}

    tender: dict[str, Any] = {"id": _text(facts, "notice_no") or row["external_id"], "title": row["title"]}
    if body:
        tender["description"] = body
    if procuring:
        tender["procuringEntity"] = {"id": procuring, "name": procuring}
    if row["amount"] is not None and row["currency"]:
        tender["value"] = {"amount": _number(row["amount"]), "currency": row["currency"]}
    if row["contract_method"]:
        tender["procurementMethodDetails"] = row["contract_method"]
    if row["category"] in CATEGORIES:
        tender["mainProcurementCategory"] = row["category"]
    if row["closes_at"] is not None:
        tender["tenderPeriod"] = {"endDate": row["closes_at"]}
    # The board gives a posting date without a time or zone: not enough for `datePublished` (a date-time).
    documents: list[dict[str, Any]] = [
        {"id": "notice", "documentType": "tenderNotice", "title": row["title"], "url": row["url"]}]
    for i, attachment in enumerate(row["attachments"] or (), start=1):
        if attachment.get("url"):
            documents.append({"id": f"attachment-{i}", "title": attachment.get("name") or None,
                              "url": attachment["url"]})
    tender["documents"] = documents
    out["tender"] = tender
    return out


def record(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The OCDS record of one notice from its releases, oldest first, as JSON-ready values (dates as text)."""
    compiled = CompiledRelease(merge_rules=MERGE_RULES)
    # Merged in the order given (the order they were recorded in): ocdsmerge's own sort compares dates as
    # text, where `…:05Z` sorts after `…:05.5Z`.
    for one in releases:
        compiled.append(one)
    return {"ocid": releases[-1]["ocid"], "releases": releases, "compiledRelease": compiled.asdict()}
