"""Rasa's lock store chosen by the environment: Rasa's own ``RedisLockStore`` when
``REDIS_URL`` is set (replicas and Sanic workers then take turns on a conversation), its
``InMemoryLockStore`` otherwise (one process: ``make run``).

One ``nlu/endpoints.yml`` serves both, since Rasa refuses a ``${REDIS_URL}`` that is unset.
Rasa allows ``SANIC_WORKERS`` > 1 with any lock store named by class, so this one refuses
that number of workers without Redis: workers with a lock each would answer one person's
two messages at once.
"""

from __future__ import annotations

import logging
import os

import redis.connection
from rasa.core.lock import TicketLock
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

REDIS_URL_ENV = "REDIS_URL"
WORKERS_ENV = "SANIC_WORKERS"
DEFAULT_KEY_PREFIX = "ntsa"


class LockStoreConfigurationError(RuntimeError):
    """The lock store cannot be what the environment asks for."""


def _workers() -> int:
    try:
        return int(os.environ.get(WORKERS_ENV) or 1)
    except ValueError:
        return 1  # Rasa itself falls back to one worker


def redis_lock_store(url: str, key_prefix: str) -> RedisLockStore:
    """Rasa's Redis lock store for ``redis://`` / ``rediss://`` URL (user, password, db)."""
    options = redis.connection.parse_url(url)
    if "host" not in options:
        raise LockStoreConfigurationError(f"{REDIS_URL_ENV}: a redis:// or rediss:// URL")
    return RedisLockStore(
        host=options["host"],
        port=options.get("port", 6379),
        db=options.get("db", 0),
        username=options.get("username"),
        password=options.get("password"),
        use_ssl=url.startswith("rediss://"),
        key_prefix=key_prefix,
    )


class LockStoreFromEnvironment(LockStore):
    """Delegates to a Redis or an in-memory lock store; see the module doc."""

    def __init__(self, endpoint_config: EndpointConfig | None = None) -> None:
        kwargs = endpoint_config.kwargs if endpoint_config else {}
        key_prefix = str(kwargs.get("key_prefix") or DEFAULT_KEY_PREFIX)
        url = os.environ.get(REDIS_URL_ENV, "").strip()
        self._store: LockStore
        if url:
            self._store = redis_lock_store(url, key_prefix)
        elif _workers() > 1:
            raise LockStoreConfigurationError(
                f"{WORKERS_ENV}={_workers()} needs {REDIS_URL_ENV}: Sanic workers share "
                "conversations only through Redis locks"
            )
        else:
            self._store = InMemoryLockStore()
        super().__init__()

    @property
    def uses_redis(self) -> bool:
        return isinstance(self._store, RedisLockStore)

    def check_connection(self) -> None:
        """Raises unless Redis answers (nothing to check in memory)."""
        if isinstance(self._store, RedisLockStore):
            self._store.red.ping()

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return self._store.get_lock(conversation_id)

    def delete_lock(self, conversation_id: str) -> None:
        self._store.delete_lock(conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        self._store.save_lock(lock)
