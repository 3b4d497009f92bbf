"""The bot's Telegram rate budget: about 30 calls a second for the whole bot token.

In one process PTB's :class:`~telegram.ext.AIORateLimiter` keeps it: a leaky bucket
(aiolimiter) of 30 a second that lets up to 30 go at once after a quiet moment. Several
gateway replicas share one token, so with Redis (:class:`SharedRateLimiter`) each call into
a chat first takes its turn from the same bucket kept in Redis
(:mod:`ntsa_assistant.core.telegram_budget`, which a broadcast draws from too). Everything
else is PTB's own limiter, unchanged: its per-group pacing (off here: the agents' desk paces
itself), its separate budget for paid broadcasts, and its retries of a 429 after
``retry_after`` — a pause that the other replicas now also honour, since Telegram's limit is
the token's, not the process's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from redis.exceptions import RedisError
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, BaseRateLimiter

from bot.shared_state import SharedRedis
from ntsa_assistant.core.telegram_budget import TELEGRAM_PER_SECOND, SharedTelegramBudget

logger = logging.getLogger(__name__)

# 429s are retried, never dropped (DESIGN.md): this many times, each after retry_after.
MAX_RETRIES = 5

JSON = bool | dict[str, Any] | list[dict[str, Any]]
Callback = Callable[..., Coroutine[Any, Any, JSON]]


class TelegramBudget:
    """The token's budget shared in Redis (:class:`SharedTelegramBudget`), one waiter per
    process asking at a time; without Redis, PTB's own limiter paces this process alone."""

    def __init__(self, shared: SharedRedis, rate: int = TELEGRAM_PER_SECOND) -> None:
        self._budget = SharedTelegramBudget(shared.client, shared.prefix, rate)
        # One waiter per process asks Redis at a time, first come first served, so a call
        # is never starved by later ones.
        self._turn = asyncio.Lock()

    async def take(self) -> None:
        """Waits for a pause (a 429 seen by any sender) to end, then for the call's turn."""
        async with self._turn:
            try:
                await self._budget.take()
            except (RedisError, OSError) as exc:
                # PTB's limiter still paces this process; Telegram answers any excess with
                # 429, which is retried.
                logger.warning("Redis unavailable, Telegram budget not shared: %r", exc)

    async def pause(self, seconds: float) -> None:
        """Telegram said 429: every replica (and a broadcast) waits ``seconds``."""
        await self._budget.pause(seconds)


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
