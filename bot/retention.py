"""The daily retention purge (README, "Retention"): the gateway runs what
``ntsa-assistant purge`` runs, so old personal data goes even if no operator remembers to.

Several gateways may run it at once: a purge deletes only rows past their period, so a
second run finds nothing more to delete. It runs on an engine of its own, without the
per-statement limit that keeps people's turns short (a purge may take longer).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from telegram.ext import Application

from bot.context import GatewayContext
from ntsa_assistant.cli.retention import purge_all
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory

logger = logging.getLogger(__name__)

JOB_NAME = "retention-purge"
INTERVAL = timedelta(days=1)
FIRST_RUN = timedelta(minutes=5)  # after start, once the gateway is serving


def schedule(application: Application) -> None:
    if application.job_queue is None:
        raise RuntimeError("the gateway needs python-telegram-bot's job-queue extra")
    application.job_queue.run_repeating(
        purge_old, interval=INTERVAL, first=FIRST_RUN, name=JOB_NAME
    )


async def purge(sessions: SessionFactory, settings: Settings, now: datetime) -> dict[str, int]:
    """One purge, logged with its counts per kind (no personal data in them)."""
    counts = await purge_all(sessions, settings, now)
    logger.info(
        "retention purge: %s", ", ".join(f"{kind} {count}" for kind, count in counts.items())
    )
    return counts


async def purge_old(context: GatewayContext) -> None:
    state = context.gateway
    engine = create_engine(state.settings.database_url)
    try:
        now = Clock(state.settings.assistant_now).now()
        await purge(create_session_factory(engine), state.settings, now)
    except SQLAlchemyError as exc:  # down, or not migrated yet: tomorrow's run catches up
        logger.warning("retention purge: database unavailable (%s); trying again tomorrow", exc)
    finally:
        await engine.dispose()


__all__ = ["JOB_NAME", "purge", "purge_old", "schedule"]
