"""Fixtures for the source tests: a small demo board the app's egress policy allow-lists."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from forest.config import Settings
from forest.database import Database, utcnow
from forest.demo_site.testing import DemoSite, running_demo_site
from forest.security import create_access_token, hash_password
from forest.users.models import User
from tests.conftest import Account, make_settings

DEMO_NOTICES = 30


@pytest.fixture(scope="session")
def demo_site() -> Iterator[DemoSite]:
    """One demo board with 30 notices (three list pages) for the whole session."""
    with running_demo_site(notices=DEMO_NOTICES, seed=11) as site:
        yield site


@pytest.fixture
def demo(demo_site: DemoSite) -> DemoSite:
    """The demo board, freshly reset."""
    demo_site.board.reset()
    return demo_site


@pytest.fixture
def settings(database_url: str, tmp_path: Path, demo_site: DemoSite) -> Settings:
    """The shared test settings, with the demo board's host:port allow-listed for the crawler."""
    return make_settings(database_url, tmp_path, crawl_allow_hosts=[urlsplit(demo_site.base_url).netloc])


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One slow argon2 hash shared by every user these tests create."""
    return hash_password("correct-horse-1")


@pytest.fixture
def make_user(db: Database, settings: Settings, password_hash: str):  # type: ignore[no-untyped-def]
    """Factory like the shared one, without hashing a password per user (these tests never log in)."""

    async def factory(*, admin: bool = False) -> Account:
        email = f"user-{uuid.uuid4().hex[:10]}@example.com"
        async with db.sessionmaker() as session:
            user = User(email=email, password_hash=password_hash, is_admin=admin, created_at=utcnow())
            session.add(user)
            await session.commit()
        token, _ = create_access_token(settings, user.id)
        return Account(user.id, email, "correct-horse-1", {"Authorization": f"Bearer {token}"})

    return factory
