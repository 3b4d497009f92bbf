"""Retention of Rasa's stored conversations: a conversation goes whole once its newest event
is older than the period, in the tracker store that Rasa would use for the app's database
(a file beside the SQLite one; schema ``rasa`` of the PostgreSQL one). On both backends.

The table has the shape of Rasa 3.6's ``SQLTrackerStore`` (``rasa/core/tracker_store.py``,
``SQLEvent``), which ``nlu/ntsa_rasa/tracker_store.py`` keeps; Rasa itself lives in another
environment, so it is made here with SQLAlchemy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.cli import EXIT_OK, build_parser
from ntsa_assistant.cli.retention import purge_all
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.conversations import (
    ConversationRetention,
    async_tracker_url,
    purge,
    tracker_store_url,
)
from ntsa_assistant.storage.engine import SessionFactory, create_engine

# Rasa stamps events with the real clock, and the purge never looks later than that: the
# tests' "now" is in the past.
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
KEEP = ConversationRetention(conversations=timedelta(days=30))  # the default period


def rasa_events(schema: str | None) -> Table:
    """Rasa 3.6's ``events`` table."""
    return Table(
        "events",
        MetaData(schema=schema),
        Column("id", Integer, primary_key=True),
        Column("sender_id", String(255), nullable=False, index=True),
        Column("type_name", String(255), nullable=False),
        Column("timestamp", Float),
        Column("intent_name", String(255)),
        Column("action_name", String(255)),
        Column("data", Text),
    )


@dataclass
class Store:
    """Where a table of Rasa's shape is, and an engine to read and write it."""

    engine: AsyncEngine
    events: Table

    async def add(self, sender: str, *ages: timedelta, now: datetime = NOW) -> None:
        """One conversation: an event ``age`` before ``now`` for each age."""
        rows = [
            {"sender_id": sender, "type_name": "user", "timestamp": (now - age).timestamp()}
            for age in ages
        ]
        async with self.engine.begin() as connection:
            await connection.execute(insert(self.events), rows)

    async def events_per_sender(self) -> dict[str, int]:
        count = select(self.events.c.sender_id, func.count()).group_by(self.events.c.sender_id)
        async with self.engine.connect() as connection:
            return {sender: n for sender, n in (await connection.execute(count)).all()}


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file_exists(url: str) -> bool:
    return Path(str(make_url(url).database)).exists()


def _remove_sqlite_file(url: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(make_url(url).database) + suffix).unlink(missing_ok=True)


def _files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


@pytest.fixture
async def tracker(database_url: str) -> AsyncIterator[Store]:
    """Rasa's table where Rasa keeps it for this test's database; gone afterwards."""
    url = tracker_store_url(database_url)
    sqlite = _is_sqlite(url)
    store = Store(create_engine(async_tracker_url(url)), rasa_events(None if sqlite else "rasa"))
    try:
        async with store.engine.begin() as connection:
            if not sqlite:
                await connection.execute(text("CREATE SCHEMA rasa"))
            await connection.run_sync(store.events.metadata.create_all)
        yield store
    finally:
        async with store.engine.begin() as connection:
            if sqlite:
                await connection.run_sync(store.events.metadata.drop_all)
            else:
                await connection.execute(text("DROP SCHEMA IF EXISTS rasa CASCADE"))
        await store.engine.dispose()
        if sqlite:
            _remove_sqlite_file(url)


@pytest.fixture
async def elsewhere(database_url: str, session_factory: SessionFactory) -> AsyncIterator[Store]:
    """A table of the same name outside Rasa's store: the app's own database (SQLite), the
    default schema of the same database (PostgreSQL)."""
    store = Store(create_engine(database_url), rasa_events(None))
    async with store.engine.begin() as connection:
        await connection.run_sync(store.events.metadata.create_all)
    try:
        yield store
    finally:
        async with store.engine.begin() as connection:
            await connection.run_sync(store.events.metadata.drop_all)
        await store.engine.dispose()


async def test_a_conversation_goes_whole_once_its_newest_event_is_past_the_period(
    tracker: Store, elsewhere: Store, database_url: str
) -> None:
    await tracker.add("old", 60 * DAY, 45 * DAY, 31 * DAY)
    await tracker.add("just-past", 30 * DAY + HOUR)
    await tracker.add("came-back", 90 * DAY, 60 * DAY, DAY)  # old start, recent end
    await tracker.add("just-inside", 40 * DAY, 30 * DAY - HOUR)
    await elsewhere.add("not-rasas", 90 * DAY)

    counts = await purge(tracker_store_url(database_url), NOW, KEEP)

    assert counts == {"conversations": 2}
    assert await tracker.events_per_sender() == {"came-back": 3, "just-inside": 2}
    assert await elsewhere.events_per_sender() == {"not-rasas": 1}


