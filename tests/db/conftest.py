"""Database fixtures, reusable by every test under ``tests/db``.

``database_url`` runs each test on SQLite (a temporary file) and on PostgreSQL. The
PostgreSQL server comes from ``TEST_POSTGRES_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``); each test session creates its own database
with a random name there and drops it at the end, so parallel runs never collide. Without
``TEST_POSTGRES_URL`` the PostgreSQL runs are skipped, except under CI (``CI`` set), where
that is an error.

``session_factory`` gives a session factory on a database at the newest schema revision,
with every table emptied before the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory
from ntsa_assistant.storage.schema import upgrade_schema
from tests.support.databases import empty_tables, fresh_postgres_database, postgres_server_url


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """The URL of an empty database for this test session, on each backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    async with fresh_postgres_database(postgres_server_url()) as url:
        yield url


@pytest.fixture(scope="session")
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """One engine per backend for the session, on a schema at the newest revision."""
    await upgrade_schema(database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session_factory(db_engine: AsyncEngine) -> SessionFactory:
    """A session factory on emptied tables."""
    await empty_tables(db_engine)
    return create_session_factory(db_engine)
