"""Drops updates already seen (same ``update_id``): Telegram may deliver one twice.

Polling: in one process the last ids are kept in memory (:class:`SeenUpdates`); with Redis
(:class:`SharedSeenUpdates`) an id is claimed with ``SET NX`` and a TTL, so an update that
reaches two replicas, or a replica and its successor after a restart, is taken once. The
handler of :func:`handlers` does it, as the first thing of a turn.

Webhook: the webhook server (bot/webhook.py) answers Telegram only once a turn is done, so
a copy of an update may come while its turn is still running, here or on another replica,
or after the replica running it died. It claims each update at arrival in a
:class:`TurnLedger` that tells the three apart: *new* (run it), *in progress* under a live
lease (Telegram is asked to come back later) and *done* (acknowledged, nothing else). With
Redis the lease is a key with a TTL (:class:`SharedTurnLedger`), renewed while the turn
runs, so a replica that dies mid-turn holds its updates back for one lease at most; without
it (one replica) the same lives in the process (:class:`LocalTurnLedger`). Both use the key
``update:<id>`` of polling's claim, which reads as done.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import secrets
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.context import GatewayContext
from bot.shared_state import SharedRedis

logger = logging.getLogger(__name__)

# Telegram keeps an undelivered update for 24 hours; no copy of one can come later.
SEEN_SECONDS = 24 * 60 * 60
# A turn's claim on its update: a little longer than a turn normally takes (the Rasa
# timeout, 8 s by default, then the sending), and renewed every third of it while the turn
# runs, so a longer turn keeps it. A replica that dies mid-turn holds its updates back for
# at most this long before another one (or its successor) runs them.
LEASE_SECONDS = 15.0
_DONE = "done"
_LEASE = "lease:"

# KEYS: the update's key. ARGV: this claim's lease value, the lease in ms. Returns
# {1, 0} when claimed, {2, ms left} when another turn holds it, {3, 0} when it is done.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0} end
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 6) == 'lease:' then return {2, redis.call('PTTL', KEYS[1])} end
return {3, 0}
"""
# Renews (ARGV[2] ms) or gives up (ARGV[2] = 0) a lease, only while it is still this one's.
_KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('DEL', KEYS[1])
"""


class Seen(Protocol):
    async def claim(self, update_id: int) -> bool:
        """True the first time ``update_id`` is seen (here or, if shared, by any replica)."""
        ...


class SeenUpdates:
    """The last ``capacity`` update ids, in arrival order."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, update_id: int) -> bool:
        return update_id in self._ids

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


# ---------------------------------------------------------------- webhook mode: turns


class Arrival(enum.Enum):
    NEW = "new"  # claimed here: run the turn, then mark it done
    IN_PROGRESS = "in_progress"  # another turn holds it under a live lease
    DONE = "done"  # answered before, here or by another replica


@dataclass(frozen=True)
class Claim:
    arrival: Arrival
    retry_after: float = 0.0  # IN_PROGRESS: seconds until the holder's lease runs out


class TurnLedger(Protocol):
    """Which updates are being answered, and which have been."""

    async def claim(self, update_id: int) -> Claim:
        """Takes ``update_id`` for a turn here if nobody holds it and it is not done."""
        ...

    async def keep(self, update_id: int) -> None:
        """Keeps this process's claim alive while its turn runs (cancelled at its end)."""
        ...

    async def done(self, update_id: int) -> None:
        """The turn is over: later copies of the update are acknowledged, not run."""
        ...

    async def release(self, update_id: int) -> None:
        """The update was claimed but not run: its next copy may be taken at once."""
        ...


class LocalTurnLedger:
    """One process's turns: those running, and the last ``capacity`` done."""

    def __init__(self, capacity: int = 10_000, lease_seconds: float = LEASE_SECONDS) -> None:
        self._done = SeenUpdates(capacity)
        self._running: set[int] = set()
        self._lease = lease_seconds

    async def claim(self, update_id: int) -> Claim:
        if update_id in self._done:
            return Claim(Arrival.DONE)
        if update_id in self._running:
            # The holder is this process, alive: its turn ends, there is no lease to run out.
            return Claim(Arrival.IN_PROGRESS, self._lease)
        self._running.add(update_id)
        return Claim(Arrival.NEW)

    async def keep(self, update_id: int) -> None:
        """Nothing to renew: a claim lives as long as this process."""

    async def done(self, update_id: int) -> None:
        self._running.discard(update_id)
        self._done.first_time(update_id)

    async def release(self, update_id: int) -> None:
        self._running.discard(update_id)


