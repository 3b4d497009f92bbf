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

from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.language import warm_up
from ntsa_assistant.core.settings import Settings, get_settings
from ntsa_assistant.status.verification import Verifier, build_verifier
from ntsa_assistant.storage.engine import (
    TURN_STATEMENT_TIMEOUT_SECONDS,
    SessionFactory,
    create_engine,
    create_session_factory,
)
from ntsa_assistant.storage.schema import schema_problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resources:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: SessionFactory
    http: aiohttp.ClientSession
    verifier: Verifier | None = None  # status look-ups (issue 4)


_current: Resources | None = None


def resources() -> Resources:
    if _current is None:
        raise RuntimeError("the action server's resources are not started")
    return _current


async def start(settings: Settings | None = None) -> Resources:
    global _current
    settings = settings or get_settings()
    engine = create_engine(settings.database_url, statement_timeout=TURN_STATEMENT_TIMEOUT_SECONDS)
    if problem := await schema_problem(engine):
        logger.error("actions that read records will apologise until this is fixed: %s", problem)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10, connect=3))
    warm_up()
    clock = Clock(settings.assistant_now)
    sessions = create_session_factory(engine)
    _current = Resources(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        http=http,
        verifier=build_verifier(settings, sessions, http, clock),
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
