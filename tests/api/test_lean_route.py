"""LeanRoute answers exactly as FastAPI's own handler would, for every query string and failure."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from forest.bids.schemas import BidListQuery
from forest.dependencies import reject_unknown_query_params
from forest.errors import Unauthorized, install_error_handlers
from forest.routing import ExactPathLane, LeanRoute

CALLS: list[str] = []


async def caller(request: Request) -> str:
    """A request-only dependency, like the current user: refuses requests without a header."""
    name = request.headers.get("x-caller")
    if not name:
        raise Unauthorized("Send X-Caller.")
    CALLS.append(name)
    return name


async def audit(request: Request) -> None:
    """A dependency given in `dependencies=[...]`: runs, its result is dropped."""
    CALLS.append("audit")


ROUTERS: dict[str, APIRouter] = {}


def build() -> FastAPI:
    app = FastAPI(dependencies=[Depends(reject_unknown_query_params)])
    install_error_handlers(app)
    for prefix, route_class in (("/lean", LeanRoute), ("/generic", None)):
        router = APIRouter(prefix=prefix, **({"route_class": route_class} if route_class else {}))

        @router.get("/items", dependencies=[Depends(audit)])
        async def items(who: Annotated[str, Depends(caller)], query: Annotated[BidListQuery, Query()],
                        request: Request) -> Response:
            return JSONResponse({"who": who, "path": request.url.path.split("/")[1],
                                 "query": query.model_dump(mode="json")})

        @router.get("/items/{item_id}")
        async def item(item_id: int, who: Annotated[str, Depends(caller)]) -> dict[str, Any]:
            return {"id": item_id, "who": who}

        app.include_router(router)
        ROUTERS[prefix] = router
    app.router.middleware_stack = ExactPathLane(app.router.middleware_stack, app.router)  # as forest.app does
    return app


QUERIES = [
    "",
    "limit=5&department=a&department=b&source_id=3",
    "limit=5&limit=7",
    "views_gte=10&views_lte=5",
    "posted_from=2026-13-01",
    "posted_from=2026-11-20&posted_to=2026-11-19",
    "limit=abc",
    "limit=0",
    "count=maybe",
    "count=exact&sort=-views&cursor=abc",
    "departmnet=x",
    "q=",
    "q=a%00b",
    "department=",
    "source_id=1&source_id=x",
    "source_id=99999999999999999999",
]


@pytest.fixture
async def client() -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build()), base_url="http://t") as c:
        yield c


@pytest.mark.parametrize("query", QUERIES)
async def test_lean_route_answers_like_fastapi(client: httpx.AsyncClient, query: str) -> None:
    """The lean route, reached through the exact-path lane, answers every query as FastAPI's route does."""
    lane = client._transport.app.router.middleware_stack  # type: ignore[attr-defined]
    assert set(lane.table()) == {"/lean/items"}
    headers = {"x-caller": "ann"}
    lean = await client.get(f"/lean/items?{query}", headers=headers)
    generic = await client.get(f"/generic/items?{query}", headers=headers)
    assert lean.status_code == generic.status_code, (lean.text, generic.text)
    assert lean.headers["content-type"] == generic.headers["content-type"]
    body, want = lean.json(), generic.json()
    if "path" in body:
        assert body.pop("path") == "lean" and want.pop("path") == "generic"
    assert body == want


async def test_lean_route_runs_dependencies_in_order_and_stops_at_a_failing_one(client: httpx.AsyncClient) -> None:
    CALLS.clear()
    r = await client.get("/lean/items?limit=3", headers={"x-caller": "bo"})
    assert r.status_code == 200 and r.json()["who"] == "bo"
    assert CALLS == ["audit", "bo"]
    r = await client.get("/lean/items?limit=x")
    assert r.status_code == 401  # the dependency refuses before the query is validated, as in FastAPI
    assert r.headers["content-type"].startswith("application/problem+json")


def test_lean_route_takes_the_simple_shape_only() -> None:
    build()
    routes = {route.path: route for route in ROUTERS["/lean"].routes if isinstance(route, LeanRoute)}
    assert not any(isinstance(route, LeanRoute) for route in ROUTERS["/generic"].routes)
    assert routes["/lean/items"].lean is True
    assert routes["/lean/items/{item_id}"].lean is False  # a path parameter: FastAPI resolves it


def test_every_list_is_a_lean_route() -> None:
    """Every top-level keyset-paginated list (a `Page[...]` response) takes the fast path; the lists under one
    object (a job's events, an alert's deliveries) have a path parameter, which FastAPI resolves."""
    from fastapi.routing import APIRoute

    from forest.alerts.router import router as alerts
    from forest.bids.router import router as bids
    from forest.crawls.router import router as crawls
    from forest.sources.router import router as sources
    from forest.users.router import router as users

    routes = [r for router in (alerts, bids, crawls, sources, users) for r in router.routes if isinstance(r, APIRoute)]
    lists = {r.path for r in routes if getattr(r.response_model, "__name__", "").startswith("Page[")}
    lean = {r.path for r in routes if isinstance(r, LeanRoute) and r.lean}
    assert {"/api/v1/bids", "/api/v1/sources", "/api/v1/crawls", "/api/v1/alerts", "/api/v1/users"} <= lists
    top = {path for path in lists if "{" not in path}
    assert top <= lean, sorted(top - lean)


async def test_lean_route_leaves_other_shapes_and_overrides_to_fastapi(client: httpx.AsyncClient) -> None:
    r = await client.get("/lean/items/7", headers={"x-caller": "cy"})
    assert r.json() == {"id": 7, "who": "cy"}
    assert (await client.get("/lean/items/x", headers={"x-caller": "cy"})).status_code == 422
    app = client._transport.app  # type: ignore[attr-defined]

    async def stranger() -> str:
        return "override"

    app.dependency_overrides[caller] = stranger
    try:
        r = await client.get("/lean/items")
        assert r.status_code == 200 and r.json()["who"] == "override"
    finally:
        app.dependency_overrides.clear()


