"""Fixtures for the crawler tests: sessions on the test database and a source to hang bids on.

The demo board (`demo_site`, `demo`: 120 notices) and the databases come from tests/plugin.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from forest.sources.models import Source


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on this test's clean, migrated database (PostgreSQL or SQLite)."""
    engine = create_async_engine(database_url)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


@pytest.fixture
async def source_id(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """One Source row to hang bids on."""
    async with sessionmaker() as session, session.begin():
        source = Source(
            name="산림청 입찰공고", start_url="https://www.forest.go.kr/kfs/bid/list.do", preset="egov_board"
        )
        session.add(source)
        await session.flush()
        return source.id
