"""Databases for the tests under ``tests/db``: a fresh PostgreSQL database per test session
(from ``TEST_POSTGRES_URL``) and emptying every table between tests. The fixtures that use
these are in ``tests/db/conftest.py``."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.storage.engine import create_engine, normalise_url
from ntsa_assistant.storage.models import Base

if TYPE_CHECKING:
    from bot.shared_state import SharedRedis

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


ReplicaClients = Callable[..., Awaitable[list["SharedRedis"]]]


@asynccontextmanager
async def redis_replicas() -> AsyncIterator[ReplicaClients]:
    """``await make(n)`` (``redis_class=`` for a client class of the test's own): n clients
    of the test's Redis, each with its own connection pool (a gateway replica), under a key
    prefix of the block's own; its keys are deleted and the clients closed afterwards."""
    from redis.asyncio import Redis

    from bot.shared_state import SharedRedis

    url = redis_server_url()
    prefix = f"test:{secrets.token_hex(6)}:"
    made: list[SharedRedis] = []

    async def make(count: int, redis_class: type[Redis] = Redis) -> list[SharedRedis]:
        new = [SharedRedis(redis_class.from_url(url), url, prefix) for _ in range(count)]
        made.extend(new)
        return new

    try:
        yield make
    finally:
        cleaner = Redis.from_url(url)
        async for key in cleaner.scan_iter(match=prefix + "*"):
            await cleaner.delete(key)
        await cleaner.aclose()
        for shared in made:
            await shared.close()
