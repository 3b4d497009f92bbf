"""One chat can never stall the others.

:class:`ChatTurns` is the application's update processor. A chat's turns run one at a
time and in order (Rasa must see them in order), but a turn waiting for its chat's
previous turn waits *outside* the shared slots, so other chats go on being answered.
Each chat may send ``burst`` updates within ``window`` seconds (and have at most
``burst`` waiting); past that an update is not queued: :func:`handlers` answers it with a
polite "slow down" (once per window, a toast for a button) and drops it.

With Redis (:class:`SharedBurstLimit`) a chat's updates are counted across every gateway
replica, and (:class:`bot.chat_order.ChatOrder`) its turns run one at a time in the order
sent across every replica too: behind a load balancer two quick updates of one chat may
reach two replicas at once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, BaseUpdateProcessor, TypeHandler

from bot.chat_order import ChatOrder, chat_order
from bot.context import GatewayContext
from bot.shared_state import SharedRedis
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings

logger = logging.getLogger(__name__)

# PTB's own semaphore only caps how many updates are in the gateway at all; the slots
# that do work are ChatTurns' own.
_ADMISSION = 10_000


class Verdict(enum.Enum):
    ADMIT = "admit"
    SLOW_DOWN = "slow_down"  # dropped, and the chat is told (once per window)
    DROP = "drop"  # dropped silently: the chat was told a moment ago


class BurstLimit:
    """Per-key sliding window: ``burst`` events within ``window`` seconds pass."""

    def __init__(
        self, burst: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if burst < 1 or window <= 0:
            raise ValueError("the burst limit needs burst >= 1 and window > 0")
        self.burst = burst
        self.window = window
        self._clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._told: dict[int, float] = {}
        self._next_sweep = clock() + window

    def verdict(self, key: int, waiting: int = 0) -> Verdict:
        """Counts one event of ``key``; ``waiting``: its events not finished yet."""
        now = self._clock()
        self._sweep(now)
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) < self.burst and waiting < self.burst:
            seen.append(now)
            return Verdict.ADMIT
        told = self._told.get(key)
        if told is not None and told > now - self.window:
            return Verdict.DROP
        self._told[key] = now
        return Verdict.SLOW_DOWN

    def _sweep(self, now: float) -> None:
        """Forgets quiet keys, so memory follows the chats active in the last window."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window
        horizon = now - self.window
        self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > horizon}
        self._told = {k: v for k, v in self._told.items() if v > horizon}


class SharedBurstLimit:
    """:class:`BurstLimit` counted in Redis, for every replica together.

    The window is whole seconds (``limits``' unit), rounded up. ``waiting`` (turns queued
    in this process) is still this process's own.
    """

    def __init__(self, shared: SharedRedis, burst: int, window: float) -> None:
        if burst < 1 or window <= 0:
            raise ValueError("the burst limit needs burst >= 1 and window > 0")
        self.burst = burst
        self.window = window
        self._shared = shared
        self._limiter = MovingWindowRateLimiter(shared.limits_storage())
        self._item = RateLimitItemPerSecond(burst, math.ceil(window))

    async def check(self, key: int, waiting: int = 0) -> Verdict:
        try:
            if waiting < self.burst and await self._limiter.hit(self._item, "chat", str(key)):
                return Verdict.ADMIT
            told = await self._shared.client.set(
                self._shared.key("slowed", key), 1, nx=True, px=math.ceil(self.window * 1000)
            )
        except (RedisError, OSError) as exc:
            logger.warning("Redis unavailable, chat %s not burst-limited: %r", key, exc)
            return Verdict.ADMIT
        return Verdict.SLOW_DOWN if told else Verdict.DROP


ChatLimit = BurstLimit | SharedBurstLimit


