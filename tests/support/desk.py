"""The agents' desk in the end-to-end tests: the one forum group the session's gateway
relays to (``SUPPORT_CHAT_ID``), what the bot sent into its topics, the gateway's clock,
and the handoff rows in the e2e SQLite database.

The session fixtures (tests/conftest.py) register the group in the emulator and configure
the gateway with :func:`desk_env`; tests/e2e/test_handoff.py reads the desk through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ntsa_assistant.core.i18n import t
from tests.support.processes import RunningService

DESK_CHAT_ID = -1_001_777_000_001
# Telegram's group limit is about 20 a minute; the tests pace over seconds, not a minute.
DESK_MESSAGES = 5
DESK_SECONDS = 2.0
# Methods that make a message in a chat (edits and topic calls don't).
MESSAGE_METHODS = frozenset(
    {"sendMessage", "copyMessage", "copyMessages", "sendPhoto", "sendVoice", "sendDocument"}
)
GATEWAY_READY_WITHIN = 60.0

T = TypeVar("T")


def desk_env() -> dict[str, str]:
    """The gateway's settings for the desk group and its pace."""
    return {
        "SUPPORT_CHAT_ID": str(DESK_CHAT_ID),
        "SUPPORT_GROUP_MESSAGES": str(DESK_MESSAGES),
        "SUPPORT_GROUP_SECONDS": str(DESK_SECONDS),
    }


# --- waiting for what the bot sends -------------------------------------------------------


async def wait_until(check: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:  # noqa: ASYNC109
    """Polls ``check`` until it returns something (not None, not empty); fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        await asyncio.sleep(0.01)


def desk_messages(telegram: Any) -> list[dict[str, Any]]:
    """Every message the bot made in the desk group, in order."""
    return [m for m in telegram.outbox(DESK_CHAT_ID) if m["method"] in MESSAGE_METHODS]


def in_topic(telegram: Any, thread: int) -> list[dict[str, Any]]:
    """The bot's messages in one topic of the desk, in order."""
    return [m for m in desk_messages(telegram) if m.get("message_thread_id") == thread]


async def topic_messages(
    telegram: Any,
    thread: int,
    count: int,
    timeout: float = 20.0,  # noqa: ASYNC109
) -> list[dict[str, Any]]:
    """The topic's messages once it holds at least ``count`` of them."""

    def enough() -> list[dict[str, Any]] | None:
        found = in_topic(telegram, thread)
        return found if len(found) >= count else None

    try:
        return await wait_until(enough, f"{count} message(s) in desk topic {thread}", timeout)
    except TimeoutError as exc:
        got = [m.get("text") or m.get("caption") for m in in_topic(telegram, thread)]
        raise TimeoutError(f"{exc}; got {got}") from None


def topic_name(telegram: Any, thread: int) -> str | None:
    """The live name of a desk topic (None once it was deleted)."""
    for topic in telegram.topics(DESK_CHAT_ID):
        if topic["message_thread_id"] == thread:
            return str(topic["name"])
    return None


# --- the gateway's clock --------------------------------------------------------------------


async def restart_gateway(
    gateway: RunningService, telegram: Any, probe_chat: int, **env: str | None
) -> None:
    """Restarts the gateway and waits until it answers again (a /start round trip)."""
    await gateway.restart(**env)
    telegram.push_command(probe_chat, "/start")
    [reply] = await telegram.wait_for_messages(probe_chat, count=1, timeout=GATEWAY_READY_WITHIN)
    assert reply["text"] == t("en", "common.start")


class GatewayClock:
    """The gateway's ``ASSISTANT_NOW`` (working hours, the queue), restarting it only when
    the value changes; ``None`` is real time, as every module starts and ends."""

    def __init__(self, gateway: RunningService, telegram: Any, probe_chat: int) -> None:
        self._gateway, self._telegram = gateway, telegram
        self._probe = probe_chat
        self.now: str | None = None

    async def set(self, now: str | None) -> None:
        if now == self.now:
            return
        await self.restart(ASSISTANT_NOW=now)
        self.now = now

    async def restart(self, **env: str | None) -> None:
        """A restart (the same settings unless ``env`` changes some), ready when it returns."""
        self._probe += 1
        await restart_gateway(self._gateway, self._telegram, self._probe, **env)


# --- the database ------------------------------------------------------------------------------


def _connect(database_url: str) -> sqlite3.Connection:
    db = sqlite3.connect(database_url.split(":///", 1)[1], timeout=10)
    db.row_factory = sqlite3.Row
    return db


def handoffs(database_url: str, chat_id: int) -> list[dict[str, Any]]:
    """The chat's handoffs, oldest first, as rows of ``handoffs``."""
    with _connect(database_url) as db:
        rows = db.execute("SELECT * FROM handoffs WHERE chat_id = ? ORDER BY id", (chat_id,))
        return [dict(row) for row in rows]


def desk_thread(database_url: str, chat_id: int) -> int | None:
    """The person's topic in the desk, as the gateway recorded it (None: not made yet)."""
    with _connect(database_url) as db:
        row = db.execute("SELECT thread_id FROM desk_topics WHERE chat_id = ?", (chat_id,))
        found = row.fetchone()
    return None if found is None else found["thread_id"]


def pending_desk_items(database_url: str) -> int:
    """Desk outbox items not sent yet (and not given up on)."""
    with _connect(database_url) as db:
        query = "SELECT count(*) FROM desk_outbox WHERE sent_at IS NULL AND attempts < 8"
        return int(db.execute(query).fetchone()[0])


async def forget_handoffs(database_url: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Once the desk outbox is sent, removes every handoff, topic and desk item, so a test's
    queue place and wait estimate don't depend on the tests before it."""
    with contextlib.suppress(TimeoutError):  # what never went out is dropped all the same
        await wait_until(
            lambda: not pending_desk_items(database_url), "a sent desk outbox", timeout
        )
    with _connect(database_url) as db:
        for table in ("desk_outbox", "handoffs", "desk_topics"):
            db.execute(f"DELETE FROM {table}")
