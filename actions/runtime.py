"""The action server's shared resources, made in its lifecycle hooks, never at import.

``rasa_sdk_plugins`` (the package rasa_sdk looks for) calls :func:`start` before the
server accepts requests and :func:`stop` after it stops. Actions read them with
:func:`resources`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.clock import Clock
from ntsa_assistant.db import SessionFactory, create_engine, create_session_factory
from ntsa_assistant.language import warm_up
from ntsa_assistant.settings import Settings, get_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resources:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: SessionFactory
    http: aiohttp.ClientSession


_current: Resources | None = None


def resources() -> Resources:
    if _current is None:
        raise RuntimeError("the action server's resources are not started")
    return _current


async def start(settings: Settings | None = None) -> Resources:
    global _current
    settings = settings or get_settings()
    engine = create_engine(settings.database_url)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10, connect=3))
    warm_up()
    _current = Resources(
        settings=settings,
        clock=Clock(settings.assistant_now),
        engine=engine,
        sessions=create_session_factory(engine),
        http=http,
    )
    logger.info("action server resources ready (clock fixed: %s)", _current.clock.is_fixed)
    return _current


async def stop() -> None:
    global _current
    if _current is None:
        return
    await _current.http.close()
    await _current.engine.dispose()
    _current = None
