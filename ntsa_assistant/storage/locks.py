"""Named row locks for counting under concurrency, on SQLite and PostgreSQL.

A transaction that checks a count and then adds to it would race if done one after the
other ("check, then insert"), so it first locks a row per (kind, key) in ``limit_locks``
with an upsert, in a fixed order (no deadlocks). On PostgreSQL ``INSERT … ON CONFLICT DO
UPDATE`` holds the row lock until the transaction ends; on SQLite the upsert, as the
transaction's first statement, takes the single write lock before anything is read (a
writer kept busy is retried by :func:`ntsa_assistant.storage.engine.retry_if_locked`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.storage.models import LimitLock


async def take(session: AsyncSession, names: Iterable[tuple[str, str]], now: datetime) -> None:
    """Locks the row of each (kind, key), created on first use, until the transaction ends.

    Must be the transaction's first statement, so that SQLite's write lock comes first."""
    dialect = (await session.connection()).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for kind, key in sorted(set(names)):
        statement = insert(LimitLock).values(kind=kind, key=key, touched_at=now)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[LimitLock.kind, LimitLock.key], set_={"touched_at": now}
            )
        )
