"""The encoders that turn chunks of rows into bytes (the base class, JSON Lines and OCDS), and what they look up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.sql.elements import ColumnElement

from forest.bids.export.model import EXPORT_COLUMNS, Export
from forest.bids.export.values import json_default, rfc3339
from forest.bids.models import BidDetail, BidRelease
from forest.bids.ocds import record, release
from forest.bids.schemas import BidRead
from forest.database import Database


class Encoder:
    """Turns chunks of rows into bytes of one format."""

    wants_body = False
    # The rows' columns the encoder reads (the keyset's are added).
    columns: Sequence[ColumnElement[Any]] = EXPORT_COLUMNS
    # Whether the query already made the bytes (no details read, no formatting thread).
    in_database = False

    def __init__(self, export: Export) -> None:
        self.export = export

    def head(self) -> bytes:
        """What comes before the first row."""
        return b""

    async def lookup(self, rows: list[Any]) -> dict[int, Any]:
        """What a chunk needs besides its rows, by bid id: the body (when wanted) and facts of each."""
        return await _details(self.export.db, [row["id"] for row in rows], body=self.wants_body)

    def chunk(self, rows: list[dict[str, Any]], details: dict[int, Any]) -> bytes:
        """One chunk of rows as bytes."""
        raise NotImplementedError

    def tail(self) -> bytes:
        """What comes after the last row."""
        return b""


async def _details(db: Database, ids: list[int], *, body: bool) -> dict[int, tuple[str | None, dict[str, Any]]]:
    """Body (when asked for) and facts of the bids among `ids` that have a detail page."""
    if not ids:
        return {}
    cols: list[Any] = [BidDetail.bid_id, BidDetail.facts]
    if body:
        cols.append(BidDetail.body)
    if db.engine.dialect.name == "postgresql":
        # One array parameter instead of an IN list of 5,000 parameters compiled anew for every chunk.
        sql = _DETAIL_SQL[body]
        rows = await db.fetch(sql, ids)
        return {row[0]: (row[2] if body else None, _facts(row[1])) for row in rows}
    async with db.sessionmaker() as session:
        result = await session.execute(select(*cols).where(BidDetail.bid_id.in_(ids)))
        return {row[0]: (row[2] if body else None, row[1] or {}) for row in result}


# No export shows the evidence spans, which are most of each facts document: PostgreSQL drops them
# (`facts - 'evidence'`), so they are neither sent nor decoded per row.
_DETAIL_SQL = {
    False: "SELECT bid_id, facts - 'evidence' FROM bid_detail WHERE bid_id = ANY($1::bigint[])",
    True: "SELECT bid_id, facts - 'evidence', body FROM bid_detail WHERE bid_id = ANY($1::bigint[])",
}


def _facts(value: Any) -> dict[str, Any]:
    # The driver hands JSONB over decoded when SQLAlchemy set up the connection's codecs; else as text.
    if isinstance(value, str):
        decoded = json.loads(value)
        return decoded if isinstance(decoded, dict) else {}
    return value if isinstance(value, dict) else {}


def _json_row(row: dict[str, Any], body: str | None, facts: dict[str, Any]) -> dict[str, Any]:
    item = {name: row[name] for name in (*BidRead.model_fields, "opens_at", "contract_method")}
    item["body"] = body
    item["facts"] = {name: value for name, value in facts.items() if name != "evidence"}
    return item


class JsonlEncoder(Encoder):
    """One JSON object per line: the list's bid fields, `opens_at`, `contract_method`, `body` and `facts`."""

    wants_body = True

    def chunk(self, rows: list[dict[str, Any]], details: dict[int, tuple[str | None, dict[str, Any]]]) -> bytes:
        """One line per notice."""
        out = []
        for row in rows:
            body, facts = details.get(row["id"], (None, {}))
            out.append(json.dumps(_json_row(row, body, facts), ensure_ascii=False, default=json_default))
        out.append("")
        return "\n".join(out).encode()


