"""Drops updates already seen (same ``update_id``): Telegram may deliver one twice."""

from __future__ import annotations

import logging
from collections import OrderedDict

from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.context import GatewayContext

logger = logging.getLogger(__name__)


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


def handlers() -> list[BaseHandler]:
    seen = SeenUpdates()

    async def drop_duplicates(update: Update, _context: GatewayContext) -> None:
        if not seen.first_time(update.update_id):
            logger.info("duplicate update %s dropped", update.update_id)
            raise ApplicationHandlerStop

    return [TypeHandler(Update, drop_duplicates)]
