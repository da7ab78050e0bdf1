"""A built-in synthetic traffic mix for when no recorded access log is at hand."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from forest.replay.entries import ReplayEntry

DEFAULT_DEPARTMENTS: tuple[str, ...] = ("조달청", "서울특별시", "한국도로공사", "국방부", "교육부")

# Common words in Korean bid titles: construction, service, purchase, maintenance, design.
TITLE_WORDS: tuple[str, ...] = ("공사", "용역", "구매", "유지보수", "설계")

#: Share of each kind of request in the mix (weights, they need not sum to 1).
DEFAULT_MIX: Mapping[str, float] = {
    "list": 0.25,
    "deep_pages": 0.10,
    "filter": 0.20,
    "detail": 0.30,
    "analytics": 0.10,
    "crawl": 0.05,
}

BIDS = "/api/v1/bids"


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the synthetic requests refer to: existing bid ids, departments and a source."""

    bid_ids: tuple[int, ...] = tuple(range(1, 101))
    departments: tuple[str, ...] = DEFAULT_DEPARTMENTS
    source_id: int = 1


def synthetic_entries(
    *,
    rate: float,
    duration: float,
    seed: int = 0,
    catalog: Catalog | None = None,
    mix: Mapping[str, float] | None = None,
) -> list[ReplayEntry]:
    """Poisson arrivals at ``rate`` requests/s for ``duration`` seconds, drawn from ``mix``."""
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    weights = dict(mix or DEFAULT_MIX)
    unknown = weights.keys() - _BUILDERS.keys()
    if unknown:
        raise ValueError(f"unknown request kinds in the mix: {sorted(unknown)}")
    kinds = list(weights)
    chosen_catalog = catalog or Catalog()
    rng = random.Random(seed)
    entries: list[ReplayEntry] = []
    offset = 0.0
    while offset < duration:
        kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        entries.append(_BUILDERS[kind](rng, offset, chosen_catalog))
        offset += rng.expovariate(rate)
    return entries


def _list(rng: random.Random, offset: float, catalog: Catalog) -> ReplayEntry:
    query = rng.choice(("", "limit=50", "sort=-views", "sort=post_date", "limit=100&sort=-id"))
    return ReplayEntry(offset=offset, method="GET", path=BIDS, query=query, route=BIDS)


def _deep_pages(rng: random.Random, offset: float, catalog: Catalog) -> ReplayEntry:
    # The runner follows next_cursor from each response, like a user paging through results.
    return ReplayEntry(
        offset=offset,
        method="GET",
        path=BIDS,
        query="limit=20",
        route=BIDS,
        follow_pages=rng.randint(3, 6),
        label=f"GET {BIDS} (deep pages)",
    )


def _filter(rng: random.Random, offset: float, catalog: Catalog) -> ReplayEntry:
    name = rng.choice(("department", "views_gte", "q"))
    value: str | int
    if name == "department":
        value = rng.choice(catalog.departments or DEFAULT_DEPARTMENTS)
    elif name == "views_gte":
        value = rng.choice((100, 500, 1000, 5000))
    else:
        value = rng.choice(TITLE_WORDS)
    return ReplayEntry(
        offset=offset,
        method="GET",
        path=BIDS,
        query=urlencode({name: value}),
        route=BIDS,
        label=f"GET {BIDS}?{name}",
    )


def _detail(rng: random.Random, offset: float, catalog: Catalog) -> ReplayEntry:
    bid_id = rng.choice(catalog.bid_ids or (1,))
    return ReplayEntry(offset=offset, method="GET", path=f"{BIDS}/{bid_id}", route=f"{BIDS}/{{bid_id}}")


def _analytics(rng: random.Random, offset: float, catalog: Catalog) -> ReplayEntry:
    path, query = rng.choice(
        (
            ("/api/v1/analytics/high-value-departments", "min_views=1000&days=30&limit=50"),
            ("/api/v1/analytics/daily-counts", "days=30"),
        )
    )
    return ReplayEntry(offset=offset, method="GET", path=path, query=query, route=path)


def _crawl(rng: random.Random, offset: float, catalog: Catalog) -> ReplayEntry:
    path = "/api/v1/crawls"
    return ReplayEntry(offset=offset, method="POST", path=path, route=path, body={"source_id": catalog.source_id})


_BUILDERS: dict[str, Callable[[random.Random, float, Catalog], ReplayEntry]] = {
    "list": _list,
    "deep_pages": _deep_pages,
    "filter": _filter,
    "detail": _detail,
    "analytics": _analytics,
    "crawl": _crawl,
}


async def discover_catalog(
    target: str, *, headers: Mapping[str, str] | None = None, request_timeout: float = 10.0
) -> Catalog:
    """Read one page of bids from ``target`` so detail and filter requests hit real rows."""
    try:
        async with httpx.AsyncClient(base_url=target, headers=dict(headers or {}), timeout=request_timeout) as client:
            response = await client.get(BIDS, params={"limit": 100})
        items = response.json().get("items", []) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        items = []
    bid_ids = tuple(int(item["id"]) for item in items if isinstance(item, dict) and "id" in item)
    departments = tuple(
        sorted({str(item["department"]) for item in items if isinstance(item, dict) and item.get("department")})
    )
    default = Catalog()
    return Catalog(
        bid_ids=bid_ids or default.bid_ids,
        departments=departments or default.departments,
    )
