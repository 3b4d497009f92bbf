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

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.storage.engine import (
    SessionFactory,
    create_engine,
    create_session_factory,
    normalise_url,
)
from ntsa_assistant.storage.models import Base
from ntsa_assistant.storage.schema import upgrade_schema

POSTGRES_ENV = "TEST_POSTGRES_URL"


def postgres_server_url() -> str:
    """The PostgreSQL server to test on; skips (or fails under CI) when none is given."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_ENV} is not set, and CI must run the PostgreSQL tests")
    pytest.skip(
        f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped "
        "(set it, e.g. postgresql://postgres@127.0.0.1:5432/test)"
    )


@asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server for the block; dropped afterwards."""
    name = f"ntsa_test_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(normalise_url(server_url)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


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


async def empty_tables(engine: AsyncEngine) -> None:
    """Deletes every row of every model table, children first."""
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))


@pytest.fixture
async def session_factory(db_engine: AsyncEngine) -> SessionFactory:
    """A session factory on emptied tables."""
    await empty_tables(db_engine)
    return create_session_factory(db_engine)
