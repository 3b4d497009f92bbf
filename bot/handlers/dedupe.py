"""Drops updates already seen (same ``update_id``): Telegram may deliver one twice.

In one process the last ids are kept in memory (:class:`SeenUpdates`). With Redis
(:class:`SharedSeenUpdates`) an id is claimed with ``SET NX`` and a TTL, so an update that
reaches two replicas, or a replica and its successor after a restart, is taken once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Protocol

from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.context import GatewayContext
from bot.shared_state import SharedRedis

logger = logging.getLogger(__name__)

# Telegram keeps an undelivered update for 24 hours; no copy of one can come later.
SEEN_SECONDS = 24 * 60 * 60


class Seen(Protocol):
    async def claim(self, update_id: int) -> bool:
        """True the first time ``update_id`` is seen (here or, if shared, by any replica)."""
        ...


class SeenUpdates:
    """The last ``capacity`` update ids, in arrival order."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, update_id: int) -> bool:
        if update_id in self._ids:
            return False
        self._ids[update_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    async def claim(self, update_id: int) -> bool:
        return self.first_time(update_id)


class SharedSeenUpdates:
    """Update ids claimed in Redis by whichever replica saw them first."""

    def __init__(self, shared: SharedRedis, seconds: int = SEEN_SECONDS) -> None:
        self._shared = shared
        self._seconds = seconds

    async def claim(self, update_id: int) -> bool:
        try:
            claimed = await self._shared.client.set(
                self._shared.key("update", update_id), 1, nx=True, ex=self._seconds
            )
        except (RedisError, OSError) as exc:
            # Better a rare duplicate answer than a bot that answers nobody.
            logger.warning("Redis unavailable, update %s not de-duplicated: %r", update_id, exc)
            return True
        return bool(claimed)


def seen_updates(shared: SharedRedis | None) -> Seen:
    """Shared through Redis when there is one, else this process's memory."""
    return SeenUpdates() if shared is None else SharedSeenUpdates(shared)


def handlers(shared: SharedRedis | None = None) -> list[BaseHandler]:
    seen = seen_updates(shared)

    async def drop_duplicates(update: Update, _context: GatewayContext) -> None:
        if not await seen.claim(update.update_id):
            logger.info("duplicate update %s dropped", update.update_id)
            raise ApplicationHandlerStop

    return [TypeHandler(Update, drop_duplicates)]
