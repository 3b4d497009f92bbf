"""One chat's turns one at a time, in the order sent, across every gateway replica.

Within a process :class:`bot.handlers.throttle.ChatTurns` keeps a chat's turns in order.
Behind a load balancer two quick updates of one chat may reach two replicas, and Rasa must
still see them one at a time and in order. With Redis each turn takes a place in its chat's
queue, scored by ``update_id`` (Telegram numbers a bot's updates in the order they were
sent), and starts when no earlier update of the chat is still queued and no other turn of
the chat is running. An update that reaches its replica after a later one of its chat has
started cannot go back before it: it waits for it and runs next.

Every place is a lease on Redis's own clock: a little longer than the longest turn (the
Rasa timeout and the sending), renewed while the turn waits or runs, so a replica that dies
mid-turn holds its chat up for one lease at most. A turn still running after
:data:`MAX_TURN_LEASES` leases is taken as stuck: its lease is no longer renewed and the
chat's next turn goes on when it runs out; both are logged.

A turn that finds its chat idle costs two round trips (take the place, leave it) and no
poll. One that must wait polls with a short backoff, and is woken at once when the turn
before it ran in the same process. If Redis does not answer, the turn goes on in this
process's order only and says so in the log, like the other shared parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import secrets
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.exceptions import RedisError

from bot.shared_state import SharedRedis
from ntsa_assistant.core.settings import Settings

logger = logging.getLogger(__name__)

# What a turn does after Rasa has answered: its messages to Telegram and the chat's state.
SENDING_SECONDS = 5.0
# A turn running longer than this many leases is stuck: the chat's next turn goes on.
MAX_TURN_LEASES = 4
# A waiting turn asks Redis again after this, doubling up to the second.
FIRST_POLL_SECONDS = 0.01
LAST_POLL_SECONDS = 0.1
# A chat's keys, in the order the scripts take them.
_PARTS = ("queue", "leases", "running")

# KEYS: the chat's queue (member → update_id), its leases (member → end, ms on Redis's
# clock) and its running turn (a member). Drops lapsed places, takes or renews this one,
# and starts it if it is first and nothing runs. Returns {started, lapsed places dropped}.
_TAKE = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local lease = tonumber(ARGV[3])
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, member in ipairs(lapsed) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < lease then redis.call('PEXPIRE', KEYS[i], lease) end
end
local running = redis.call('GET', KEYS[3])
local busy = running and running ~= ARGV[1] and redis.call('ZSCORE', KEYS[1], running)
if busy or redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[2]) > 0 then
  return {0, #lapsed}
end
redis.call('SET', KEYS[3], ARGV[1], 'PX', lease)
return {1, #lapsed}
"""

