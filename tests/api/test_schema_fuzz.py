"""Property-based pass over the OpenAPI schema: no input may cause a 5xx or a response off the schema."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from starlette_testclient import TestClient  # requests-based: what schemathesis 3 validates

from forest.app import create_app
from forest.cli import migrate
from forest.database import Database
from forest.security import create_access_token
from forest.users import service as users
from tests.conftest import make_settings

VAR = Path(__file__).parent / ".schema-fuzz"


def _build() -> tuple[object, dict[str, str]]:
    import shutil

    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    conf = make_settings(f"sqlite+aiosqlite:///{VAR / 'forest.db'}", VAR)
    migrate.upgrade("head", conf)

    async def admin() -> int:
        db = Database.from_settings(conf)
        async with db.sessionmaker() as session:
            user = await users.create(session=session, email="fuzz-admin@example.com", password="fuzz-password", is_admin=True)
        await db.dispose()
        return user.id

    token, _ = create_access_token(conf, asyncio.run(admin()))
    return create_app(conf), {"Authorization": f"Bearer {token}"}


schemathesis.experimental.OPEN_API_3_1.enable()
APP, HEADERS = _build()
schema = schemathesis.from_asgi("/openapi.json", APP)  # type: ignore[arg-type]
# Operations that reach out to the network (fetching a source's first page) are left out: fuzzed
# URLs could name real hosts, and this suite never leaves the machine.
schema = schema.exclude(path_regex=r"/validate$")


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    with TestClient(APP, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        yield client


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_on_any_input(case: schemathesis.Case, api: TestClient) -> None:
    response = case.call(session=api, base_url="http://testserver", headers=HEADERS)
    case.validate_response(response, checks=(not_a_server_error, status_code_conformance, response_schema_conformance))
