"""Databases for the tests under ``tests/db``: a fresh PostgreSQL database per test session
(from ``TEST_POSTGRES_URL``) and emptying every table between tests. The fixtures that use
these are in ``tests/db/conftest.py``."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.storage.engine import create_engine, normalise_url
from ntsa_assistant.storage.models import Base

POSTGRES_ENV = "TEST_POSTGRES_URL"
REDIS_ENV = "TEST_REDIS_URL"


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


def redis_server_url() -> str:
    """The Redis to test on (a database of its own); skips (or fails under CI) without one."""
    url = os.environ.get(REDIS_ENV, "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{REDIS_ENV} is not set, and CI must run the Redis tests")
    pytest.skip(f"{REDIS_ENV} is not set: Redis tests skipped (e.g. redis://127.0.0.1:6379/15)")


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


async def empty_tables(engine: AsyncEngine) -> None:
    """Deletes every row of every model table, children first."""
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))
