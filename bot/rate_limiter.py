"""The bot's Telegram rate budget: about 30 calls a second for the whole bot token.

In one process PTB's :class:`~telegram.ext.AIORateLimiter` keeps it: a leaky bucket
(aiolimiter) of 30 a second that lets up to 30 go at once after a quiet moment. Several
gateway replicas share one token, so with Redis (:class:`SharedRateLimiter`) each call into
a chat first takes its turn from the same bucket kept in Redis (:class:`TelegramBudget`, the
generic cell rate algorithm: one number, the bucket's "theoretical arrival time", on Redis's
own clock), which every replica draws from. One round trip a call, and a refused call is
told exactly how long to wait, so the budget is spent to the last call: the moving window
it replaces (``limits``) lost a few milliseconds per slot to its round trips and margin,
0.7 % of the budget, and at 30 turns a second, where the answers need the whole budget, its
queue grew by 7 ms every second (measured: p95 2.2 s after 5 minutes). Everything else is
PTB's own limiter, unchanged: its per-group pacing (off here: the agents' desk paces itself),
its separate budget for paid broadcasts, and its retries of a 429 after ``retry_after`` — a
pause that the other replicas now also honour, since Telegram's limit is the token's, not the
process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from redis.exceptions import RedisError
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, BaseRateLimiter

from bot.shared_state import SharedRedis

logger = logging.getLogger(__name__)

# Telegram's overall limit for one bot token (FloodLimit.MESSAGES_PER_SECOND).
MESSAGES_PER_SECOND = 30
# 429s are retried, never dropped (DESIGN.md): this many times, each after retry_after.
MAX_RETRIES = 5

JSON = bool | dict[str, Any] | list[dict[str, Any]]
Callback = Callable[..., Coroutine[Any, Any, JSON]]


# KEYS: the bucket's theoretical arrival time (ms on Redis's clock), the pause after a 429.
# ARGV: ms between calls, calls allowed at once. Returns 0 (go) or the ms to wait.
_TAKE = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + clock[2] / 1000
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - interval * (tonumber(ARGV[2]) - 1) - now
if wait > 0 then return math.ceil(wait) end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
return 0
"""


class TelegramBudget:
    """``rate`` calls a second (up to ``rate`` at once after a quiet moment, as PTB's own
    limiter) for every replica together, kept in Redis."""

    def __init__(self, shared: SharedRedis, rate: int = MESSAGES_PER_SECOND) -> None:
        self._shared = shared
        self._keys = [shared.key("telegram", "budget"), shared.key("telegram", "paused")]
        self._args = [f"{1000 / rate:.6f}", rate]
        self._take = shared.client.register_script(_TAKE)
        self._pause_key = self._keys[1]
        # One waiter per process asks Redis at a time, first come first served, so a call
        # is never starved by later ones.
        self._turn = asyncio.Lock()

    async def take(self) -> None:
        """Waits for a pause (a 429 seen by any replica) to end, then for the call's turn."""
        async with self._turn:
            try:
                # The wait is the bucket's, told by Redis: nothing here to wait on instead.
                while (wait_ms := int(await self._take(keys=self._keys, args=self._args))) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(wait_ms / 1000)
            except (RedisError, OSError) as exc:
                # PTB's limiter still paces this process; Telegram answers any excess with
                # 429, which is retried.
                logger.warning("Redis unavailable, Telegram budget not shared: %r", exc)

    async def pause(self, seconds: float) -> None:
        """Telegram said 429: every replica waits ``seconds`` before its next call."""
        with contextlib.suppress(RedisError, OSError):
            await self._shared.client.set(self._pause_key, 1, px=max(int(seconds * 1000), 1))


class SharedRateLimiter(BaseRateLimiter[int]):
    """PTB's :class:`AIORateLimiter` with the overall budget taken from a shared one."""

    def __init__(
        self,
        budget: TelegramBudget,
        *,
        group_max_rate: float = 0,
        group_time_period: float = 60,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self._budget = budget
        self._local = AIORateLimiter(
            overall_max_rate=0,  # the shared budget stands in for it
            group_max_rate=group_max_rate,
            group_time_period=group_time_period,
            max_retries=max_retries,
        )

    async def initialize(self) -> None:
        await self._local.initialize()

    async def shutdown(self) -> None:
        await self._local.shutdown()

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSON:
        chat_id = data.get("chat_id")
        # What AIORateLimiter counts against its overall limit: calls into a chat.
        counted = chat_id is not None and not data.get("allow_paid_broadcast")
        # A group's 429 is that group's limit (PTB's group limiter, the desk's outbox): only
        # this process pauses for it, as PTB does; a private chat's is the token's.
        private = counted and str(chat_id).isdigit()

        async def call(*call_args: Any, **call_kwargs: Any) -> JSON:
            if counted:
                await self._budget.take()
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter as exc:
                if private:
                    await self._budget.pause(_seconds(exc))
                raise

        # Each try goes through `call`, so a retry after a 429 takes a token again.
        return await self._local.process_request(
            call, args, kwargs, endpoint, data, rate_limit_args
        )


def _seconds(exc: RetryAfter) -> float:
    retry = exc.retry_after  # a timedelta with PTB_TIMEDELTA set, else whole seconds
    return retry.total_seconds() if hasattr(retry, "total_seconds") else float(retry)


def rate_limiter(shared: SharedRedis | None, *, group_max_rate: float = 0) -> BaseRateLimiter[int]:
    """For ``ApplicationBuilder.rate_limiter``: PTB's own per process, the shared one with
    Redis. ``group_max_rate=0``: the one group the bot writes to, the agents' desk, is paced
    by its own outbox (bot/desk/relay.py); PTB's per-group bucket would also hold up calls
    that send no message there (getChatMember) behind a busy desk."""
    if shared is None:
        return AIORateLimiter(group_max_rate=group_max_rate, max_retries=MAX_RETRIES)
    return SharedRateLimiter(TelegramBudget(shared), group_max_rate=group_max_rate)