def _chat_id(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


def _desk_topic(update: Update) -> tuple[int, int] | None:
    """A group's (chat, topic): the only group that gets this far is an agents' desk, where
    many agents write at once and each topic is its own conversation, kept in order but
    never burst-limited (bot/desk/agents.py)."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or chat.type == chat.PRIVATE:
        return None
    thread = message.message_thread_id if message is not None else None
    return chat.id, thread or 0


class ChatTurns(BaseUpdateProcessor):
    """Per-chat order and burst limit, with ``slots`` turns of all chats at work at once.

    ``order``: a chat's turns ordered across replicas too; without it, in this process only.
    """

    def __init__(self, slots: int, limit: ChatLimit, order: ChatOrder | None = None) -> None:
        super().__init__(max(_ADMISSION, slots))
        self._slot_count = slots
        self._slots: asyncio.Semaphore | None = None
        self._limit = limit
        self._order = order
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._admissions: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._waiting: dict[int, int] = {}
        self._verdicts: dict[int, Verdict] = {}

    async def initialize(self) -> None:
        self._slots = asyncio.Semaphore(self._slot_count)

    async def shutdown(self) -> None:
        """Nothing to free."""

    def verdict_for(self, update: Update) -> Verdict:
        """What the limit decided for ``update`` when it arrived."""
        return self._verdicts.get(update.update_id, Verdict.ADMIT)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self._slots is None:
            await self.initialize()
        assert self._slots is not None
        chat_id = _chat_id(update)
        if chat_id is None:
            async with self._slots:
                await coroutine
            return
        assert isinstance(update, Update)
        if (topic := _desk_topic(update)) is not None:
            await self._turn(topic, update.update_id, coroutine)
            return
        verdict = await self._admit(chat_id)
        if verdict is not Verdict.ADMIT:
            # Not queued behind the chat's turns: the "slow down" goes out at once.
            self._verdicts[update.update_id] = verdict
            try:
                async with self._slots:
                    await coroutine
            finally:
                del self._verdicts[update.update_id]
            return
        try:
            # No await between the admission and this queueing: a chat's turns line up in
            # the order they arrived (asyncio's locks are first come, first served).
            await self._turn(chat_id, update.update_id, coroutine)
        finally:
            self._waiting[chat_id] -= 1
            if not self._waiting[chat_id]:
                del self._waiting[chat_id]

    async def _admit(self, chat_id: int) -> Verdict:
        """The limit's verdict, counted as waiting if admitted.

        A shared limit answers after a round trip to Redis, and answers may come back in
        another order than asked: a chat's updates are admitted one at a time, in order.
        """
        if isinstance(self._limit, BurstLimit):
            verdict = self._limit.verdict(chat_id, self._waiting.get(chat_id, 0))
        else:
            lock = self._admissions.get(chat_id)
            if lock is None:
                lock = self._admissions[chat_id] = asyncio.Lock()
            async with lock:
                verdict = await self._limit.check(chat_id, self._waiting.get(chat_id, 0))
        if verdict is Verdict.ADMIT:
            self._waiting[chat_id] = self._waiting.get(chat_id, 0) + 1
        return verdict

    async def _turn(
        self, key: int | tuple[int, int], update_id: int, coroutine: Awaitable[Any]
    ) -> None:
        """Runs a chat's (or a desk topic's) turn when its turn comes.

        With :attr:`_order` the turn first waits for its place across replicas (in
        update_id order), then for this process's lock: a turn that Redis could not order
        still never runs alongside one of its chat running here.
        """
        assert self._slots is not None
        if self._order is None:
            async with self._lock(key), self._slots:
                await coroutine
            return
        chat = str(key) if isinstance(key, int) else f"{key[0]}/{key[1]}"
        async with self._order.turn(chat, update_id), self._lock(key), self._slots:
            await coroutine

    def _lock(self, key: Hashable) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock


def chat_turns(settings: Settings, slots: int, shared: SharedRedis | None = None) -> ChatTurns:
    """The processor for ``ApplicationBuilder.concurrent_updates``, from the settings; the
    burst limit is counted, and each chat's turns ordered, in Redis when ``shared`` is given."""
    burst, window = settings.chat_burst_messages, settings.chat_burst_seconds
    if shared is None:
        return ChatTurns(slots, BurstLimit(burst, window))
    return ChatTurns(slots, SharedBurstLimit(shared, burst, window), chat_order(settings, shared))


async def _slow_down(update: Update, context: GatewayContext) -> None:
    processor = context.application.update_processor
    if not isinstance(processor, ChatTurns):
        return
    verdict = processor.verdict_for(update)
    if verdict is Verdict.ADMIT:
        return
    chat = update.effective_chat
    logger.info("chat %s over its burst limit: update %s dropped", chat.id, update.update_id)
    user = update.effective_user
    text = t(context.language_hint or (user.language_code if user else None), "common.slow_down")
    if update.callback_query is not None:
        await update.callback_query.answer(text)
    elif verdict is Verdict.SLOW_DOWN:
        await context.bot.send_message(chat.id, text)
    raise ApplicationHandlerStop


def handlers() -> list[BaseHandler]:
    return [TypeHandler(Update, _slow_down)]
