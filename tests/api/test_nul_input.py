"""NUL characters in any client text are a 422 naming the field, on every route the OpenAPI schema lists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI

from forest.validation import NUL_ERROR_TYPE

NUL_TEXT = "abc\x00defghijklmnop"  # long enough for every min_length: the NUL, not the length, must be refused
Path = tuple[str | int, ...]


@dataclass
class Case:
    """One request with a NUL in one place, and the error loc it must answer with."""

    method: str
    url: str
    loc: list[str]
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def text_paths(schema: dict[str, Any], spec: dict[str, Any], path: Path = (), depth: int = 0) -> Iterator[Path]:
    """Every place a string can go in a JSON document of `schema` (dict keys included, as a key holding a NUL)."""
    schema = _resolve(schema, spec)
    if depth > 6:
        return
    for combinator in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(combinator, ()):
            yield from text_paths(sub, spec, path, depth + 1)
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "string" in types:
        yield path
    if "array" in types and isinstance(schema.get("items"), dict):
        yield from text_paths(schema["items"], spec, (*path, 0), depth + 1)
    for name, sub in schema.get("properties", {}).items():
        yield from text_paths(sub, spec, (*path, name), depth + 1)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield (*path, NUL_TEXT)  # a key holding the NUL
        yield from text_paths(extra, spec, (*path, "key"), depth + 1)


def document_at(path: Path, leaf: Any) -> Any:
    """The smallest JSON document with `leaf` at `path`."""
    if not path:
        return leaf
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        return [document_at(rest, leaf)]
    return {head: document_at(rest, leaf)}


def nul_cases(spec: dict[str, Any]) -> Iterator[Case]:
    """A request per operation and per text input (parameter, form field or JSON string) with a NUL in it."""
    for template, operations in spec["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            plain = template
            for param in params:
                if param["in"] == "path":
                    plain = plain.replace("{" + param["name"] + "}", "1")
            for param in params:
                if param["in"] == "query":
                    yield Case(method, plain, ["query", param["name"]], params={param["name"]: NUL_TEXT})
                elif param["in"] == "path":
                    url = template.replace("{" + param["name"] + "}", quote(NUL_TEXT))
                    for other in params:
                        if other["in"] == "path":
                            url = url.replace("{" + other["name"] + "}", "1")
                    yield Case(method, url, ["path", param["name"]])
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for path in text_paths(content["application/json"]["schema"], spec):
                    leaf = "v" if path and path[-1] == NUL_TEXT else NUL_TEXT
                    yield Case(method, plain, ["body", *map(str, path)], json=document_at(path, leaf))
            if "application/x-www-form-urlencoded" in content:
                form = _resolve(content["application/x-www-form-urlencoded"]["schema"], spec)
                for name in form.get("properties", {}):
                    yield Case(method, plain, ["body", name], data={name: NUL_TEXT})


async def test_nul_in_every_text_input_is_a_422_naming_it(
    client: httpx.AsyncClient, app: FastAPI, make_user,  # type: ignore[no-untyped-def]
) -> None:
    """Walks the OpenAPI schema: a NUL in any parameter, form field or JSON string (or key) of any operation."""
    admin = await make_user(admin=True)
    cases = list(nul_cases(app.openapi()))
    assert len(cases) > 60, "the schema walk found too few inputs"
    assert {c.loc[0] for c in cases} == {"query", "path", "body"}
    for case in cases:
        r = await client.request(case.method.upper(), case.url, params=case.params, json=case.json, data=case.data,
                                 headers=admin.headers)
        assert r.status_code == 422, (case, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["code"] == "validation_error", (case, body)
        want = [part.replace("\x00", "\\u0000") for part in case.loc]
        assert {"loc": want, "field": ".".join(want[1:]), "message": "must not contain NUL characters (U+0000)",
                "type": NUL_ERROR_TYPE} in body["errors"], (case, body)
        assert body["errors"][0]["field"] in body["detail"]


async def test_nul_in_alert_name_is_refused_and_nothing_is_saved(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    r = await client.post("/api/v1/alerts", json={"name": "a\u0000b"}, headers=user.headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "name"
    assert "name" in r.json()["detail"]
    r = await client.post("/api/v1/alerts", json={"name": "ok", "filters": {"department": ["x", "산림\x00"]}},
                          headers=user.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "filters.department.1", r.text
    assert (await client.get("/api/v1/alerts", headers=user.headers)).json()["items"] == []


async def test_nul_in_login_username_is_a_422_not_a_failed_login(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    r = await client.post("/api/v1/auth/token", data={"username": user.email + "\x00", "password": user.password})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    assert r.json()["errors"][0]["loc"] == ["body", "username"]
    r = await client.post("/api/v1/auth/token", data={"username": user.email, "password": user.password})
    assert r.status_code == 200, r.text


async def test_nul_in_query_is_a_422_and_escaped_backslashes_are_text(client: httpx.AsyncClient, make_user) -> None:  # type: ignore[no-untyped-def]
    user = await make_user()
    for query in ("q=%00", "department=a%00&department=b"):
        r = await client.get(f"/api/v1/bids?{query}", headers=user.headers)
        assert r.status_code == 422, (query, r.text)
        assert r.json()["errors"][0]["loc"][0] == "query"
    # A backslash followed by "u0000" is six characters of text, not a NUL.
    r = await client.post("/api/v1/alerts", content=b'{"name": "a\\\\u0000b"}',
                          headers={**user.headers, "content-type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "a\\u0000b"