async def test_a_dry_run_counts_conversations_and_deletes_nothing(
    tracker: Store, database_url: str
) -> None:
    await tracker.add("old", 40 * DAY, 35 * DAY)
    await tracker.add("recent", 40 * DAY, HOUR)

    counts = await purge(tracker_store_url(database_url), NOW, KEEP, dry_run=True)

    assert counts == {"conversations": 1}
    assert await tracker.events_per_sender() == {"old": 2, "recent": 2}


async def test_a_backlog_larger_than_a_batch_goes_batch_by_batch(
    tracker: Store, database_url: str
) -> None:
    """Recent conversations between the old ones (in sender order) neither stop the batches
    nor go with them."""
    for n in range(9):
        await tracker.add(f"chat-{n}", 50 * DAY, (40 if n % 3 else 2) * DAY)

    counts = await purge(tracker_store_url(database_url), NOW, KEEP, batch_size=2)

    assert counts == {"conversations": 6}
    assert await tracker.events_per_sender() == {"chat-0": 2, "chat-3": 2, "chat-6": 2}


async def test_a_longer_period_keeps_more(tracker: Store, database_url: str) -> None:
    await tracker.add("forty-days", 40 * DAY)
    await tracker.add("sixty-days", 60 * DAY)
    longer = ConversationRetention.from_settings(
        Settings(_env_file=None, retention_conversations_days=50)
    )

    assert await purge(tracker_store_url(database_url), NOW, longer) == {"conversations": 1}
    assert await tracker.events_per_sender() == {"forty-days": 1}


async def test_a_clock_set_ahead_does_not_make_live_conversations_old(
    tracker: Store, database_url: str
) -> None:
    """ASSISTANT_NOW a year ahead (a demo): Rasa's stamps are real time, so only what is
    old by the real clock goes."""
    real_now = datetime.now(UTC)
    await tracker.add("live", 2 * HOUR, HOUR, now=real_now)
    await tracker.add("old", 31 * DAY, now=real_now)

    counts = await purge(tracker_store_url(database_url), real_now + 365 * DAY, KEEP)

    assert counts == {"conversations": 1}
    assert await tracker.events_per_sender() == {"live": 2}


async def test_a_store_rasa_never_wrote_has_nothing_to_purge(database_url: str) -> None:
    """No table (no ``rasa`` schema; no SQLite file, and none is made)."""
    url = tracker_store_url(database_url)

    assert await purge(url, NOW, KEEP) == {"conversations": 0}
    assert await purge(url, NOW, KEEP, dry_run=True) == {"conversations": 0}
    if _is_sqlite(url):
        assert not _sqlite_file_exists(url)


async def test_an_sqlite_file_without_the_table_has_nothing_to_purge(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rasa-trackers.db'}"
    engine = create_engine(async_tracker_url(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE other (id INTEGER)"))
    finally:
        await engine.dispose()

    assert await purge(url, NOW, KEEP) == {"conversations": 0}


@pytest.mark.parametrize("configured", [False, True], ids=["derived", "TRACKER_STORE_URL"])
async def test_the_whole_purge_finds_rasas_store_as_rasa_does(
    session_factory: SessionFactory,
    tracker: Store,
    database_url: str,
    tmp_path: Path,
    configured: bool,
) -> None:
    """Beside DATABASE_URL; or, with TRACKER_STORE_URL set, there and only there (the
    database named here would put the store in an empty folder)."""
    await tracker.add("old", 31 * DAY)
    await tracker.add("recent", DAY)
    if configured:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'assistant.db'}",
            tracker_store_url=tracker_store_url(database_url),
        )
    else:
        settings = Settings(_env_file=None, database_url=database_url)

    counts = await purge_all(session_factory, settings, NOW)

    assert counts["conversations"] == 1
    assert list(counts)[-1] == "conversations"
    assert await tracker.events_per_sender() == {"recent": 1}
    assert _files_in(tmp_path) == []


async def test_the_purge_command_prints_the_conversations(
    session_factory: SessionFactory,
    tracker: Store,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await tracker.add("old", 31 * DAY)
    await tracker.add("older", 300 * DAY)
    await tracker.add("recent", DAY)

    outcomes = []
    for argv in (["purge", "--dry-run"], ["purge"]):
        args = build_parser().parse_args(argv)
        settings = Settings(_env_file=None, database_url=database_url, assistant_now=NOW)
        outcomes.append(await asyncio.to_thread(args.handler, args, settings))
    dry_out, done_out = capsys.readouterr().out.split("retention purge of ")[1:]

    assert outcomes == [EXIT_OK, EXIT_OK]
    assert dry_out.splitlines()[-1] == "conversations            would purge 2"
    assert done_out.splitlines()[-1] == "conversations            purged 2"
    assert await tracker.events_per_sender() == {"recent": 1}
