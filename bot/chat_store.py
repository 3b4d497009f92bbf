"""Each chat's state (button payloads, language): in Redis, for every gateway replica, or
in one file for a gateway alone (:class:`ChatStateFile`).

A PTB persistence that keeps ``chat_data`` only, as JSON: what one process wrote is data to
every other, never code (a pickle from Redis could run anything). Nothing is loaded at
start; a chat's state is read when one of its updates arrives (``refresh_chat_data``), and
written back as soon as a turn has sent its replies (GatewayContext.share_chat_state), or
else a moment after a turn changed it (PTB's ``update_interval``).

Each chat is a hash: ``data`` (the JSON) and ``digest`` (a hash of it). A replica remembers
the digest of what it last read or wrote, so an update reads only the digest unless another
replica changed the chat meanwhile, and a turn's changes not yet written are not replaced by
the older copy in Redis. Two replicas changing one chat at the same moment: the later write
wins.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from telegram.ext import BasePersistence, PersistenceInput, PicklePersistence

from bot.shared_state import SharedRedis

logger = logging.getLogger(__name__)

# A chat quiet this long starts afresh (buttons that old are stale anyway).
CHAT_STATE_SECONDS = 30 * 24 * 60 * 60
# How soon changes made outside a turn's replies (a command, a handoff) reach Redis.
WRITE_INTERVAL_SECONDS = 1.0

ChatData = dict[str, Any]


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


class RedisChatState(BasePersistence[dict[str, Any], ChatData, dict[str, Any]]):
    """``chat_data`` in Redis as JSON; user, bot and callback data are not kept."""

    def __init__(
        self,
        shared: SharedRedis,
        *,
        seconds: int = CHAT_STATE_SECONDS,
        update_interval: float = WRITE_INTERVAL_SECONDS,
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, user_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self._shared = shared
        self._seconds = seconds
        self._known: dict[int, bytes] = {}  # chat id -> digest of what this process has

    def _key(self, chat_id: int) -> str:
        return self._shared.key("chat", chat_id)

    async def get_chat_data(self) -> dict[int, ChatData]:
        """Nothing up front: each chat is read when it writes (:meth:`refresh_chat_data`)."""
        return {}

    async def refresh_chat_data(self, chat_id: int, chat_data: ChatData) -> None:
        key = self._key(chat_id)
        try:
            digest = await self._shared.client.hget(key, "digest")
            if digest is None or digest == self._known.get(chat_id):
                return
            raw = await self._shared.client.hget(key, "data")
        except (RedisError, OSError) as exc:
            logger.warning("Redis unavailable, chat %s state not read: %r", chat_id, exc)
            return
        if not isinstance(raw, bytes):
            return
        try:
            data = json.loads(raw)
        except ValueError:
            logger.error("chat %s: its stored state is not JSON; starting afresh", chat_id)
            return
        if not isinstance(data, dict):
            logger.error("chat %s: its stored state is not an object; starting afresh", chat_id)
            return
        chat_data.clear()
        chat_data.update(data)
        self._known[chat_id] = _digest(raw)

    async def update_chat_data(self, chat_id: int, data: ChatData) -> None:
        try:
            raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        except (TypeError, ValueError):
            logger.exception("chat %s: state that JSON cannot hold is not kept", chat_id)
            return
        digest = _digest(raw)
        if digest == self._known.get(chat_id):
            return
        key = self._key(chat_id)
        try:
            async with self._shared.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"data": raw, "digest": digest})
                pipe.expire(key, self._seconds)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            logger.warning("Redis unavailable, chat %s state not written: %r", chat_id, exc)
            return
        self._known[chat_id] = digest

    async def drop_chat_data(self, chat_id: int) -> None:
        self._known.pop(chat_id, None)
        try:
            await self._shared.client.delete(self._key(chat_id))
        except (RedisError, OSError) as exc:
            logger.warning("Redis unavailable, chat %s state not dropped: %r", chat_id, exc)

    async def flush(self) -> None:
        """Every write went to Redis as it was made."""

    # Nothing else is kept (store_data above); PTB still requires these.

    async def get_user_data(self) -> dict[int, dict[str, Any]]:
        return {}

    async def get_bot_data(self) -> dict[str, Any]:
        return {}

    async def get_callback_data(self) -> None:
        return None

    async def get_conversations(self, name: str) -> dict[Any, object]:
        return {}

    async def update_conversation(self, name: str, key: Any, new_state: object | None) -> None:
        """No ConversationHandler here: Rasa holds the conversation."""

    async def update_user_data(self, user_id: int, data: dict[str, Any]) -> None:
        """User data is not kept."""

    async def update_bot_data(self, data: dict[str, Any]) -> None:
        """Bot data holds live resources (post_init), never kept."""

    async def update_callback_data(self, data: Any) -> None:
        """Callback data is not kept (buttons are in chat_data)."""

    async def drop_user_data(self, user_id: int) -> None:
        """User data is not kept."""

    async def refresh_user_data(self, user_id: int, user_data: dict[str, Any]) -> None:
        """User data is not kept."""

    async def refresh_bot_data(self, bot_data: dict[str, Any]) -> None:
        """Bot data is not kept."""


class ChatStateFile(PicklePersistence[dict[str, Any], ChatData, dict[str, Any]]):
    """One gateway's chat state in one file (no Redis): written once per round of changes.

    PTB's :class:`PicklePersistence`, left to write on every change, rewrites its whole file
    once for each chat whose state changed — a new chat's first turn is one. At the deadline
    rush that is a dozen new chats a second, each rewriting a file of thousands: measured at
    30 turns a second, the event loop stood still for longer every few seconds and the gateway
    answered 23 turns a second. Here the changes PTB hands over every ``update_interval``
    are kept in memory and the file is written once after them (and on a clean stop).
    """

    def __init__(self, path: Path, update_interval: float) -> None:
        super().__init__(
            path,
            store_data=PersistenceInput(bot_data=False, user_data=False, callback_data=False),
            on_flush=True,
            update_interval=update_interval,
        )
        self._writing: asyncio.Task[None] | None = None

    async def update_chat_data(self, chat_id: int, data: ChatData) -> None:
        await super().update_chat_data(chat_id, data)
        self._write_soon()

    async def drop_chat_data(self, chat_id: int) -> None:
        await super().drop_chat_data(chat_id)
        self._write_soon()

    def _write_soon(self) -> None:
        """One write after this round's changes: a write not yet begun takes later ones too
        (PTB hands a round's changes over without yielding to the event loop)."""
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        await asyncio.sleep(0)
        try:
            await self.flush()
        except OSError as exc:  # kept in memory; the next round (or the stop) writes it
            logger.warning("chat state not written to %s: %r", self.filepath, exc)
