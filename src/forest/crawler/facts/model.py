"""The facts a bidder acts on, each with the span of text it was read from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Literal, cast, get_args

Category = Literal["works", "goods", "services", "sale"]
AmountKind = Literal["estimated_price", "base_amount", "estimated_total", "budget"]

CATEGORIES: tuple[str, ...] = get_args(Category)
AMOUNT_KINDS: tuple[str, ...] = get_args(AmountKind)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a value was read: `text == body[start:end]` of the text given to extract()."""

    start: int
    end: int
    text: str

    def to_json(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"start": self.start, "end": self.end, "text": self.text}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Evidence:
        """Inverse of to_json()."""
        return cls(start=int(cast(int, data["start"])), end=int(cast(int, data["end"])), text=str(data["text"]))


_DATETIME_FIELDS = ("closes_at", "opens_at")


@dataclass(frozen=True, slots=True)
class TenderFacts:
    """What a notice says about deadline, amount, method and bodies; None where it does not say."""

    notice_no: str | None = None
    closes_at: dt.datetime | None = None
    opens_at: dt.datetime | None = None
    amount: Decimal | None = None
    amount_kind: AmountKind | None = None
    currency: str | None = None
    vat_included: bool | None = None
    contract_method: str | None = None
    bid_method: str | None = None
    region_limit: str | None = None
    procuring_entity: str | None = None
    demand_entity: str | None = None
    category: Category | None = None
    evidence: Mapping[str, Evidence] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """JSON-ready: datetimes ISO 8601 (UTC), Decimal as a string, evidence as {field: {start, end, text}}."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "evidence":
                out["evidence"] = {name: ev.to_json() for name, ev in value.items()}
            elif isinstance(value, dt.datetime):
                out[f.name] = value.isoformat()
            elif isinstance(value, Decimal):
                out[f.name] = str(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TenderFacts:
        """Inverse of to_json(); a missing key is None (and missing evidence is empty)."""
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if f.name == "evidence":
                spans = cast(Mapping[str, Mapping[str, object]], value or {})
                kwargs["evidence"] = {name: Evidence.from_json(span) for name, span in spans.items()}
            elif value is None:
                kwargs[f.name] = None
            elif f.name in _DATETIME_FIELDS:
                kwargs[f.name] = dt.datetime.fromisoformat(str(value))
            elif f.name == "amount":
                kwargs[f.name] = Decimal(str(value))
            elif f.name == "vat_included":
                kwargs[f.name] = bool(value)
            else:
                kwargs[f.name] = str(value)
        return cls(**kwargs)  # type: ignore[arg-type]

    def without_evidence(self) -> dict[str, object]:
        """to_json() without the evidence key: what the demo board publishes as a notice's truth."""
        out = self.to_json()
        del out["evidence"]
        return out
