"""Engine and session factory: one engine per process, one session per unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, CursorResult, Result, delete, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

SessionFactory = async_sessionmaker[AsyncSession]


def normalise_url(url: str) -> str:
    """Accepts ``postgresql://`` and ``sqlite://`` URLs and picks the async driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, **kwargs: object) -> AsyncEngine:
    """Creates the process's engine; for SQLite, the file's folder and foreign keys too."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(
            dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry
        ) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def claimed_rows(result: Result[Any]) -> int:
    """How many rows an ``UPDATE … WHERE`` changed: 1 when this caller won a claim."""
    if not isinstance(result, CursorResult):
        raise TypeError("an UPDATE returns a CursorResult")
    return int(result.rowcount)


T = TypeVar("T")


def _is_sqlite_lock(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


async def retry_if_locked(attempt: Callable[[], Awaitable[T]]) -> T:
    """Runs ``attempt`` again when SQLite's single writer stayed busy past its timeout."""
    async for retry in AsyncRetrying(
        retry=retry_if_exception(_is_sqlite_lock),
        stop=stop_after_attempt(8),
        wait=wait_random_exponential(multiplier=0.05, max=2),
        reraise=True,
    ):
        with retry:
            return await attempt()
    raise AssertionError("unreachable")  # pragma: no cover


async def delete_rows(
    session: AsyncSession,
    model: type[DeclarativeBase],
    condition: ColumnElement[bool],
    *,
    dry_run: bool = False,
) -> int:
    """Deletes the rows of ``model`` that meet ``condition`` (``dry_run``: only counts them);
    how many, in the session's transaction."""
    if dry_run:
        counted = await session.scalar(select(func.count()).select_from(model).where(condition))
        return int(counted or 0)
    statement = delete(model).where(condition).execution_options(synchronize_session=False)
    return claimed_rows(await session.execute(statement))
