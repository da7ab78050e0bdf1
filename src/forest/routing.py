"""A route class that resolves simple dependency graphs without FastAPI's generic solver."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# The fields of FastAPI's (internal) Dependant this module reads. pyproject.toml pins FastAPI to the minor release
# they were checked against; a release that renames one fails here, at import, instead of serving requests wrong.
DEPENDANT_FIELDS = frozenset({
    "path_params", "query_params", "header_params", "cookie_params", "body_params", "dependencies", "name", "call",
    "request_param_name", "websocket_param_name", "http_connection_param_name", "response_param_name",
    "background_tasks_param_name", "security_scopes_param_name"})
_missing = DEPENDANT_FIELDS - {f.name for f in dataclasses.fields(Dependant)}
if _missing:
    raise ImportError(f"forest.routing.LeanRoute needs FastAPI's Dependant fields {sorted(_missing)}; this FastAPI "
                      "release changed them: install the version pinned in pyproject.toml")
_SEQUENCES = (list, set, frozenset, tuple)


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    return origin in _SEQUENCES or annotation in _SEQUENCES


@dataclass(frozen=True)
class QueryModel:
    """One pydantic model holding a route's whole query string, read the way FastAPI reads it."""

    model: type[BaseModel]
    fields: tuple[tuple[str, bool], ...]  # (alias, repeatable)

    @classmethod
    def of(cls, model: type[BaseModel]) -> QueryModel:
        """Read `model`'s fields once: their query names and which take repeated values."""
        fields = model.model_fields.items()
        return cls(model, tuple((f.alias or name, _is_sequence(f.annotation)) for name, f in fields))

    @functools.cached_property
    def repeatable(self) -> frozenset[str]:
        """The query names that take every value given (lists), not the last one."""
        return frozenset(alias for alias, many in self.fields if many)

    def validate(self, params: QueryParams) -> BaseModel:
        """Validate the query string: repeatable fields take every value, others the last one."""
        # Only the parameters present are read (a request names a few of a list's ~25 fields); a field not
        # known to the model is passed on too, for the model's extra policy to decide.
        data: dict[str, Any] = {}
        repeatable = self.repeatable
        for key in params:
            data[key] = params.getlist(key) if key in repeatable else params[key]
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**err, "loc": ("query", *err["loc"])} for err in exc.errors(include_url=False)]) from None


@dataclass(frozen=True)
class _Plan:
    """How to call one endpoint: its request-only dependencies in order, its query model, where the request goes."""

    dependencies: tuple[tuple[str | None, Callable[..., Awaitable[Any]], str], ...]  # (result name, call, arg name)
    query: tuple[str, QueryModel] | None
    request_names: tuple[str, ...]

    async def solve(self, request: Request) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, call, arg in self.dependencies:
            result = await call(**{arg: request})
            if name is not None:
                values[name] = result
        for name in self.request_names:
            values[name] = request
        if self.query is not None:
            values[self.query[0]] = self.query[1].validate(request.query_params)
        return values


def _request_arg(dependant: Dependant) -> str | None:
    return dependant.request_param_name or dependant.http_connection_param_name


def _is_simple_dependency(dependant: Dependant) -> bool:
    call = dependant.call
    return (inspect.iscoroutinefunction(call) and not dependant.dependencies and not dependant.path_params
            and not dependant.query_params and not dependant.header_params and not dependant.cookie_params
            and not dependant.body_params and _request_arg(dependant) is not None
            and not dependant.websocket_param_name and not dependant.response_param_name
            and not dependant.background_tasks_param_name and not dependant.security_scopes_param_name)


