"""Engine and session factory: one engine per process, one session per unit of work.

A database that cannot be reached is a passing outage, not a bug: :func:`unreachable`
tells such an error from the others (callers apologise with "try again in a minute"), and
the pool recovers by itself once the database is back — on PostgreSQL every connection is
pinged as it leaves the pool (``pool_pre_ping``), so one that an outage broke while idle
is replaced instead of failing the next unit of work. Connecting is given
:data:`CONNECT_TIMEOUT_SECONDS`, and a process that answers people may give each statement
a limit (``statement_timeout``), so that a database that hangs becomes an apology within
a turn rather than a turn that waits for as long as it hangs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, CursorResult, Result, delete, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
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

# PostgreSQL: a new connection that takes longer than this will not come (asyncpg's own
# default is 60 s, during which the unit of work that asked for it waits).
CONNECT_TIMEOUT_SECONDS = 3.0
# PostgreSQL: how long a unit of work waits for a free connection of the pool (SQLAlchemy's
# default: 30 s). Statements take milliseconds; a pool still busy after this is stuck on a
# database that does not answer, and waiting longer only delays the apology.
POOL_TIMEOUT_SECONDS = 5.0
# A limit for each statement of a process that answers people (the gateway, the action
# server, the FAQ page): the gateway waits 8 s for an answer (RASA_TIMEOUT_SECONDS), and
# our statements take milliseconds. Not the default: migrations, imports, the report and
# the purge may legitimately run longer.
TURN_STATEMENT_TIMEOUT_SECONDS = 3.0


def normalise_url(url: str) -> str:
    """Accepts ``postgresql://`` and ``sqlite://`` URLs and picks the async driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def create_engine(
    url: str, *, statement_timeout: float | None = None, **kwargs: Any
) -> AsyncEngine:
    """Creates the process's engine; for SQLite, the file's folder and foreign keys too.

    PostgreSQL: connections pinged as they leave the pool, a connect timeout, a pool
    timeout and, when given, ``statement_timeout`` seconds for each statement (asyncpg's
    ``command_timeout``: measured by the client, so it holds also when the server or the
    network hangs). ``kwargs`` go to :func:`create_async_engine` and win over these.
    """
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
    connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_SECONDS}
    if statement_timeout is not None:
        connect_args["command_timeout"] = statement_timeout
    connect_args.update(kwargs.pop("connect_args", None) or {})
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_timeout": POOL_TIMEOUT_SECONDS}
    options.update(kwargs)
    return create_async_engine(url, connect_args=connect_args, **options)


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) means the database could not be reached, or
    the connection to it broke or timed out: a passing outage, worth an apology and a try
    later, not a bug. Refused and reset connections, timeouts (connect, statement, pool),
    a server shutting down or starting up, SQLite's file unreachable or its writer busy."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, (OSError, TimeoutError, PoolTimeout)):
            return True
        if _names_an_outage(cause):
            return True
        orig = cause.orig if isinstance(cause, DBAPIError) else None
        cause = orig or cause.__cause__ or cause.__context__
    return False


# The drivers' own names for "not reachable now" (asyncpg: connection errors, SQLSTATE
# class 08, and 57P01-57P03 — admin shutdown, crash shutdown, cannot connect now), matched
# by name so that this module imports no driver.
_OUTAGE_NAMES = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "PostgresConnectionError",
        "ClientCannotConnectError",
        "CannotConnectNowError",
        "AdminShutdownError",
        "CrashShutdownError",
    }
)
_SQLITE_OUTAGES = ("unable to open database file", "disk I/O error", "database is locked")


def _names_an_outage(error: BaseException) -> bool:
    if any(kind.__name__ in _OUTAGE_NAMES for kind in type(error).__mro__):
        return True
    is_sqlite = type(error).__module__.startswith(("sqlite3", "aiosqlite"))
    return is_sqlite and any(text in str(error) for text in _SQLITE_OUTAGES)


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
