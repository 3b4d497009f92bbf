"""One-time codes, sent by the gateway off the reply path: a repeating job drains the SMS
outbox that the action server fills (:func:`ntsa_assistant.status.sms.deliver_outbox`).

The SMS client lives here, in the gateway, never in the action server: a status reply
never waits for the SMS gateway, so a known ID answers as fast as an unknown one, and an
SMS failure is logged for operators without telling anyone whether the ID exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from sqlalchemy.exc import SQLAlchemyError
from telegram.ext import Application

from bot.context import GatewayContext
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.status.sms import SmsSender, deliver_outbox, sms_mode, sms_sender
from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory

logger = logging.getLogger(__name__)

JOB_NAME = "sms-outbox"


def check(settings: Settings) -> None:
    """Fails fast on contradicting SMS settings (development mode with a real bot)."""
    sms_mode(settings)


class Outbox:
    """The gateway's SMS client and one drain of the outbox."""

    def __init__(self, settings: Settings, sessions: SessionFactory) -> None:
        self._settings = settings
        self._sessions = sessions
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10, connect=3))
        self._sender: SmsSender | None = sms_sender(settings, self._http)

    async def drain(self) -> None:
        now = Clock(self._settings.assistant_now).now()
        try:
            await deliver_outbox(self._sessions, self._sender, now)
        except SQLAlchemyError as exc:  # down, or not migrated yet
            logger.warning("SMS outbox: database unavailable (%s); trying again", exc)

    async def close(self) -> None:
        await self._http.close()


def schedule(application: Application, settings: Settings, sessions: SessionFactory) -> Outbox:
    """Starts the repeating job; the caller closes the returned outbox at shutdown."""
    if application.job_queue is None:
        raise RuntimeError("the gateway needs python-telegram-bot's job-queue extra")
    outbox = Outbox(settings, sessions)
    application.job_queue.run_repeating(
        _run, interval=settings.sms_outbox_interval_seconds, first=0.5, name=JOB_NAME, data=outbox
    )
    return outbox


async def _run(context: GatewayContext) -> None:
    outbox = context.job.data if context.job is not None else None
    if not isinstance(outbox, Outbox):
        raise TypeError("the SMS outbox job runs with its Outbox as data")
    await outbox.drain()


@contextlib.asynccontextmanager
async def background(settings: Settings) -> AsyncIterator[None]:
    """The same drain for the local terminal chat, which has no job queue."""
    engine = create_engine(settings.database_url)
    outbox = Outbox(settings, create_session_factory(engine))

    async def loop() -> None:
        while True:
            await outbox.drain()
            await asyncio.sleep(settings.sms_outbox_interval_seconds)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await outbox.close()
        await engine.dispose()