def _plan(dependant: Dependant) -> _Plan | None:
    """A plan for endpoints this route can resolve itself, or None to leave the request to FastAPI."""
    if (not inspect.iscoroutinefunction(dependant.call) or dependant.path_params or dependant.header_params
            or dependant.cookie_params or dependant.body_params or dependant.websocket_param_name
            or dependant.response_param_name or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name or len(dependant.query_params) > 1):
        return None
    try:
        returns = typing.get_type_hints(dependant.call).get("return")
    except (NameError, TypeError):
        return None
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None  # FastAPI validates and serialises other return values against the response model
    query = None
    if dependant.query_params:
        field = dependant.query_params[0]
        model = field.field_info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        query = (field.name, QueryModel.of(model))
    deps = []
    for sub in dependant.dependencies:
        if not _is_simple_dependency(sub) or sub.call is None:
            return None
        arg = _request_arg(sub)
        assert arg is not None
        deps.append((sub.name, sub.call, arg))
    names = tuple(n for n in (dependant.request_param_name, dependant.http_connection_param_name) if n)
    return _Plan(dependencies=tuple(deps), query=query, request_names=names)


class LeanRoute(APIRoute):
    """An APIRoute for the busiest endpoints: the same declaration, OpenAPI and errors, less work per request.

    FastAPI resolves every parameter of every dependency through a generic solver on each request; on the bid
    list that was a fifth of the CPU time (bench/RESULTS.md, Pagination). This route resolves one simple shape
    itself: `async def` endpoints that return a `Response` and whose parameters are the `Request` (or
    `HTTPConnection`), at most one query model (`Annotated[Model, Query()]`, validated in one pydantic call) and
    dependencies that are `async def` functions of the request alone (such as the current user). The app's own
    dependencies run first, as in FastAPI. Any other shape (path, header or body parameters, generator
    dependencies, a model to return) and any request made while dependency overrides are set goes to FastAPI's
    handler, so a route is never wrong, only not faster. Dependencies given to
    `include_router(..., dependencies=...)` are not seen here: give them to the router or the route instead.
    """

    #: Whether this route resolves requests itself (False: its shape is left to FastAPI).
    lean: bool = False
    #: The endpoint called with what it needs resolved from the request, or None (before anything ran) when
    #: this request must go to FastAPI's handler (dependency overrides set, app dependencies of another shape).
    lean_call: Callable[[Request], Awaitable[Response | None]] | None = None

    def get_route_handler(self) -> Handler:
        generic = super().get_route_handler()
        plan = _plan(self.dependant)
        self.lean = plan is not None
        if plan is None:
            return generic
        endpoint = typing.cast(Callable[..., Awaitable[Response]], self.dependant.call)
        own = {call for _, call, _ in plan.dependencies}
        overrides = self.dependency_overrides_provider
        app_plans: dict[int, tuple[Callable[[Request], Awaitable[Any]], ...]] = {}

        def app_dependencies(request: Request) -> tuple[Callable[[Request], Awaitable[Any]], ...] | None:
            calls = app_plans.get(id(request.app))
            if calls is None:
                found = []
                for dep in getattr(request.app.router, "dependencies", ()):
                    call = dep.dependency
                    if call in own:
                        continue  # already part of the route's own dependencies
                    sub = _plan_dependency(call)
                    if sub is None:
                        return None
                    found.append(sub)
                calls = app_plans[id(request.app)] = tuple(found)
            return calls

        async def lean_call(request: Request) -> Response | None:
            global_calls = app_dependencies(request)
            if (global_calls is None or getattr(overrides, "dependency_overrides", None)
                    or getattr(request.app, "dependency_overrides", None)):
                return None
            for call in global_calls:
                await call(request)
            return await endpoint(**await plan.solve(request))

        async def handler(request: Request) -> Response:
            response = await lean_call(request)
            return await generic(request) if response is None else response

        self.lean_call = lean_call
        return handler


def _plan_dependency(call: Callable[..., Any] | None) -> Callable[[Request], Awaitable[Any]] | None:
    """An app-level dependency as a function of the request, if it is that simple."""
    if call is None:
        return None
    sub = get_dependant(path="", call=call)
    arg = _request_arg(sub)
    if not _is_simple_dependency(sub) or arg is None:
        return None

    async def run(request: Request) -> Any:
        return await call(**{arg: request})

    return run