# Renews a running turn's lease; 0 if it has already lapsed (the next turn may have gone on).
_KEEP = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local lease = tonumber(ARGV[2])
local ends = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not ends or tonumber(ends) <= now then return 0 end
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < lease then redis.call('PEXPIRE', KEYS[i], lease) end
end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('PEXPIRE', KEYS[3], lease) end
return 1
"""

_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""


@dataclass(frozen=True)
class _Place:
    chat: str
    update_id: int
    member: str  # unique per turn: a copy of an update may reach two replicas
    keys: list[str]


class ChatOrder:
    """Each chat's queue of turns in Redis, shared by every replica."""

    def __init__(
        self, shared: SharedRedis, lease_seconds: float, max_turn_seconds: float | None = None
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("a turn's lease must be longer than 0")
        self.lease = lease_seconds
        self.max_turn = max_turn_seconds or MAX_TURN_LEASES * lease_seconds
        self._shared = shared
        self._lease_ms = math.ceil(lease_seconds * 1000)
        self._process = secrets.token_hex(4)
        self._turns = itertools.count()
        self._take = shared.client.register_script(_TAKE)
        self._keep = shared.client.register_script(_KEEP)
        self._leave = shared.client.register_script(_LEAVE)
        self._arrivals: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._ended: weakref.WeakValueDictionary[str, asyncio.Event] = weakref.WeakValueDictionary()
        self._leaving: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def turn(self, chat: str, update_id: int) -> AsyncIterator[bool]:
        """Waits for ``chat``'s turn of ``update_id`` and holds it for the ``async with``.

        Yields True when the turn is ordered across replicas, False when Redis did not
        answer and only this process's order holds.
        """
        place = _Place(
            chat,
            update_id,
            f"{update_id}:{self._process}:{next(self._turns)}",
            [self._shared.key("order", "{" + chat + "}", part) for part in _PARTS],
        )
        ordered, keeper = False, None
        try:
            ordered = await self._wait(place)
            if ordered:
                keeper = asyncio.create_task(self._keep_lease(place))
            yield ordered
        finally:
            if keeper is not None:
                keeper.cancel()
            leaving = asyncio.create_task(self._leave_queue(place, ordered))
            self._leaving.add(leaving)
            leaving.add_done_callback(self._leaving.discard)
            # Even when the turn is cancelled, its place is given up.
            await asyncio.shield(leaving)

    async def queued(self, chat: str) -> list[int]:
        """The update ids of ``chat`` queued or running on any replica, in order."""
        key = self._shared.key("order", "{" + chat + "}", _PARTS[0])
        members = await self._shared.client.zrange(key, 0, -1, withscores=True)
        return [int(pair[1]) for pair in members]  # (member, score)

    async def _wait(self, place: _Place) -> bool:
        arrival = self._arrivals.get(place.chat)
        if arrival is None:
            arrival = self._arrivals[place.chat] = asyncio.Lock()
        delay = FIRST_POLL_SECONDS
        try:
            # A chat's updates take their places in the order they reached this process.
            async with arrival:
                ended = self._ended_event(place.chat)
                started = await self._try_start(place)
            while not started:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await ended.wait()
                delay = min(2 * delay, LAST_POLL_SECONDS)
                ended = self._ended_event(place.chat)
                started = await self._try_start(place)
        except (RedisError, OSError) as exc:
            logger.warning(
                "Redis unavailable, chat %s's turns ordered in this process only: %r",
                place.chat,
                exc,
            )
            return False
        return True

    async def _try_start(self, place: _Place) -> bool:
        started, lapsed = await self._take(
            keys=place.keys, args=[place.member, place.update_id, self._lease_ms]
        )
        if lapsed:
            logger.warning(
                "chat %s: %s turn(s) of a replica gone or stuck lost their place; "
                "its turns go on without them",
                place.chat,
                lapsed,
            )
        return bool(started)

    def _ended_event(self, chat: str) -> asyncio.Event:
        """Set when a turn of ``chat`` in this process leaves its place: taken before asking
        Redis, so that an end between the answer and the wait is not missed."""
        ended = self._ended.get(chat)
        if ended is None:
            ended = self._ended[chat] = asyncio.Event()
        return ended

    async def _keep_lease(self, place: _Place) -> None:
        loop = asyncio.get_running_loop()
        stuck_at = loop.time() + self.max_turn
        interval = self.lease / 3
        while loop.time() + interval < stuck_at:
            await asyncio.sleep(interval)
            try:
                kept = await self._keep(keys=place.keys, args=[place.member, self._lease_ms])
            except (RedisError, OSError) as exc:
                logger.warning(
                    "Redis unavailable, lease of chat %s's turn not renewed: %r", place.chat, exc
                )
                continue
            if not kept:
                logger.warning(
                    "chat %s: update %s lost its place (its lease ran out); the chat's next "
                    "turn may run alongside it",
                    place.chat,
                    place.update_id,
                )
                return
        logger.warning(
            "chat %s: update %s still running after %g s; its lease is not renewed again, "
            "the chat's next turn goes on when it runs out",
            place.chat,
            place.update_id,
            self.max_turn,
        )

    async def _leave_queue(self, place: _Place, ordered: bool) -> None:
        try:
            await self._leave(keys=place.keys, args=[place.member])
        except (RedisError, OSError) as exc:
            # Its lease runs out instead; after a failed take the warning was given then.
            log = logger.warning if ordered else logger.debug
            log("Redis unavailable, chat %s's turn left its place by lease: %r", place.chat, exc)
        ended = self._ended.pop(place.chat, None)
        if ended is not None:
            ended.set()


def chat_order(settings: Settings, shared: SharedRedis) -> ChatOrder:
    """Leases a little longer than a turn can take: the Rasa timeout, then the sending."""
    return ChatOrder(shared, settings.rasa_timeout_seconds + SENDING_SECONDS)
