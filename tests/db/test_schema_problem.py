"""Entry points say in one line why a database cannot serve."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.storage.engine import create_engine
from ntsa_assistant.storage.schema import schema_problem, upgrade_schema


async def test_a_migrated_database_has_no_problem(db_engine: AsyncEngine) -> None:
    assert await schema_problem(db_engine) is None


async def test_an_empty_database_asks_for_migrate(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    try:
        problem = await schema_problem(engine)
    finally:
        await engine.dispose()
    assert problem is not None
    assert re.fullmatch(
        r"the database schema is at revision none, not \w+: "
        r"run 'ntsa-assistant migrate' \(make run does it\)",
        problem,
    ), problem
    await upgrade_schema(f"sqlite+aiosqlite:///{tmp_path}/empty.db")


async def test_an_unreachable_database_is_named() -> None:
    engine = create_engine("postgresql://nobody@127.0.0.1:1/none")
    try:
        problem = await schema_problem(engine)
    finally:
        await engine.dispose()
    assert problem is not None
    assert problem.startswith("the database is unreachable ("), problem