class OcdsEncoder(Encoder):
    """An OCDS 1.1 release package: one `tender` release per notice (forest.bids.ocds)."""

    wants_body = True

    def __init__(self, export: Export) -> None:
        super().__init__(export)
        self.first = True

    def head(self) -> bytes:
        """The package metadata and the opening of `releases`."""
        published = self.export.fingerprint.last_modified or self.export.now
        meta = {"uri": self.export.uri, "version": "1.1", "publishedDate": rfc3339(published),
                "publisher": {"name": self.export.ocds_publisher}}
        return (json.dumps(meta, ensure_ascii=False)[:-1] + ', "releases": [').encode()

    def chunk(self, rows: list[dict[str, Any]], details: dict[int, tuple[str | None, dict[str, Any]]]) -> bytes:
        """Releases, comma-separated across chunks."""
        parts = []
        for row in rows:
            body, facts = details.get(row["id"], (None, {}))
            parts.append(json.dumps(release(row, body, facts, prefix=self.export.ocds_prefix), ensure_ascii=False,
                                    default=json_default))
        return self._joined(parts)

    def tail(self) -> bytes:
        """The end of `releases` and of the package."""
        return b"]}"

    def _joined(self, parts: list[str]) -> bytes:
        """The chunk's items, comma-separated, with the comma that follows the previous chunk's last item."""
        text = ",".join(parts)
        if parts and not self.first:
            text = "," + text
        self.first = self.first and not parts
        return text.encode()


class OcdsRecordsEncoder(OcdsEncoder):
    """An OCDS 1.1 record package: one record per notice, with every release Forest kept of it (the versions
    an edit replaced, `bid_release`, then the current one) and the compiled release (forest.bids.ocds)."""

    def head(self) -> bytes:
        """The package metadata and the opening of `records`."""
        return super().head()[: -len(b'"releases": [')] + b'"records": ['

    async def lookup(self, rows: list[Any]) -> dict[int, Any]:
        """Body, facts and the earlier versions of each notice of the chunk."""
        ids = [row["id"] for row in rows]
        details = await _details(self.export.db, ids, body=True)
        history = await _history(self.export.db, ids)
        return {bid_id: (*details.get(bid_id, (None, {})), history.get(bid_id, [])) for bid_id in ids}

    def chunk(self, rows: list[dict[str, Any]], details: dict[int, Any]) -> bytes:
        """Records, comma-separated across chunks."""
        parts = []
        for row in rows:
            body, facts, versions = details[row["id"]]
            current = release(row, body, facts, prefix=self.export.ocds_prefix)
            releases = [release({**row, **version}, version["body"], version["facts"],
                                prefix=self.export.ocds_prefix) for version in versions]
            # Merging compares dates as text: the releases as they will be written.
            plain = json.loads(json.dumps([*releases, current], default=json_default))
            parts.append(json.dumps(record(plain), ensure_ascii=False))
        return self._joined(parts)


# The columns of an earlier version that its release reads (the rest, such as the ocid's parts, never change).
_VERSION_COLUMNS = ("content_hash", "updated_at", "title", "url", "attachments", "closes_at", "amount", "currency",
                    "category", "contract_method", "body", "facts")


async def _history(db: Database, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The earlier versions of the bids among `ids`, oldest first, as release inputs."""
    if not ids:
        return {}
    stmt = (select(BidRelease.bid_id, *(BidRelease.__table__.c[name] for name in _VERSION_COLUMNS))
            .where(BidRelease.bid_id.in_(ids)).order_by(BidRelease.bid_id, BidRelease.updated_at, BidRelease.id))
    out: dict[int, list[dict[str, Any]]] = {}
    async with db.sessionmaker() as session:
        for row in await session.execute(stmt):
            version = row._asdict()
            out.setdefault(version.pop("bid_id"), []).append(version)
    return out
