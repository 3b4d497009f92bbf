"""The gateway's health endpoint: ``GET /live`` and ``GET /ready`` on 127.0.0.1:HEALTH_PORT.

``/live`` answers while the process's event loop does. ``/ready`` answers 200 only when the
gateway takes updates and what it needs answers: a Rasa replica with a model loaded, the
database and Redis when ``REDIS_URL`` is set; otherwise 503
with the reason. What it shows are addresses of our own services and error kinds, never a
person's data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.rasa_client import RasaClient

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# One look at a dependency never takes longer than this: a probe wants an answer quickly.
CHECK_SECONDS = 3.0
OK = "ok"


class Health:
    """Answers the probes from the gateway's own resources (made in ``post_init``)."""

    def __init__(
        self,
        rasa: RasaClient,
        engine: AsyncEngine,
        redis_url: str | None,
        taking_updates: Callable[[], bool],
    ) -> None:
        self._rasa = rasa
        self._engine = engine
        self._redis_url = redis_url
        self._redis: Any = None  # redis.asyncio.Redis, made in start() when REDIS_URL is set
        self._taking_updates = taking_updates
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/live", self.live)
        app.router.add_get("/ready", self.ready)
        return app

    async def start(self, port: int) -> None:
        """Serves the endpoints on 127.0.0.1:``port`` (loopback: probes run beside it)."""
        if self._redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(
                self._redis_url, socket_connect_timeout=CHECK_SECONDS, socket_timeout=CHECK_SECONDS
            )
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, port).start()
        logger.info("health endpoint on http://%s:%s/ready and /live", HOST, port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def live(self, _request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def ready(self, _request: web.Request) -> web.Response:
        report = await self.report()
        return web.json_response(report, status=200 if report["ready"] else 503)

    async def report(self) -> dict[str, Any]:
        """``{"ready": bool, "reason": …, "rasa": […], "database": …, "redis": …}``."""
        replicas, database, redis = await asyncio.gather(
            self._rasa.readiness(), self._database(), self._redis_state()
        )
        reasons: list[str] = []
        if not self._taking_updates():
            reasons.append("not taking updates (waiting for Rasa, or stopping)")
        if not any(item.ready for item in replicas):
            reasons.append(
                "no Rasa replica is ready: "
                + "; ".join(f"{item.url}: {item.reason}" for item in replicas)
            )
        if database != OK:
            reasons.append(database)
        if redis not in (OK, None):
            reasons.append(redis)
        report: dict[str, Any] = {"ready": not reasons}
        if reasons:
            report["reason"] = "; ".join(reasons)
        report["rasa"] = [
            {"url": item.url, "ready": item.ready, "reason": item.reason} for item in replicas
        ]
        report["database"] = database
        report["redis"] = redis if redis is not None else "not configured"
        return report

    async def _database(self) -> str:
        # A plain query, not the schema check of the start (Alembic logs every look it takes).
        try:
            async with asyncio.timeout(CHECK_SECONDS), self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except TimeoutError:
            return f"the database did not answer within {CHECK_SECONDS:.0f} s"
        except (OSError, SQLAlchemyError) as exc:
            cause = getattr(exc, "orig", None) or exc  # the driver's error, not the SQL
            return f"the database is unreachable ({type(cause).__name__})"
        return OK

    async def _redis_state(self) -> str | None:
        """``ok``, the reason Redis cannot be used, or None when REDIS_URL is unset."""
        if self._redis is None:
            return None
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                await self._redis.ping()
        except TimeoutError:
            return f"Redis did not answer within {CHECK_SECONDS:.0f} s"
        except Exception as exc:  # redis-py's errors, OSError: any of them means unusable
            return f"Redis is unreachable ({type(exc).__name__})"
        return OK
