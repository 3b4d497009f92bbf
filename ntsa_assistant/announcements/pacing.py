"""The pace of a broadcast: within Telegram's limits, and leaving room for live answers.

Telegram lets one bot token send about 30 messages a second overall and about one a second
into one chat; past that it answers 429 with ``retry_after``. A broadcast sends at most
:data:`OVERALL_PER_SECOND` (25) in any one-second window, evenly spaced, one message per chat
per :data:`PER_CHAT_SECONDS`, and after a 429 nothing until ``retry_after`` has passed.

The gateway answers people through the same token at the same time. With ``REDIS_URL`` the
gateway replicas share one 30-a-second window in Redis (``bot/rate_limiter.py``); a broadcast
then takes each message from that same window too (:class:`SharedBudget`: the same key), so
live answers and the broadcast together never pass 30, and a 429 seen by either pauses both.
Without Redis (one gateway) the gateway does not know of the broadcast: 25 a second leaves it
5, and if live traffic needs more, Telegram's 429 makes both wait and retry — nothing is lost.

In the process, ``aiolimiter`` spaces the sends evenly; the shared window is ``limits``'
moving window in Redis, as the gateway's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiolimiter import AsyncLimiter
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

OVERALL_PER_SECOND = 25
PER_CHAT_SECONDS = 1.0
# A window's slot frees just after its oldest entry leaves; this margin keeps a message that
# arrives at Telegram a little late from landing in the window before it.
_MARGIN = 0.02
# Sends 43 ms apart rather than 40 (about 23 a second): a message that reaches Telegram up
# to 75 ms later than the one before it still never makes 26 in one second.
_SPACING_MARGIN = 0.003

# The gateway's shared budget (bot/rate_limiter.py, TelegramBudget; bot/shared_state.py):
# the same item, identifier and keys, so that both draw from one window and one pause.
TELEGRAM_PER_SECOND = 30
_SHARED_IDENTIFIER = "telegram"
_SHARED_LIMITS_PREFIX = "limits"
_SHARED_PAUSE_KEY = "telegram:paused"
REDIS_TIMEOUT_SECONDS = 2.0


class SharedBudget:
    """The token's 30-a-second window and its 429 pause, shared with the gateway replicas."""

    def __init__(self, redis_url: str, key_prefix: str) -> None:
        self._client = Redis.from_url(
            redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix=key_prefix + _SHARED_LIMITS_PREFIX,
            connection_pool=self._client.connection_pool,  # type: ignore[arg-type]
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerSecond(TELEGRAM_PER_SECOND, 1)
        self._pause_key = key_prefix + _SHARED_PAUSE_KEY
        self._warned = False

    async def take(self) -> None:
        """Waits out a pause any sender set, then for a free slot in the shared window."""
        try:
            while True:
                paused_ms = await self._client.pttl(self._pause_key)
                if paused_ms > 0:
                    await asyncio.sleep(paused_ms / 1000)
                    continue
                if await self._limiter.hit(self._item, _SHARED_IDENTIFIER):
                    return
                stats = await self._limiter.get_window_stats(self._item, _SHARED_IDENTIFIER)
                await asyncio.sleep(max(stats.reset_time - time.time(), 0) + _MARGIN)
        except (RedisError, OSError) as exc:
            # The broadcast's own pace still holds; Telegram answers any excess with a 429.
            if not self._warned:
                logger.warning("Redis unavailable, Telegram budget not shared: %r", exc)
                self._warned = True

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._client.set(self._pause_key, 1, px=max(int(seconds * 1000), 1))

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