class SharedTurnLedger:
    """Turns of every replica, in Redis: ``update:<id>`` holds a lease, then ``done``.

    If Redis does not answer, an update is run (and the log says so): better a rare
    duplicate answer than a bot that answers nobody.
    """

    def __init__(
        self,
        shared: SharedRedis,
        lease_seconds: float = LEASE_SECONDS,
        done_seconds: int = SEEN_SECONDS,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("a turn's lease must be longer than 0")
        self._shared = shared
        self._lease = lease_seconds
        self._lease_ms = math.ceil(lease_seconds * 1000)
        self._done_seconds = done_seconds
        self._claim = shared.client.register_script(_CLAIM)
        self._keep = shared.client.register_script(_KEEP)
        self._held: dict[int, str] = {}  # update id -> this process's lease value

    def _key(self, update_id: int) -> str:
        return self._shared.key("update", update_id)

    async def claim(self, update_id: int) -> Claim:
        lease = _LEASE + secrets.token_hex(8)
        try:
            outcome, left_ms = await self._claim(
                keys=[self._key(update_id)], args=[lease, self._lease_ms]
            )
        except (RedisError, OSError) as exc:
            logger.warning("Redis unavailable, update %s run unclaimed: %r", update_id, exc)
            return Claim(Arrival.NEW)
        if outcome == 1:
            self._held[update_id] = lease
            return Claim(Arrival.NEW)
        if outcome == 2:
            return Claim(Arrival.IN_PROGRESS, max(int(left_ms), 0) / 1000)
        return Claim(Arrival.DONE)

    async def keep(self, update_id: int) -> None:
        lease = self._held.get(update_id)
        if lease is None:
            return
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                kept = await self._keep(keys=[self._key(update_id)], args=[lease, self._lease_ms])
            except (RedisError, OSError) as exc:
                logger.warning(
                    "Redis unavailable, lease of update %s not renewed: %r", update_id, exc
                )
                continue
            if not kept:
                logger.warning(
                    "update %s: its lease ran out while its turn ran; a copy may be answered again",
                    update_id,
                )
                return

    async def done(self, update_id: int) -> None:
        self._held.pop(update_id, None)
        try:
            await self._shared.client.set(self._key(update_id), _DONE, ex=self._done_seconds)
        except (RedisError, OSError) as exc:
            logger.warning("Redis unavailable, update %s not marked done: %r", update_id, exc)

    async def release(self, update_id: int) -> None:
        lease = self._held.pop(update_id, None)
        if lease is None:
            return
        try:
            await self._keep(keys=[self._key(update_id)], args=[lease, 0])
        except (RedisError, OSError) as exc:
            logger.warning("Redis unavailable, update %s released by lease: %r", update_id, exc)


def turn_ledger(shared: SharedRedis | None) -> TurnLedger:
    """Shared through Redis when there is one, else this process's memory."""
    return LocalTurnLedger() if shared is None else SharedTurnLedger(shared)


# The update whose turn the webhook server runs, claimed at arrival (set inside the turn's
# task, so only that turn sees it): the handler below must not claim it a second time.
_claimed_at_arrival: ContextVar[int | None] = ContextVar("claimed_at_arrival", default=None)


def claimed_at_arrival(update_id: int) -> None:
    """Called by the webhook server at the start of a turn it claimed."""
    _claimed_at_arrival.set(update_id)


def handlers(shared: SharedRedis | None = None) -> list[BaseHandler]:
    seen = seen_updates(shared)

    async def drop_duplicates(update: Update, _context: GatewayContext) -> None:
        if _claimed_at_arrival.get() == update.update_id:
            return
        if not await seen.claim(update.update_id):
            logger.info("duplicate update %s dropped", update.update_id)
            raise ApplicationHandlerStop

    return [TypeHandler(Update, drop_duplicates)]