# Every field FastAPI's Dependant had when LeanRoute was last checked (fastapi 0.163): LeanRoute reads the ones in
# forest.routing.DEPENDANT_FIELDS and must refuse (leave to FastAPI) every shape it does not know. A new field can be
# a new kind of parameter LeanRoute would silently drop, so any change here needs a look at forest/routing.py.
KNOWN_DEPENDANT_FIELDS = {
    "path_params", "query_params", "header_params", "cookie_params", "body_params", "dependencies", "name", "call",
    "request_param_name", "websocket_param_name", "http_connection_param_name", "response_param_name",
    "background_tasks_param_name", "security_scopes_param_name", "own_oauth_scopes", "parent_oauth_scopes",
    "use_cache", "path", "scope", "concurrency"}


def test_fastapi_is_the_release_lean_route_was_checked_against() -> None:
    import dataclasses
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    from fastapi.dependencies.models import Dependant
    from packaging.requirements import Requirement
    from packaging.version import Version

    from forest.routing import DEPENDANT_FIELDS

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pins = [Requirement(dep) for dep in pyproject["project"]["dependencies"] if dep.startswith("fastapi")]
    bounds = {spec.operator: Version(spec.version) for spec in pins[0].specifier} if len(pins) == 1 else {}
    low, high = bounds.get(">="), bounds.get("<")
    assert low and high and (high.major, high.minor) == (low.major, low.minor + 1), f"pin one minor release: {pins}"
    assert pins[0].specifier.contains(version("fastapi")), (
        f"fastapi {version('fastapi')} is outside the pin {pins[0]}: reinstall (`make install`)")
    fields = {f.name for f in dataclasses.fields(Dependant)}
    assert fields == KNOWN_DEPENDANT_FIELDS, (
        f"FastAPI's Dependant changed (new: {sorted(fields - KNOWN_DEPENDANT_FIELDS)}, "
        f"gone: {sorted(KNOWN_DEPENDANT_FIELDS - fields)}): check forest/routing.py before moving the pin")
    assert DEPENDANT_FIELDS <= fields


def test_every_list_endpoint_is_a_lean_route() -> None:
    from forest.alerts.router import router as alerts
    from forest.bids.router import router as bids
    from forest.crawls.router import router as crawls
    from forest.sources.router import router as sources

    lean = {route.path for router in (alerts, bids, crawls, sources) for route in router.routes
            if isinstance(route, LeanRoute) and route.lean}
    assert {"/api/v1/bids", "/api/v1/sources", "/api/v1/crawls", "/api/v1/alerts"} <= lean


def test_lean_route_leaves_endpoints_returning_models_to_fastapi() -> None:
    router = APIRouter(route_class=LeanRoute)

    @router.get("/model")
    async def model(who: Annotated[str, Depends(caller)]) -> dict[str, Any]:
        return {"who": who}

    app = FastAPI()
    app.include_router(router)
    route = next(r for r in router.routes if isinstance(r, LeanRoute))
    assert route.lean is False  # FastAPI serialises the return value against the response model


def test_the_exact_path_lane_takes_every_top_level_list_of_the_app() -> None:
    """The app's router sends a GET of each list straight to its LeanRoute; a FastAPI release that changes how
    included routers are kept empties this table, and this test says so."""
    from forest.app import create_app
    from forest.config import Settings

    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret_key="s" * 40))
    lane = app.router.middleware_stack
    assert isinstance(lane, ExactPathLane)
    assert set(lane.table()) == {"/api/v1/alerts", "/api/v1/bids", "/api/v1/crawls", "/api/v1/sources",
                                 "/api/v1/users"}


def _lane_app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(reject_unknown_query_params)])
    install_error_handlers(app)
    first = APIRouter(route_class=LeanRoute)

    @first.post("/jobs")
    async def create_job(request: Request) -> Response:
        return JSONResponse({"made": True})

    @first.get("/shadow/{name}")
    async def shadow(name: str) -> dict[str, str]:
        return {"by": "shadow", "name": name}

    second = APIRouter(route_class=LeanRoute)

    @second.get("/jobs")
    async def jobs(who: Annotated[str, Depends(caller)], request: Request) -> Response:
        return JSONResponse({"who": who, "route": request.scope["route"].path})

    @second.get("/shadow/x")
    async def shadowed(request: Request) -> Response:
        return JSONResponse({"by": "shadowed"})

    app.include_router(first)
    app.include_router(second)
    app.router.middleware_stack = ExactPathLane(app.router.middleware_stack, app.router)
    return app


async def test_the_lane_answers_as_the_router_would() -> None:
    """A POST before the GET of the same path does not hide it (the router would pass on to the GET too); a
    parameter route before an exact path does (the router would take it): that path stays with the router."""
    app = _lane_app()
    lane = app.router.middleware_stack
    assert set(lane.table()) == {"/jobs"}  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/jobs", headers={"x-caller": "ann"})
        assert r.json() == {"who": "ann", "route": "/jobs"}
        assert (await c.post("/jobs")).json() == {"made": True}
        assert (await c.get("/shadow/x")).json() == {"by": "shadow", "name": "x"}
        refused = await c.get("/jobs")
        assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/problem+json")
        unknown = await c.get("/jobs?limt=3", headers={"x-caller": "ann"})
        assert unknown.status_code == 400 and "limt" in unknown.json()["detail"]
        app.dependency_overrides[caller] = lambda: "override"
        try:
            assert (await c.get("/jobs")).json()["who"] == "override"
        finally:
            app.dependency_overrides.clear()
