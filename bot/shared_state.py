"""What several gateway replicas share, in Redis (DESIGN.md, "When one machine is not enough").

With ``REDIS_URL`` set, update de-duplication (bot/handlers/dedupe.py), the per-chat burst
limit (bot/handlers/throttle.py), the order of each chat's turns (bot/chat_order.py), the
bot's Telegram rate budget (bot/rate_limiter.py) and each chat's state (bot/chat_store.py)
live in Redis, so a load balancer may send any update to any gateway. Without it, each
stays in the process as before.

One client (one connection pool) per process, made by the factory; the connection opens on
first use, inside the running loop, and :meth:`SharedRedis.close` ends it in post_shutdown.
Every key starts with :attr:`SharedRedis.prefix`, so several deployments (or tests) can share
one Redis.

A chat's burst is counted by ``limits`` (a moving window per key, atomic in Redis); its
timestamps are the replicas' own clocks, so the replicas' clocks must agree (NTP) to well
under a second. The Telegram budget and each chat's turn order run on Redis's own clock.
If Redis stops answering, each part fails open (an update is processed, a message is sent,
limited per process only) and says so in the log: a Redis outage must not silence the bot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from limits.aio.storage import RedisStorage
from redis.asyncio import Redis

from ntsa_assistant.core.settings import Settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "ntsa:gateway:"
# A Redis that does not answer within this is treated as down for that call (fail open).
REDIS_TIMEOUT_SECONDS = 2.0


@dataclass
class SharedRedis:
    """The process's Redis client and the prefix of every key the gateway writes."""

    client: Redis
    url: str
    prefix: str = KEY_PREFIX
    _storage: RedisStorage | None = field(default=None, init=False, repr=False)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(part) for part in parts)

    def limits_storage(self) -> RedisStorage:
        """``limits``' storage on this client's connection pool (redis-py's asyncio client)."""
        if self._storage is None:
            self._storage = RedisStorage(
                "async+" + self.url,
                implementation="redispy",
                key_prefix=self.prefix + "limits",
                # documented by limits, though its **options are typed as scalars
                connection_pool=self.client.connection_pool,  # type: ignore[arg-type]
            )
        return self._storage

    async def close(self) -> None:
        await self.client.aclose()


def connect(settings: Settings) -> SharedRedis | None:
    """The shared state's client when ``REDIS_URL`` is set; None keeps everything in process.

    Keys start with ``REDIS_KEY_PREFIX`` (one per deployment sharing a Redis). Nothing is
    contacted here: the first command connects.
    """
    if not settings.redis_url:
        return None
    client = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    return SharedRedis(client, settings.redis_url, settings.redis_key_prefix)
