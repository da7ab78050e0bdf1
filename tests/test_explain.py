"""`Explain`: plans of bound statements, whatever text their values hold."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from forest.bids.models import Bid
from forest.database import Database
from forest.explain import Explain


@pytest.mark.parametrize("value", ["x :abc", "산림 :자원", "%(x)s $1 ?", "O'Brien \\ %", ":a::text"])
async def test_explain_keeps_values_as_parameters(db: Database, backend: str, value: str) -> None:
    stmt = select(Bid.id).where(Bid.title.ilike(value), Bid.department == value)
    async with db.sessionmaker() as session:
        if backend == "postgres":
            raw = (await session.execute(Explain(stmt, options="FORMAT JSON"))).scalar_one()
            plan = json.loads(raw) if isinstance(raw, str) else raw
            assert plan[0]["Plan"]["Plan Rows"] >= 0
        else:
            rows = (await session.execute(Explain(stmt))).all()
            assert rows and all(isinstance(row[3], str) for row in rows)