class ExactPathLane:
    """The app router's own middleware: a GET to the exact path of a lean route goes straight to that route.

    FastAPI (0.163) matches a request against included routers by trying the routes of each router in turn, twice
    per request (`_IncludedRouter.matches`, then again in `_handle_selected`): for `/api/v1/crawls`, behind the
    export, bid and source routers, that was ~7 % of a list request's CPU (bench/RESULTS.md, Pagination). This
    lane keeps a table of paths without parameters whose GET the router would give to a lean `LeanRoute` (checked
    by asking every route before it, in the router's order, whether it matches) and sends those requests to the
    route as the router would: `route`, `endpoint`, `path_params` and `router` set in the scope. Everything else,
    every request while dependency overrides are set and every request FastAPI's OpenTelemetry traces, goes to the
    router unchanged, and so does every request under a `root_path`. The table is rebuilt when the app's routes
    change.
    """

    def __init__(self, app: Any, router: Any) -> None:
        self.app = app  # the router's own ASGI app (what Router.middleware_stack held)
        self.router = router
        self._table: dict[str, LeanRoute] = {}
        self._built_for: tuple[int, int] | None = None

    def table(self) -> dict[str, LeanRoute]:
        """Path → lean route of the GET requests this lane answers (built again when the routes change)."""
        routes = self.router.routes
        key = (id(routes), len(routes))
        if key != self._built_for:
            self._table, self._built_for = exact_lean_paths(routes), key
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path")
                and scope.get("fastapi.telemetry") is None
                and not getattr(scope.get("app"), "dependency_overrides", None)):
            route = self.table().get(scope["path"])
            if route is not None and route.lean_call is not None:
                scope.setdefault("router", self.router)
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                scope["route"] = route
                # The lean call needs none of what FastAPI's request_response sets up per request (two exit
                # stacks for dependencies with `yield`, a second exception wrapper): ~9 % of a list request's
                # CPU. Its errors reach the app's exception middleware, which answers them as the route would.
                response = await route.lean_call(Request(scope, receive, send))
                if response is None:
                    await route.app(scope, receive, send)
                else:
                    await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _flatten(routes: Sequence[BaseRoute]) -> list[BaseRoute] | None:
    """The routes in the order the router tries them, included routers opened; None for a shape not known."""
    out: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included router (fastapi.routing._IncludedRouter)
        if inner is not None:
            if getattr(getattr(route, "include_context", None), "prefix", "") or not isinstance(inner, APIRouter):
                return None  # an include prefix changes every path below it: left to the router
            nested = _flatten(inner.routes)
            if nested is None:
                return None
            out.extend(nested)
        else:
            out.append(route)
    return out


def exact_lean_paths(routes: Sequence[BaseRoute]) -> dict[str, LeanRoute]:
    """The paths without parameters whose GET the router gives to a lean route: the first route (in order) that
    matches a GET of that path fully is that route (as in Starlette's router, a partial match before it, the same
    path with another method, does not take the request)."""
    flat = _flatten(routes)
    if flat is None:
        return {}
    table: dict[str, LeanRoute] = {}
    for route in flat:
        methods = route.methods or set() if isinstance(route, APIRoute) else set()
        if not (isinstance(route, LeanRoute) and route.lean and "GET" in methods and "{" not in route.path):
            continue
        probe: Scope = {"type": "http", "method": "GET", "path": route.path, "root_path": "", "headers": [],
                        "query_string": b""}
        for other in flat:
            match, _ = other.matches(probe)
            if other is route:
                if match == Match.FULL:
                    table[route.path] = route
                break
            if match == Match.FULL:
                break  # an earlier route takes this GET (a partial match, another method, does not)
    return table
