"""Rasa's stored conversations: where they live, and their retention purge (README,
"Retention").

Rasa keeps each conversation as rows of its ``events`` table (``nlu/ntsa_rasa/
tracker_store.py``: Rasa's SQL tracker store with every payload encrypted), in a store of its
own — ``TRACKER_STORE_URL``, else derived from ``DATABASE_URL`` by :func:`tracker_store_url`.
The Rasa process (``tools/stack.py``) and the purge find it with the same function, so the
purge empties the store that Rasa fills.

A conversation goes whole once its newest event is older than the period: then nobody is
in the middle of it, and a person who writes again starts a new session anyway (Rasa's
sessions expire after an hour). Its slots carried over from session to session (an ID
number, a phone) go with it. Rasa's events are stamped by the real clock, never by
``ASSISTANT_NOW``, so a clock set ahead (a demo) must not make live conversations look old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import (
    Delete,
    Float,
    String,
    TableClause,
    column,
    delete,
    func,
    inspect,
    select,
    table,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import create_engine, normalise_url, retry_if_locked

KINDS = ("conversations",)
# Beside an SQLite database of the app, Rasa's conversations are a file of their own, so
# that Rasa's synchronous writes never wait on the app's (nor the app's on Rasa's).
TRACKER_DB_NAME = "rasa-trackers.db"
# On PostgreSQL the tracker store keeps its table in a schema of its own (the same name as
# nlu/ntsa_rasa/tracker_store.py's POSTGRES_SCHEMA), so the app's migrations never meet it.
POSTGRES_SCHEMA = "rasa"
EVENTS_TABLE = "events"
# Conversations deleted per transaction: a large backlog never holds the table (or, on
# SQLite, the single writer that Rasa waits for) for long.
BATCH_SIZE = 500


@dataclass(frozen=True)
class ConversationRetention:
    conversations: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversationRetention:
        return cls(conversations=timedelta(days=settings.retention_conversations_days))


def tracker_store_url(database_url: str, *, root: Path | None = None) -> str:
    """Rasa's tracker store (a synchronous SQLAlchemy 1.4 URL) for the app's database.

    SQLite: a file of its own beside the app's; a relative path is taken from ``root``
    (default: the working directory, where the app opens ``DATABASE_URL`` too).
    PostgreSQL: the same database through psycopg2 (the tracker store keeps its table in a
    schema of its own, ``rasa``).
    """
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        base = Path.cwd() if root is None else root
        database = url.database
        folder = (base / database).parent if database and database != ":memory:" else base / "var"
        return f"sqlite:///{folder / TRACKER_DB_NAME}"
    if backend == "postgresql":
        query = dict(url.query)
        if "ssl" in query:  # asyncpg's name for what libpq (psycopg2) calls sslmode
            query.setdefault("sslmode", query.pop("ssl"))
        url = url.set(drivername="postgresql+psycopg2", query=query)
        return url.render_as_string(hide_password=False)
    raise ValueError(
        f"no tracker store for a {backend} DATABASE_URL: set TRACKER_STORE_URL "
        "(an SQLAlchemy URL for sqlite or postgresql)"
    )


def configured_tracker_store_url(settings: Settings) -> str:
    """The tracker store as the Rasa process finds it: ``TRACKER_STORE_URL`` when set,
    else :func:`tracker_store_url` of ``DATABASE_URL``."""
    return settings.tracker_store_url or tracker_store_url(settings.database_url)


def async_tracker_url(url: str) -> str:
    """The tracker store's synchronous URL with the app's async driver (aiosqlite, asyncpg)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"tracker store: {backend} is not supported (use sqlite or postgresql)")
    parsed = make_url(normalise_url(url))
    query = dict(parsed.query)
    if backend == "postgresql" and "sslmode" in query:  # libpq's name; asyncpg's is ssl
        query.setdefault("ssl", query.pop("sslmode"))
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def _events(schema: str | None) -> TableClause:
    """The columns of Rasa's ``events`` table that the purge reads."""
    return table(
        EVENTS_TABLE,
        column("sender_id", String),
        column("timestamp", Float),
        schema=schema,
    )


async def purge(
    tracker_url: str,
    now: datetime,
    keep: ConversationRetention,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> dict[str, int]:
    """Deletes every event of each conversation whose newest event is older than the
    period (``dry_run``: only counts); how many conversations.

    A store that Rasa never wrote (no SQLite file, no ``events`` table) has none: nothing
    is created. Batches go in ``sender_id`` order, each its own transaction; an event
    stamped after the cutoff is never deleted, even if its conversation came back to life
    while the purge ran.
    """
    url = async_tracker_url(tracker_url)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    if sqlite and not _sqlite_file_exists(url):
        return {"conversations": 0}
    cutoff = (min(now, datetime.now(UTC)) - keep.conversations).timestamp()
    engine = create_engine(url)
    try:
        events = _events(None if sqlite else POSTGRES_SCHEMA)
        if not await _has_events(engine, events.schema):
            return {"conversations": 0}
        return {"conversations": await _purge(engine, events, cutoff, dry_run, batch_size)}
    finally:
        await engine.dispose()


def _sqlite_file_exists(url: str) -> bool:
    """Whether Rasa made the SQLite file (connecting would create an empty one)."""
    database = make_url(url).database
    return bool(database) and database != ":memory:" and Path(str(database)).is_file()


async def _has_events(engine: AsyncEngine, schema: str | None) -> bool:
    def has(connection: Connection) -> bool:
        return inspect(connection).has_table(EVENTS_TABLE, schema=schema)

    async with engine.connect() as connection:
        return await connection.run_sync(has)


async def _purge(
    engine: AsyncEngine, events: TableClause, cutoff: float, dry_run: bool, batch_size: int
) -> int:
    """Batch after batch, each picked after the last one's ``sender_id`` (the table's
    index), so that neither the conversations kept nor those just deleted are read again."""
    purged, after = 0, None
    while True:
        old = (
            select(events.c.sender_id)
            .group_by(events.c.sender_id)
            .having(func.max(events.c.timestamp) < cutoff)
            .order_by(events.c.sender_id)
            .limit(batch_size)
        )
        if after is not None:
            old = old.where(events.c.sender_id > after)
        async with engine.connect() as connection:
            senders = list((await connection.scalars(old)).all())
        if not dry_run and senders:
            gone = (
                delete(events)
                .where(events.c.sender_id.in_(senders))
                .where(events.c.timestamp < cutoff)
            )
            await retry_if_locked(partial(_execute, engine, gone))
        purged += len(senders)
        if len(senders) < batch_size:
            return purged
        after = senders[-1]


async def _execute(engine: AsyncEngine, statement: Delete) -> None:
    async with engine.begin() as connection:
        await connection.execute(statement)
