"""The bot token's Telegram budget, kept in Redis for everything that sends through it.

Telegram lets one bot token send about 30 messages a second overall, and answers more with
429 and ``retry_after``. The gateway replicas (bot/rate_limiter.py) and a broadcast
(ntsa_assistant/announcements/pacing.py) draw from one budget: this one, under the
deployment's key prefix. It is the same leaky bucket PTB's own limiter keeps in one process
(30 a second, up to 30 at once after a quiet moment), kept by the generic cell rate
algorithm: one number in Redis, the bucket's "theoretical arrival time", on Redis's own
clock, so every process agrees whatever its clock says. A call is one round trip, and a
refused call is told exactly how long to wait, so the budget is spent to the last call (the
moving window this replaced lost a few milliseconds a slot to round trips and margins: 0.7 %
of the budget, and at 30 turns a second, where the answers need all of it, the queue grew
7 ms every second). A 429 seen by any sender pauses all of them.
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

TELEGRAM_PER_SECOND = 30
BUDGET_KEY = "telegram:budget"
PAUSE_KEY = "telegram:paused"

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


class SharedTelegramBudget:
    """``rate`` calls a second for every sender under ``key_prefix`` together.

    Redis errors reach the caller, who decides how to go on without the shared budget.
    """

    def __init__(self, client: Redis, key_prefix: str, rate: int = TELEGRAM_PER_SECOND) -> None:
        self._client = client
        self._keys = [key_prefix + BUDGET_KEY, key_prefix + PAUSE_KEY]
        self._args: list[str | int] = [f"{1000 / rate:.6f}", rate]
        self._take = client.register_script(_TAKE)

    async def take(self) -> None:
        """Waits out a pause any sender set, then for this call's turn in the bucket."""
        # The wait is the bucket's, told by Redis: nothing here to wait on instead.
        while (wait_ms := int(await self._take(keys=self._keys, args=self._args))) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait_ms / 1000)

    async def pause(self, seconds: float) -> None:
        """Telegram said 429: every sender waits ``seconds`` before its next call."""
        with contextlib.suppress(RedisError, OSError):
            await self._client.set(self._keys[1], 1, px=max(int(seconds * 1000), 1))
