"""The pace of a broadcast: within Telegram's limits, and leaving room for live answers.

Telegram lets one bot token send about 30 messages a second overall and about one a second
into one chat; past that it answers 429 with ``retry_after``. A broadcast sends at most
:data:`OVERALL_PER_SECOND` (25) in any one-second window, evenly spaced, one message per chat
per :data:`PER_CHAT_SECONDS`, and after a 429 nothing until ``retry_after`` has passed.

The gateway answers people through the same token at the same time. With ``REDIS_URL`` the
gateway replicas share one 30-a-second budget in Redis (``ntsa_assistant/core/
telegram_budget.py``); a broadcast then takes each message from that same budget too
(:class:`SharedBudget`), so live answers and the broadcast together keep to 30 a second,
and a 429 seen by either pauses both.
Without Redis (one gateway) the gateway does not know of the broadcast: 25 a second leaves it
5, and if live traffic needs more, Telegram's 429 makes both wait and retry — nothing is lost.

In the process, ``aiolimiter`` spaces the sends evenly.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiolimiter import AsyncLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ntsa_assistant.core.telegram_budget import SharedTelegramBudget

logger = logging.getLogger(__name__)

OVERALL_PER_SECOND = 25
PER_CHAT_SECONDS = 1.0
# A window's slot frees just after its oldest entry leaves; this margin keeps a message that
# arrives at Telegram a little late from landing in the window before it.
_MARGIN = 0.02
# Sends 43 ms apart rather than 40 (about 23 a second): a message that reaches Telegram up
# to 75 ms later than the one before it still never makes 26 in one second.
_SPACING_MARGIN = 0.003

REDIS_TIMEOUT_SECONDS = 2.0


class SharedBudget:
    """The token's budget and its 429 pause, shared with the gateway replicas
    (:class:`ntsa_assistant.core.telegram_budget.SharedTelegramBudget`, the same keys)."""

    def __init__(self, redis_url: str, key_prefix: str) -> None:
        self._client = Redis.from_url(
            redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._budget = SharedTelegramBudget(self._client, key_prefix)
        self._warned = False

    async def take(self) -> None:
        """Waits out a pause any sender set, then for this send's turn in the budget."""
        try:
            await self._budget.take()
        except (RedisError, OSError) as exc:
            # The broadcast's own pace still holds; Telegram answers any excess with a 429.
            if not self._warned:
                logger.warning("Redis unavailable, Telegram budget not shared: %r", exc)
                self._warned = True

    async def pause(self, seconds: float) -> None:
        await self._budget.pause(seconds)

    async def close(self) -> None:
        await self._client.aclose()


class Pacer:
    """Hands out the right to send one message, evenly spaced at the broadcast's pace."""

    def __init__(
        self,
        per_second: int = OVERALL_PER_SECOND,
        per_chat_seconds: float = PER_CHAT_SECONDS,
        shared: SharedBudget | None = None,
    ) -> None:
        # A bucket that holds one send: sends leave evenly spaced, never in a burst, so no
        # second (however its edges fall) holds more than ``per_second`` of them.
        self._limiter = AsyncLimiter(1, 1.0 / per_second + _SPACING_MARGIN)
        self._per_chat = per_chat_seconds
        self._shared = shared
        self._last_sent: dict[int, float] = {}  # chat -> time.monotonic() of its last send
        self._paused_until = 0.0  # time.monotonic()

    @property
    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    async def wait_unpaused(self) -> None:
        # A later 429 may push the end further while this one sleeps: look again.
        left = self._paused_until - time.monotonic()
        while left > 0:
            await asyncio.sleep(left)
            left = self._paused_until - time.monotonic()

    async def wait_for_chat(self, chat_id: int) -> None:
        """Until this chat may get another message."""
        last = self._last_sent.get(chat_id)
        if last is not None and (left := last + self._per_chat - time.monotonic()) > 0:
            await asyncio.sleep(left + _MARGIN)

    async def ready(self, chat_id: int) -> None:
        """Until this chat may get another message and no 429 pause runs."""
        await self.wait_for_chat(chat_id)
        await self.wait_unpaused()

    async def slot(self, chat_id: int) -> bool:
        """Waits for the next evenly spaced slot (and the shared window's); False when a 429
        came meanwhile, so that the send waits for the pause to end rather than go now."""
        await self._limiter.acquire()
        if self._shared is not None:
            await self._shared.take()
        if self.paused:
            return False
        self._last_sent[chat_id] = time.monotonic()
        if len(self._last_sent) > 10_000:  # only the last second matters
            horizon = time.monotonic() - self._per_chat
            self._last_sent = {c: at for c, at in self._last_sent.items() if at > horizon}
        return True

    async def take(self, chat_id: int) -> None:
        """:meth:`ready`, then a :meth:`slot`, as often as a 429 takes one away."""
        while True:
            await self.ready(chat_id)
            if await self.slot(chat_id):
                return

    async def pause(self, seconds: float) -> None:
        """Telegram answered 429: nothing is sent for ``seconds`` (by the gateways either,
        when the budget is shared)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        if self._shared is not None:
            await self._shared.pause(seconds)
